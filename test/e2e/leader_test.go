package e2e_test

import (
	"testing"

	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
)

// TestTwoReplicasOneLeader: two daemons on one cluster both serve the
// status, only the leader applies, and killing it hands over.
func TestTwoReplicasOneLeader(t *testing.T) {
	cleanupStores(t, "e2e-ha-one", "e2e-ha-two")
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "ha", map[string]string{"stores.yaml": "stores:\n  - name: e2e-ha-one\n    type: woocommerce\n"})
	lease := []string{"--leader-election-name", "e2e-ha", "--leader-lease-duration", "4s", "--leader-renew-deadline", "3s", "--leader-retry-period", "500ms"}
	a := startDaemon(t, repo.URL(), lease...)
	b := startDaemon(t, repo.URL(), lease...)

	leader, follower := electedOf(a, b)
	leader.waitPhase("e2e-ha-one", reconcile.PhaseReady)
	follower.waitPhase("e2e-ha-one", reconcile.PhaseReady) // the follower shows the same status

	// Only the leader applies: the follower's history has no action.
	rev := repo.Commit(t, map[string]string{"stores.yaml": "stores:\n  - name: e2e-ha-one\n    type: woocommerce\n  - name: e2e-ha-two\n    type: woocommerce\n"}, "add two")
	follower.push("main", rev)
	leader.push("main", rev)
	leader.waitPhase("e2e-ha-two", reconcile.PhaseReady)
	var list web.SyncList
	follower.getJSON("/api/v1/syncs", &list)
	for _, s := range list.Syncs {
		if len(s.Actions) > 0 {
			t.Fatalf("the follower applied: %+v", s)
		}
	}

	// Kill the leader: the follower takes over and applies the next change.
	leader.kill()
	follower.waitUntil("the follower to lead", func() bool { return follower.status().Leader })
	rev = repo.Commit(t, map[string]string{"stores.yaml": "stores:\n  - name: e2e-ha-one\n    type: woocommerce\n"}, "remove two")
	follower.push("main", rev)
	follower.waitUntil("e2e-ha-two deleted", func() bool {
		_, ok := follower.store("e2e-ha-two")
		return !ok
	})
}
