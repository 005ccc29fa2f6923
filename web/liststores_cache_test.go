package web_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storeops/storeops/reconcile"
)

// The whole store list is encoded once per snapshot: the same snapshot
// answers the same bytes, a new snapshot its own list, and filters still
// apply.
func TestListStoresFollowsTheSnapshot(t *testing.T) {
	e := start(t, nil)
	first := e.get("/api/v1/stores")
	wantJSON(t, first, http.StatusOK)
	if again := e.get("/api/v1/stores"); again.body != first.body {
		t.Errorf("same snapshot, another body:\n%s\n%s", first.body, again.body)
	}
	e.board.Publish(&reconcile.Snapshot{Revision: "def456", Stores: []reconcile.StoreStatus{
		{Name: "delta", Type: "medusa", Phase: reconcile.PhaseReady},
		{Name: "omega", Type: "woocommerce", Phase: reconcile.PhaseFailed},
	}})
	r := e.get("/api/v1/stores")
	wantJSON(t, r, http.StatusOK)
	if diff := cmp.Diff([]string{"delta", "omega"}, storeNames(t, r)); diff != "" {
		t.Errorf("after a new snapshot (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"omega"}, storeNames(t, e.get("/api/v1/stores?phase=Failed"))); diff != "" {
		t.Errorf("filtered (-want +got):\n%s", diff)
	}
}
