package reconcile_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/storeops/storeops/reconcile"
)

// BenchmarkPlan plans a converged fleet (nothing to do) and a fleet where
// every store is new.
func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{100, 1000} {
		var y strings.Builder
		y.WriteString("stores:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&y, "  - {name: s%05d, type: woocommerce}\n", i)
		}
		cfg := configOf(b, y.String())
		ds := renderAll(cfg)
		converged := observedAll(ds)
		empty := reconcile.Observed{Stores: map[string]*reconcile.ObservedStore{}}
		p := policy()
		b.Run(fmt.Sprintf("converged/stores=%d", n), func(b *testing.B) {
			for b.Loop() {
				if a, err := reconcile.Plan(ds, converged, p); err != nil || len(a) != 0 {
					b.Fatal(a, err)
				}
			}
		})
		b.Run(fmt.Sprintf("all-new/stores=%d", n), func(b *testing.B) {
			for b.Loop() {
				if a, err := reconcile.Plan(ds, empty, p); err != nil || len(a) != n {
					b.Fatal(len(a), err)
				}
			}
		})
	}
}
