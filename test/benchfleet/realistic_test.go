package benchfleet_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/devcluster"
	"github.com/storeops/storeops/internal/testcluster"
)

// defaultTimeScale is the time scale of the realistic row's cluster when
// BENCH_FLEET_TIME_SCALE is not set: its delays at half of a real
// cluster's, so that one store alone, 100 stores with storeops serve and
// 100 with the reference fit in about ten minutes.
const defaultTimeScale = 0.5

func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && v > 0 {
		return v
	}
	return def
}

// benchRealistic measures, on a second local control plane with the
// realistic lifecycle profile (pod start delays by role, setup Jobs that
// run for minutes, every delay multiplied by scale) without its random
// failures (no pull errors, crash loops or failed Job runs):
//
//   - alone: storeops serve with one store, from the webhook to the store
//     Ready: a WooCommerce store, then a Medusa one beside it; s-ready is
//     the longer of the two;
//   - serve: storeops serve with n new stores (half of each type), from
//     the webhook to every one Ready;
//   - reference: the client-go program for n other stores on the same
//     cluster, and the ratios: serve to the reference, and serve to one
//     store alone plus the reference (ratio-target).
func benchRealistic(b *testing.B, n int, scale float64) {
	c := testcluster.Get(b, testcluster.WithProfile(devcluster.Realistic), testcluster.WithTimeScale(scale), testcluster.WithoutFailures())
	b.Logf("realistic cluster: profile %s, time scale %g, no random failures, %d fake node(s)", c.Profile, c.TimeScale, len(c.Nodes))
	// With no failures nothing should take longer than the slowest draw of
	// each delay; past this the row fails instead of waiting.
	limit := c.Scale(10*time.Minute) + 10*time.Minute

	var alone time.Duration
	b.Run("stores=1/alone", func(b *testing.B) {
		load := loadAverage()
		s := startServe(b, c, 2, "bench-realistic-1")
		var names []string
		took := map[string]time.Duration{}
		for _, typ := range []string{"woocommerce", "medusa"} {
			name := "ra-" + typ
			names = append(names, name)
			rev := s.commit([]string{fmt.Sprintf("  - {name: %s, type: %s}\n", name, typ)})
			t0 := s.hook(rev)
			took[typ] = s.waitReady([]string{name}, limit).Sub(t0)
			alone = max(alone, took[typ])
		}
		s.stop()
		deleteStores(b, c.Client, names)
		waitGone(b, c, names, 5*time.Minute)
		b.ReportMetric(load, "load1")
		b.ReportMetric(took["woocommerce"].Seconds(), "s-ready-woocommerce")
		b.ReportMetric(took["medusa"].Seconds(), "s-ready-medusa")
		b.ReportMetric(alone.Seconds(), "s-ready")
	})
	if alone == 0 {
		return
	}

	var sv serveRun
	b.Run(fmt.Sprintf("stores=%d/serve", n), func(b *testing.B) {
		load := loadAverage()
		s := startServe(b, c, n, fmt.Sprintf("bench-realistic-%d", n))
		var names []string
		sv, names = runServe(b, s, fmt.Sprintf("sv%d", n), n, 0, "", limit)
		s.stop()
		deleteStores(b, c.Client, names)
		waitGone(b, c, names, 5*time.Minute)
		b.ReportMetric(load, "load1")
		b.ReportMetric(sv.ready.Seconds(), "s-ready")
		b.ReportMetric(sv.firstActions.Seconds(), "s-all-acted")
		b.ReportMetric(float64(sv.api.total), "api-requests")
		b.ReportMetric(float64(sv.api.mutating), "api-mutating")
		b.ReportMetric(sv.cpu.Seconds(), "s-cpu")
		b.ReportMetric(float64(sv.hwmKiB)/1024, "MiB-peak-rss")
	})
	if sv.ready == 0 {
		return
	}

	b.Run(fmt.Sprintf("stores=%d/reference", n), func(b *testing.B) {
		load := loadAverage()
		reference := benchReference(b, c, n, 0)
		b.ReportMetric(load, "load1")
		b.ReportMetric(reference.Seconds(), "s-ready")
		b.ReportMetric(sv.ready.Seconds()/reference.Seconds(), "ratio-serve")
		b.ReportMetric((alone + reference).Seconds(), "s-alone+reference")
		b.ReportMetric(sv.ready.Seconds()/(alone+reference).Seconds(), "ratio-target")
	})
}
