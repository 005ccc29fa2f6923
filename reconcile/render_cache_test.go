package reconcile_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

func fleetYAML(n int, first string) string {
	var y strings.Builder
	y.WriteString("stores:\n" + first)
	for i := range n {
		fmt.Fprintf(&y, "  - {name: s%05d, type: woocommerce}\n", i)
	}
	return y.String()
}

// Render reuses the desired state of a store declared as before and
// renders the others; what it returns is what a full render gives.
func TestRenderReusesUnchangedStores(t *testing.T) {
	r, _ := newTestReconciler(&fakeCluster{stores: map[string]*reconcile.ObservedStore{}})
	r.Instance = "t"
	full := func(cfg *render.Config) []render.Desired {
		fresh, _ := newTestReconciler(&fakeCluster{stores: map[string]*reconcile.ObservedStore{}})
		fresh.Instance = "t"
		return fresh.Render(cfg)
	}
	first := r.Render(configOf(t, fleetYAML(3, "")))
	// A store added at the top moves the others down the file; one
	// store changes.
	cfg := configOf(t, strings.Replace(fleetYAML(3, "  - {name: a-new, type: medusa}\n"), "{name: s00001, type: woocommerce}", "{name: s00001, type: woocommerce, plan: medium}", 1))
	second := r.Render(cfg)
	if diff := cmp.Diff(full(cfg), second); diff != "" {
		t.Fatalf("Render differs from a full render (-full +cached):\n%s", diff)
	}
	byName := map[string]render.Desired{}
	for _, d := range first {
		byName[d.Store.Name] = d
	}
	for _, d := range second {
		prev, ok := byName[d.Store.Name]
		reused := ok && prev.Namespace == d.Namespace
		if want := d.Store.Name == "s00000" || d.Store.Name == "s00002"; reused != want {
			t.Errorf("%s: reused %t, want %t", d.Store.Name, reused, want)
		}
		if ok && d.Store.Line == prev.Store.Line {
			t.Errorf("%s: line %d not updated", d.Store.Name, d.Store.Line)
		}
	}
	// Other defaults: every store is rendered again.
	cfg = configOf(t, "defaults: {plan: large}\n"+fleetYAML(3, ""))
	third := r.Render(cfg)
	if diff := cmp.Diff(full(cfg), third); diff != "" {
		t.Fatalf("after new defaults (-full +cached):\n%s", diff)
	}
	for i, d := range third {
		if d.Namespace == second[i+1].Namespace {
			t.Errorf("%s reused across new defaults", d.Store.Name)
		}
	}
}

// BenchmarkRenderRevision renders a revision of n stores in which one
// store changed: with the reconciler's reuse of unchanged stores, and,
// as the reference in the same run, rendering every store.
func BenchmarkRenderRevision(b *testing.B) {
	for _, n := range []int{100, 1000} {
		base := fleetYAML(n, "")
		cfgs := []*render.Config{configOf(b, base), configOf(b, strings.Replace(base, "{name: s00007, type: woocommerce}", "{name: s00007, type: woocommerce, plan: medium}", 1))}
		b.Run(fmt.Sprintf("reuse/stores=%d", n), func(b *testing.B) {
			r, _ := newTestReconciler(&fakeCluster{stores: map[string]*reconcile.ObservedStore{}})
			i := 0
			for b.Loop() {
				r.Render(cfgs[i%2])
				i++
			}
		})
		b.Run(fmt.Sprintf("reference-full/stores=%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				r, _ := newTestReconciler(&fakeCluster{stores: map[string]*reconcile.ObservedStore{}})
				r.Render(cfgs[i%2])
				i++
			}
		})
	}
}
