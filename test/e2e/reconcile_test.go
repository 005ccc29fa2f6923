package e2e_test

import (
	"testing"

	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
)

// TestReconcileCommand: `storeops reconcile --wait` makes a running daemon
// (hourly schedule, no webhook sent) sync a new commit at once, and
// returns when its stores are Ready; `storeops get stores` shows them.
func TestReconcileCommand(t *testing.T) {
	cleanupStores(t, "e2e-rec-a", "e2e-rec-b")
	srv := gittest.NewServer(t)
	const one = "stores:\n  - name: e2e-rec-a\n    type: woocommerce\n"
	repo := srv.NewRepo(t, "config", map[string]string{"stores.yaml": one})
	d := startDaemon(t, repo.URL())
	d.waitPhase("e2e-rec-a", reconcile.PhaseReady)

	repo.Commit(t, map[string]string{"stores.yaml": one + "  - name: e2e-rec-b\n    type: woocommerce\n"}, "add b")
	kubeconfig := testcluster.Get(t).Kubeconfig
	code, out := run(t, "reconcile", "--wait", "--kubeconfig", kubeconfig, "--server", "http://"+d.addr)
	if code != 0 || !contains(out, "sync requested (reconcile ", "synced revision", "1 action(s), 0 failed", "2 store(s) Ready") {
		t.Fatalf("reconcile --wait: exit %d\n%s", code, out)
	}
	if st, ok := d.store("e2e-rec-b"); !ok || st.Phase != reconcile.PhaseReady {
		t.Fatalf("e2e-rec-b after reconcile --wait: %+v", st)
	}
	code, out = run(t, "get", "stores", "--server", "http://"+d.addr, "-o", "wide")
	if code != 0 || !contains(out, "NAME", "e2e-rec-a", "e2e-rec-b", "Ready") {
		t.Fatalf("get stores: exit %d\n%s", code, out)
	}
}
