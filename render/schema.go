package render

// SchemaID is the $id of the JSON Schema of stores.yaml.
const SchemaID = "https://storeops.dev/schemas/stores.schema.json"

// JSONSchema returns a JSON Schema (draft 2020-12) of stores.yaml, for
// editors (completion, hover, checks as you type). It says what the
// parser accepts: the same fields (no others), types, store types, plans
// and payment methods, name and title lengths. Checks that need the whole
// file or the API server's rules (unique names and domains, host names)
// are Parse's alone: `storeops validate` stays the authority.
func JSONSchema() map[string]any {
	types := make([]any, len(Types))
	for i, t := range Types {
		types[i] = string(t)
	}
	plans := make([]any, len(Plans))
	for i, p := range Plans {
		plans[i] = string(p)
	}
	methods := make([]any, len(PaymentMethodNames))
	for i, m := range PaymentMethodNames {
		methods[i] = m
	}
	str := func(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
	object := func(desc string, props map[string]any, required ...string) map[string]any {
		o := map[string]any{"type": "object", "description": desc, "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			r := make([]any, len(required))
			for i, s := range required {
				r[i] = s
			}
			o["required"] = r
		}
		return o
	}
	plan := map[string]any{"type": "string", "enum": plans}
	cluster := func(desc string) map[string]any {
		return map[string]any{"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63, "description": desc}
	}
	store := object("A store: its namespace is store-<name>.", map[string]any{
		"name": map[string]any{"type": "string", "description": "DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit.",
			"pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": MaxNameLength},
		"type":    map[string]any{"type": "string", "enum": types, "description": "The store's software."},
		"plan":    withDesc(plan, "Resources of the store (default: defaults.plan, else small)."),
		"domain":  str("Host name of the store (default: <name>.<defaults.baseDomain>)."),
		"suspend": map[string]any{"type": "boolean", "description": "true: storeops neither creates, upgrades nor deletes the store."},
		"cluster": cluster("Target cluster of the store (default: defaults.cluster, else local). Moving a store to another cluster needs `storeops confirm-move`."),
		"admin": object("The store's administrator.", map[string]any{
			"email": map[string]any{"type": "string", "format": "email", "description": "Default: admin@<domain>."},
		}),
		"options": object("Settings of the store's software.", map[string]any{
			"title":      map[string]any{"type": "string", "maxLength": MaxTitleLength, "description": "Shop title (default: the name)."},
			"sampleData": map[string]any{"type": "boolean", "description": "Import the sample products (default true)."},
			"tlsSecret":  str("kubernetes.io/tls Secret in store-<name>; the store is served over https."),
			"paymentMethods": map[string]any{"type": "array", "uniqueItems": true, "items": map[string]any{"type": "string", "enum": methods},
				"description": "WooCommerce only: offline payment methods at checkout (default [cod])."},
			"flatRate": map[string]any{"type": []any{"string", "number"}, "description": "WooCommerce only: flat shipping cost (default " + DefaultFlatRate + "; 0 ships free)."},
		}),
	}, "name", "type")
	return map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         SchemaID,
		"title":       "storeops stores.yaml",
		"description": "The stores storeops keeps in a Kubernetes cluster. `storeops validate` checks what a schema cannot: unique names and domains, host names as the API server checks them.",
		"type":        "object",
		"properties": map[string]any{
			"defaults": object("Defaults of every store; every key optional.", map[string]any{
				"baseDomain":       str("Stores get <name>.<baseDomain> (default stores.localhost)."),
				"ingressClass":     str("ingressClassName of every store (default nginx)."),
				"ingressNamespace": str("Namespace of the ingress controller (default ingress-nginx)."),
				"plan":             withDesc(plan, "Plan of stores that name none (default small)."),
				"storageClass":     str("StorageClass of the stores' volumes (default: the cluster's default)."),
				"clusterIssuer":    str("cert-manager ClusterIssuer: every store on https."),
				"cluster":          cluster("Target cluster of stores that name none (default local: storeops' own)."),
			}),
			"stores": map[string]any{"type": []any{"array", "null"}, "items": store, "maxItems": DefaultMaxStores,
				"description": "The stores (at most --max-stores, default 100)."},
		},
		"additionalProperties": false,
	}
}

func withDesc(m map[string]any, desc string) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	out["description"] = desc
	return out
}
