package reconcile_test

import (
	"strings"
	"testing"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// Every object the store charts render, and every volume claim template
// (whose claims hold the shop's data), matches the observer's workload
// selector: an object it missed would be invisible to readiness, drift and
// the "held data" checks.
func TestChartsCarryTheName(t *testing.T) {
	sel, err := labels.Parse(reconcile.WorkloadSelector())
	if err != nil {
		t.Fatal(err)
	}
	for _, variant := range []string{"", ", plan: large", ", options: {tlsSecret: shop-tls}"} {
		for _, typ := range render.Types {
			cfg, err := render.Parse("s.yaml", []byte("stores:\n  - {name: shop, type: "+string(typ)+variant+"}\n"), render.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			d := render.Render(cfg)[0]
			rel, err := reconcile.RenderRelease(reconcile.EmbeddedCharts{}, &d)
			if err != nil {
				t.Fatalf("%s%s: %v", typ, variant, err)
			}
			manifests := strings.Split(rel.Manifest, "\n---")
			for _, h := range rel.Hooks {
				manifests = append(manifests, h.Manifest)
			}
			seen := 0
			for _, doc := range manifests {
				var obj struct {
					Kind     string
					Metadata struct {
						Name   string
						Labels map[string]string
					}
					Spec struct {
						VolumeClaimTemplates []struct {
							Metadata struct {
								Name   string
								Labels map[string]string
							}
						} `json:"volumeClaimTemplates"`
					}
				}
				if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj.Kind == "" {
					continue
				}
				seen++
				if !sel.Matches(labels.Set(obj.Metadata.Labels)) {
					t.Errorf("%s%s: %s/%s does not match %q: %v", typ, variant, obj.Kind, obj.Metadata.Name, sel, obj.Metadata.Labels)
				}
				for _, v := range obj.Spec.VolumeClaimTemplates {
					if !sel.Matches(labels.Set(v.Metadata.Labels)) {
						t.Errorf("%s%s: volume claim template %s of %s does not match %q", typ, variant, v.Metadata.Name, obj.Metadata.Name, sel)
					}
				}
			}
			if seen < 5 {
				t.Fatalf("%s%s: only %d objects rendered", typ, variant, seen)
			}
		}
	}
}
