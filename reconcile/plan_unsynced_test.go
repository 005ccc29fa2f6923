package reconcile_test

import (
	"strings"
	"testing"

	"github.com/storeops/storeops/reconcile"
)

// unsynced is what the observer reports of a store whose namespace's
// Secrets are not in its cache yet: credentials and release unknown.
func unsynced(o *reconcile.ObservedStore, refused bool) *reconcile.ObservedStore {
	o.Credentials, o.Release, o.Missing, o.Drifted = false, nil, nil, nil
	o.Unsynced, o.SecretsRefused = true, refused
	return o
}

// A store whose Secrets are not observed yet looks as if it had neither
// credentials nor a release: planned from that, it would be installed
// anew (new passwords over existing data) or blocked. It is not planned
// until its Secrets are observed; if storeops may not read them, the only
// action is the binding of its store role.
func TestPlanWaitsForAStoresSecrets(t *testing.T) {
	ds := desiredOf(t, three)
	for _, c := range []struct {
		name    string
		refused bool
		data    bool // the store holds data (bound volumes)
		want    []kindStore
	}{
		{name: "listing", want: nil},
		{name: "listing, holding data", data: true, want: nil},
		{name: "refused", refused: true, want: []kindStore{{"repair", "b"}}},
		{name: "refused, holding data", refused: true, data: true, want: []kindStore{{"repair", "b"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			obs := observedAll(ds)
			o := unsynced(obs.Stores["b"], c.refused)
			if !c.data {
				neverReady(o)
				o.Volumes = 0
			}
			actions, err := reconcile.Plan(ds, obs, policy())
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(actions); !equalKinds(got, c.want) {
				t.Fatalf("actions %v, want %v", got, c.want)
			}
			if c.refused && !strings.Contains(actions[0].Reason, "bind its store role") {
				t.Errorf("reason %q does not say what the repair does", actions[0].Reason)
			}
		})
	}
	// Not declared any more: its deletion counts for the mass-deletion
	// guard like any other.
	obs := observedAll(ds)
	unsynced(obs.Stores["b"], false)
	unsynced(obs.Stores["c"], true)
	if _, err := reconcile.Plan(ds[:1], obs, policy()); err == nil {
		t.Fatal("two deletions of three stores passed the guard")
	}
}

func equalKinds(a, b []kindStore) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
