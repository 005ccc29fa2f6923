package render_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/storeops/storeops/render"
)

// check validates v against the subset of JSON Schema that JSONSchema
// uses, and returns the first problem.
func check(schema map[string]any, v any, path string) error {
	if t, ok := schema["type"]; ok {
		types := []any{t}
		if list, ok := t.([]any); ok {
			types = list
		}
		if !slices.ContainsFunc(types, func(t any) bool { return hasType(v, t.(string)) }) {
			return fmt.Errorf("%s: %v is not %v", path, v, t)
		}
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Errorf("%s: %v not in %v", path, v, enum)
	}
	switch x := v.(type) {
	case string:
		if p, ok := schema["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
			return fmt.Errorf("%s: %q does not match %s", path, x, p)
		}
		if n, ok := schema["maxLength"].(int); ok && utf8.RuneCountInString(x) > n {
			return fmt.Errorf("%s: longer than %d", path, n)
		}
	case []any:
		if n, ok := schema["maxItems"].(int); ok && len(x) > n {
			return fmt.Errorf("%s: more than %d items", path, n)
		}
		for i, item := range x {
			if err := check(schema["items"].(map[string]any), item, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asList(schema["required"]) {
			if _, ok := x[r.(string)]; !ok {
				return fmt.Errorf("%s: %s is required", path, r)
			}
		}
		for k, val := range x {
			sub, ok := props[k].(map[string]any)
			if !ok {
				if schema["additionalProperties"] == false {
					return fmt.Errorf("%s: unknown field %s", path, k)
				}
				continue
			}
			if err := check(sub, val, path+"."+k); err != nil {
				return err
			}
		}
	}
	return nil
}

func asList(v any) []any { l, _ := v.([]any); return l }

func hasType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		switch v.(type) {
		case int, float64:
			return true
		}
	case "null":
		return v == nil
	}
	return false
}

// TestSchemaAgreesWithParse: what Parse accepts the schema accepts, and
// the field-level mistakes Parse refuses the schema refuses too.
func TestSchemaAgreesWithParse(t *testing.T) {
	schema := render.JSONSchema()
	if _, err := json.Marshal(schema); err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../stores.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	valid := map[string]string{
		"example": string(example),
		"empty":   "stores: []\n",
		"null":    "stores:\n",
		"full": `defaults: {baseDomain: shops.example.com, ingressClass: traefik, ingressNamespace: kube-system, plan: medium, storageClass: fast, clusterIssuer: le}
stores:
  - name: a-1
    type: medusa
    plan: large
    domain: shop.a.example
    suspend: true
    admin: {email: owner@a.example}
    options: {title: A, sampleData: false, tlsSecret: a-tls}
  - name: b
    type: woocommerce
    options: {paymentMethods: [cod, bacs], flatRate: "0"}
`,
	}
	invalid := map[string]string{
		"unknown top-level field": "stores: []\nextra: 1\n",
		"unknown store field":     "stores:\n  - name: a\n    type: woocommerce\n    colour: red\n",
		"unknown type":            "stores:\n  - name: a\n    type: shopify\n",
		"unknown plan":            "stores:\n  - name: a\n    type: woocommerce\n    plan: huge\n",
		"bad name":                "stores:\n  - name: My_Shop\n    type: woocommerce\n",
		"no type":                 "stores:\n  - name: a\n",
		"bad payment method":      "stores:\n  - name: a\n    type: woocommerce\n    options: {paymentMethods: [paypal]}\n",
		"suspend not a bool":      "stores:\n  - name: a\n    type: woocommerce\n    suspend: maybe\n",
		"long title":              "stores:\n  - name: a\n    type: woocommerce\n    options: {title: " + strings.Repeat("x", render.MaxTitleLength+1) + "}\n",
	}
	for name, doc := range valid {
		if _, err := render.Parse("stores.yaml", []byte(doc), render.Limits{}); err != nil {
			t.Errorf("%s: Parse: %v", name, err)
		}
		var v any
		if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatal(err)
		}
		if v == nil {
			v = map[string]any{}
		}
		if err := check(schema, v, "$"); err != nil {
			t.Errorf("%s: schema refuses a valid file: %v", name, err)
		}
	}
	for name, doc := range invalid {
		if _, err := render.Parse("stores.yaml", []byte(doc), render.Limits{}); err == nil {
			t.Errorf("%s: Parse accepts it", name)
		}
		var v any
		if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatal(err)
		}
		if err := check(schema, v, "$"); err == nil {
			t.Errorf("%s: schema accepts it", name)
		}
	}
}
