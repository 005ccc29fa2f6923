package reconcile_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkClusterSync measures, on the local control plane, how long one
// sync takes to apply a fleet of new stores and how long until every store
// is Ready, then how long a converged sync takes. Run it with
// `make bench-cluster`; it is skipped under -short (no cluster).
func BenchmarkClusterSync(b *testing.B) {
	for _, n := range []int{5, 20} {
		b.Run(fmt.Sprintf("stores=%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				benchSyncFleet(b, n, i)
			}
		})
	}
}

func benchSyncFleet(b *testing.B, n, round int) {
	var y strings.Builder
	y.WriteString("stores:\n")
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bench-%d-%d-%d", n, round, i)
		typ := "woocommerce"
		if i%2 == 1 {
			typ = "medusa"
		}
		fmt.Fprintf(&y, "  - {name: %s, type: %s}\n", names[i], typ)
	}
	h := newHarness(b, map[string]string{"stores.yaml": y.String()})
	h.rec.Workers = 8
	b.Cleanup(func() { h.deleteNamespaces(names...) })

	start := time.Now()
	rec := h.mustSync()
	applied := time.Since(start)
	if rec.Summary["install"] != n {
		b.Fatalf("installed %v", rec.Summary)
	}
	h.waitFor("the fleet Ready", allReady(names...))
	ready := time.Since(start)

	start = time.Now()
	if rec := h.mustSync(); len(rec.Actions) != 0 {
		b.Fatalf("converged sync acted: %v", rec.Actions)
	}
	converged := time.Since(start)

	b.ReportMetric(applied.Seconds(), "s-apply")
	b.ReportMetric(ready.Seconds(), "s-to-ready")
	b.ReportMetric(float64(n)/ready.Seconds(), "stores/s")
	b.ReportMetric(float64(converged.Microseconds())/1000, "ms-converged-sync")
}
