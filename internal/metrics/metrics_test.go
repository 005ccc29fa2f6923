package metrics_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/storeops/storeops/internal/metrics"
	"github.com/storeops/storeops/reconcile"
)

func TestNilMetricsIsANoop(t *testing.T) {
	var m *metrics.Metrics
	m.ObserveSync(time.Second, "success")
	m.ObserveAction("install", "success")
	m.ObserveFetch(time.Second, errors.New("boom"))
	m.ObserveWebhook("github", "accepted")
	m.WatchBoard(reconcile.NewBoard())
	if m.Registry() != nil {
		t.Error("Registry() of nil Metrics is not nil")
	}
}

func TestMetrics(t *testing.T) {
	m := metrics.New()
	m.ObserveSync(1500*time.Millisecond, "success")
	m.ObserveAction("install", "success")
	m.ObserveAction("install", "success")
	m.ObserveAction("upgrade", "failed")
	m.ObserveFetch(200*time.Millisecond, nil)
	m.ObserveFetch(300*time.Millisecond, errors.New("unreachable"))
	m.ObserveWebhook("gitea", "unauthorized")

	b := reconcile.NewBoard()
	b.Publish(&reconcile.Snapshot{
		Leader: true,
		Stores: []reconcile.StoreStatus{
			{Name: "a", Phase: reconcile.PhaseReady},
			{Name: "b", Phase: reconcile.PhaseReady},
			{Name: "c", Phase: reconcile.PhaseFailed},
		},
		Refused: &reconcile.Refusal{Reason: "InvalidConfig"},
	})
	m.WatchBoard(b)

	want := `
# HELP storeops_actions_total Actions applied to stores, by kind (install, upgrade, uninstall...) and result.
# TYPE storeops_actions_total counter
storeops_actions_total{kind="install",result="success"} 2
storeops_actions_total{kind="upgrade",result="failed"} 1
# HELP storeops_git_fetch_errors_total Git fetches of stores.yaml that failed.
# TYPE storeops_git_fetch_errors_total counter
storeops_git_fetch_errors_total 1
# HELP storeops_leader 1 when this replica is the leader and applies changes.
# TYPE storeops_leader gauge
storeops_leader 1
# HELP storeops_refused 1 while the newest revision is refused (invalid stores.yaml, mass-deletion guard, source unavailable).
# TYPE storeops_refused gauge
storeops_refused 1
# HELP storeops_stores Stores by phase, as last published.
# TYPE storeops_stores gauge
storeops_stores{phase="Degraded"} 0
storeops_stores{phase="Blocked"} 0
storeops_stores{phase="Deleting"} 0
storeops_stores{phase="Failed"} 1
storeops_stores{phase="Held"} 0
storeops_stores{phase="Pending"} 0
storeops_stores{phase="Provisioning"} 0
storeops_stores{phase="Ready"} 2
storeops_stores{phase="Suspended"} 0
storeops_stores{phase="Unknown"} 0
# HELP storeops_syncing 1 while a sync runs.
# TYPE storeops_syncing gauge
storeops_syncing 0
# HELP storeops_webhooks_total Webhook requests, by provider and result (accepted, ignored, replayed, unauthorized, bad_request, too_large, method_not_allowed, not_found, error).
# TYPE storeops_webhooks_total counter
storeops_webhooks_total{provider="gitea",result="unauthorized"} 1
`
	names := []string{"storeops_actions_total", "storeops_git_fetch_errors_total", "storeops_leader",
		"storeops_refused", "storeops_stores", "storeops_syncing", "storeops_webhooks_total"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	// The gauges follow the board at scrape time.
	b.Publish(&reconcile.Snapshot{Stores: []reconcile.StoreStatus{{Name: "a", Phase: reconcile.PhaseDegraded}}})
	if got := gauge(t, m, "storeops_leader"); got != 0 {
		t.Errorf("storeops_leader after a new snapshot = %v, want 0", got)
	}

	n, err := testutil.GatherAndCount(m.Registry(), "storeops_sync_duration_seconds", "storeops_git_fetch_duration_seconds")
	if err != nil || n != 2 {
		t.Errorf("histograms: %d series, %v; want 2", n, err)
	}
	if n, _ := testutil.GatherAndCount(m.Registry(), "go_goroutines", "process_start_time_seconds"); n < 1 {
		t.Error("Go and process collectors are missing")
	}
}

// gauge returns the value of the unlabelled gauge name.
func gauge(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
