package charts_test

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/storeops/storeops/charts"
)

func TestSecretKeys(t *testing.T) {
	validKey := regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
	for _, typ := range charts.Types() {
		keys := charts.SecretKeys(typ)
		if len(keys) == 0 {
			t.Errorf("%s: no keys", typ)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if !validKey.MatchString(k) || seen[k] {
				t.Errorf("%s: key %q invalid or repeated", typ, k)
			}
			seen[k] = true
		}
	}
	if charts.SecretKeys("shopify") != nil {
		t.Error("SecretKeys(shopify) is not nil")
	}
}

func TestGenerate(t *testing.T) {
	formats := map[charts.Format]*regexp.Regexp{
		// Letters and digits only: nothing a command line or a URL misreads.
		charts.FormatRandom:         regexp.MustCompile(`^[A-Za-z0-9]{43}$`),
		charts.FormatPublishableKey: regexp.MustCompile(`^pk_[0-9a-f]{64}$`),
	}
	// 0xfb... starts with the bits 111110, which base64url writes as '-':
	// the Redis password that stopped Redis from starting. All-ones and
	// all-zeros are the extremes of the range.
	for _, fill := range []byte{0xfb, 0xff, 0x00, 0x3e} {
		for _, typ := range charts.Types() {
			for _, spec := range charts.SecretKeySpecs(typ) {
				v, err := spec.Generate(bytes.NewReader(bytes.Repeat([]byte{fill}, 32)))
				if err != nil {
					t.Fatal(err)
				}
				re, ok := formats[spec.Format]
				if !ok || !re.MatchString(v) {
					t.Errorf("%s %s: %q does not match format %q", typ, spec.Key, v, spec.Format)
				}
			}
		}
	}
	// Different bytes, different values.
	a, _ := charts.SecretKeySpec{Key: "k"}.Generate(bytes.NewReader(bytes.Repeat([]byte{1}, 32)))
	b, _ := charts.SecretKeySpec{Key: "k"}.Generate(bytes.NewReader(bytes.Repeat([]byte{2}, 32)))
	if a == b {
		t.Errorf("two inputs, one value %q", a)
	}
	if _, err := (charts.SecretKeySpec{Key: "k"}).Generate(bytes.NewReader(nil)); err == nil {
		t.Error("Generate from an empty reader succeeded")
	}
}
