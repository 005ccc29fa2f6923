package reconcile

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storeops/storeops/render"
)

func renderedForTest(t *testing.T, file string) map[string]*render.Desired {
	t.Helper()
	cfg, err := render.Parse("s.yaml", []byte(file), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ds := render.Render(cfg)
	withInstance(ds, "test")
	out := map[string]*render.Desired{}
	for i := range ds {
		out[ds[i].Store.Name] = &ds[i]
	}
	return out
}

// The reconciler's desired states carry the fingerprint of what they are
// once labelled with the instance.
func TestWithInstanceSetsTheFingerprint(t *testing.T) {
	d := renderedForTest(t, "stores:\n  - {name: a, type: medusa}\n")["a"]
	if d.Fingerprint == "" || d.Fingerprint != render.Fingerprint(d) {
		t.Fatalf("fingerprint %q, want %q", d.Fingerprint, render.Fingerprint(d))
	}
	other := render.Render(mustParse(t, "stores:\n  - {name: a, type: medusa}\n"))
	withInstance(other, "another")
	if other[0].Fingerprint == d.Fingerprint {
		t.Error("another instance's labels, same fingerprint")
	}
}

func mustParse(t *testing.T, file string) *render.Config {
	t.Helper()
	cfg, err := render.Parse("s.yaml", []byte(file), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// changedStores names the stores added, removed and changed, and not the
// others; a desired state without a fingerprint is compared all the same.
func TestChangedStores(t *testing.T) {
	before := renderedForTest(t, `stores:
  - {name: a, type: medusa}
  - {name: b, type: woocommerce}
  - {name: c, type: woocommerce}
  - {name: d, type: medusa}
`)
	after := renderedForTest(t, `stores:
  - {name: a, type: medusa}
  - {name: b, type: woocommerce, options: {title: B}}
  - {name: d, type: medusa, suspend: true}
  - {name: e, type: medusa}
`)
	want := map[string]bool{"b": true, "c": true, "d": true, "e": true}
	if diff := cmp.Diff(want, changedStores(before, after)); diff != "" {
		t.Errorf("changed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]bool{}, changedStores(before, before)); diff != "" {
		t.Errorf("the same revision (-want +got):\n%s", diff)
	}
	for _, d := range after {
		d.Fingerprint = ""
	}
	if diff := cmp.Diff(want, changedStores(before, after)); diff != "" {
		t.Errorf("without fingerprints, changed (-want +got):\n%s", diff)
	}
	all := map[string]bool{"a": true, "b": true, "c": true, "d": true}
	if diff := cmp.Diff(all, changedStores(nil, before)); diff != "" {
		t.Errorf("no revision before (-want +got):\n%s", diff)
	}
}
