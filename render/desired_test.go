package render_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/storeops/storeops/render"
	"sigs.k8s.io/yaml"
)

// TestRenderGolden renders the desired state of every store of the example
// and of the full fixture and compares it with golden files.
func TestRenderGolden(t *testing.T) {
	for _, path := range []string{"../stores.example.yaml", "testdata/valid/full.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := render.Parse(filepath.Base(path), data, render.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range render.Render(cfg) {
			t.Run(d.Store.Name, func(t *testing.T) {
				out, err := yaml.Marshal(d)
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, filepath.Join("testdata", "desired", d.Store.Name+".golden.yaml"), out)
			})
		}
	}
}

func TestChecksumStable(t *testing.T) {
	cfg, err := render.Parse("s.yaml", []byte("stores:\n  - {name: a, type: medusa}\n  - {name: b, type: medusa}\n"), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ds := render.Render(cfg)
	for i := 0; i < 20; i++ { // map iteration order differs from run to run
		if got := render.Checksum(render.Values(cfg.Defaults(), ds[0].Store)); got != ds[0].Release.Checksum {
			t.Fatalf("checksum changed: %s vs %s", got, ds[0].Release.Checksum)
		}
	}
	if ds[0].Release.Checksum == ds[1].Release.Checksum {
		t.Error("different stores, same checksum")
	}
}

func TestRenderedObjectsCarryStoreLabels(t *testing.T) {
	cfg, err := render.Parse("s.yaml", []byte("stores:\n  - {name: a, type: woocommerce}\n"), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d := render.Render(cfg)[0]
	for _, labels := range []map[string]string{d.Namespace.Labels, d.Quota.Labels, d.LimitRange.Labels, d.NetworkPolicy.Labels} {
		if labels[render.LabelManagedBy] != render.ManagedBy || labels[render.LabelStore] != "a" {
			t.Errorf("labels %v", labels)
		}
	}
	if d.Namespace.Name != "store-a" || d.Quota.Namespace != "store-a" || d.Release.Namespace != "store-a" {
		t.Errorf("namespaces: %s %s %s", d.Namespace.Name, d.Quota.Namespace, d.Release.Namespace)
	}
}
