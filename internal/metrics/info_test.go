package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/storeops/storeops/internal/metrics"
	"github.com/storeops/storeops/internal/version"
	"github.com/storeops/storeops/reconcile"
)

func TestStoreInfoBuildInfoAndLastSuccess(t *testing.T) {
	m := metrics.New()
	now := time.Unix(1700000000, 500_000_000)
	m.Now = func() time.Time { return now }
	b := reconcile.NewBoard()
	b.Publish(&reconcile.Snapshot{Stores: []reconcile.StoreStatus{
		{Name: "acme", Type: "woocommerce", Plan: "small", Phase: reconcile.PhaseReady},
		{Name: "bolt", Type: "medusa", Plan: "large", Phase: reconcile.PhaseFailed},
	}})
	m.WatchBoard(b)

	// No successful sync yet: no timestamp series (an alert on its age
	// must not fire on a replica that never synced).
	if n, err := testutil.GatherAndCount(m.Registry(), "storeops_last_successful_sync_timestamp_seconds"); err != nil || n != 0 {
		t.Fatalf("timestamp before any sync: %d series, %v", n, err)
	}
	m.ObserveSync(time.Second, "error")
	m.ObserveSync(time.Second, "refused")
	if n, _ := testutil.GatherAndCount(m.Registry(), "storeops_last_successful_sync_timestamp_seconds"); n != 0 {
		t.Fatal("a failed or refused sync set the timestamp")
	}
	m.ObserveSync(time.Second, metrics.SyncOK)

	info := version.Get()
	want := `
# HELP storeops_build_info Always 1; the labels describe the running binary.
# TYPE storeops_build_info gauge
storeops_build_info{goversion="` + info.GoVersion + `",revision="` + info.Revision + `",version="` + info.Version + `"} 1
# HELP storeops_last_successful_sync_timestamp_seconds When the last sync that applied its revision without error ended (Unix time); absent until one did on this replica.
# TYPE storeops_last_successful_sync_timestamp_seconds gauge
storeops_last_successful_sync_timestamp_seconds 1.7000000005e+09
# HELP storeops_store_info Always 1, one series per store, as last published; the labels say what it is and where it stands.
# TYPE storeops_store_info gauge
storeops_store_info{phase="Failed",plan="large",store="bolt",type="medusa"} 1
storeops_store_info{phase="Ready",plan="small",store="acme",type="woocommerce"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"storeops_build_info", "storeops_last_successful_sync_timestamp_seconds", "storeops_store_info"); err != nil {
		t.Error(err)
	}

	// The info series follow the board: a store that changed phase has
	// one series, with its new phase; a store gone has none.
	b.Publish(&reconcile.Snapshot{Stores: []reconcile.StoreStatus{
		{Name: "acme", Type: "woocommerce", Plan: "small", Phase: reconcile.PhaseDegraded},
	}})
	want = `
# HELP storeops_store_info Always 1, one series per store, as last published; the labels say what it is and where it stands.
# TYPE storeops_store_info gauge
storeops_store_info{phase="Degraded",plan="small",store="acme",type="woocommerce"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "storeops_store_info"); err != nil {
		t.Error(err)
	}
}
