package reconcile_test

import (
	"strings"
	"testing"

	"github.com/storeops/storeops/reconcile"
)

// fakeClusters is a ClusterView of fixed facts.
type fakeClusters struct {
	down   map[string]string // cluster: why
	unseen string
	moves  map[string]string // store: reconcile.MoveKey(from, to)
}

func (f fakeClusters) Down(c string) string { return f.down[c] }
func (f fakeClusters) Unseen() string       { return f.unseen }
func (f fakeClusters) MoveConfirmed(store, from, to string) bool {
	return f.moves[store] == reconcile.MoveKey(from, to)
}

// Stores spread over two clusters: a and c on eu, b on the local one.
const placed = `stores:
  - {name: a, type: woocommerce, cluster: eu}
  - {name: b, type: medusa}
  - {name: c, type: woocommerce, cluster: eu}
`

// observedPlaced is every store converged on the cluster stores.yaml
// names.
func observedPlaced(t *testing.T) reconcile.Observed {
	t.Helper()
	obs := observedAll(desiredOf(t, placed))
	for _, o := range obs.Stores {
		o.Cluster = map[string]string{"a": "eu", "c": "eu"}[o.Name]
	}
	return obs
}

func planWith(t *testing.T, yaml string, obs reconcile.Observed, c reconcile.ClusterView) []kindStore {
	t.Helper()
	p := policy()
	p.Clusters = c
	actions, err := reconcile.Plan(desiredOf(t, yaml), obs, p)
	if err != nil {
		t.Fatal(err)
	}
	return summary(actions)
}

// An unreachable cluster holds its own stores, whatever they need, and
// nothing of the others'.
func TestPlanHoldsTheStoresOfAClusterThatIsDown(t *testing.T) {
	eu := fakeClusters{down: map[string]string{"eu": "cluster eu has not answered since ..."}}
	// New stores on both clusters: only the local one is installed.
	if got, want := planWith(t, placed, reconcile.Observed{Stores: map[string]*reconcile.ObservedStore{}}, eu), []kindStore{{"install", "b"}}; !equalKinds(got, want) {
		t.Errorf("new stores: %v, want %v", got, want)
	}
	// Values changed everywhere: only the local store is upgraded.
	bumped := strings.ReplaceAll(placed, "}", ", options: {sampleData: false}}")
	if got, want := planWith(t, bumped, observedPlaced(t), eu), []kindStore{{"upgrade", "b"}}; !equalKinds(got, want) {
		t.Errorf("changed stores: %v, want %v", got, want)
	}
	// A store removed from stores.yaml on the unreachable cluster is not
	// deleted until it is back; one on the local cluster is.
	withoutA := strings.Replace(placed, "  - {name: a, type: woocommerce, cluster: eu}\n", "", 1)
	if got := planWith(t, withoutA, observedPlaced(t), eu); len(got) != 0 {
		t.Errorf("removed from eu: %v, want nothing", got)
	}
	if got := planWith(t, withoutA, observedPlaced(t), fakeClusters{}); !equalKinds(got, []kindStore{{"delete", "a"}}) {
		t.Errorf("removed from eu, eu back: %v, want its deletion", got)
	}
	withoutB := strings.Replace(placed, "  - {name: b, type: medusa}\n", "", 1)
	if got := planWith(t, withoutB, observedPlaced(t), eu); !equalKinds(got, []kindStore{{"delete", "b"}}) {
		t.Errorf("removed from the local cluster: %v, want its deletion", got)
	}
	// Back: everything is acted on again.
	if got := planWith(t, bumped, observedPlaced(t), fakeClusters{}); len(got) != 3 {
		t.Errorf("cluster back: %v, want three upgrades", got)
	}
	d := desiredOf(t, placed)
	if why := reconcile.HeldReason(&d[0], observedPlaced(t).Stores["a"], eu); !strings.Contains(why, "has not answered") {
		t.Errorf("HeldReason = %q, want the cluster's reason", why)
	}
	if why := reconcile.HeldReason(&d[1], observedPlaced(t).Stores["b"], eu); why != "" {
		t.Errorf("HeldReason of a local store = %q, want none", why)
	}
}

// A store found nowhere is not installed while a registered cluster has
// not been observed yet: it may live there. A store found where it
// belongs goes on.
func TestPlanWaitsForUnseenClustersBeforeInstalling(t *testing.T) {
	c := fakeClusters{unseen: "us"}
	obs := observedPlaced(t)
	delete(obs.Stores, "c")
	bumped := strings.Replace(placed, "cluster: eu}", "cluster: eu, options: {sampleData: false}}", 1)
	if got, want := planWith(t, bumped, obs, c), []kindStore{{"upgrade", "a"}}; !equalKinds(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// A store living on another cluster than stores.yaml names is never moved
// unless a person confirmed exactly that move: moving deletes it there.
// Once confirmed, it is deleted from the old cluster first (only while
// that cluster answers), then installed on the new one.
func TestPlanMovesAStoreOnlyWhenConfirmed(t *testing.T) {
	moved := strings.Replace(placed, "{name: b, type: medusa}", "{name: b, type: medusa, cluster: eu}", 1)
	obs := observedPlaced(t) // b lives on the local cluster

	got := planWith(t, moved, obs, fakeClusters{})
	if want := []kindStore{{"block", "b"}}; !equalKinds(got, want) {
		t.Fatalf("unconfirmed: %v, want %v", got, want)
	}
	p := policy()
	p.Clusters = fakeClusters{}
	actions, _ := reconcile.Plan(desiredOf(t, moved), obs, p)
	if r := actions[0].Reason; !strings.Contains(r, "storeops confirm-move b --from local --to eu") || !strings.Contains(r, "cluster: local") {
		t.Errorf("block reason %q does not say how to confirm or undo", r)
	}

	// A confirmation of another move confirms nothing.
	for _, other := range []string{reconcile.MoveKey("eu", "local"), reconcile.MoveKey("", "us"), ""} {
		if got := planWith(t, moved, obs, fakeClusters{moves: map[string]string{"b": other}}); !equalKinds(got, []kindStore{{"block", "b"}}) {
			t.Errorf("confirmation %q: %v, want the block", other, got)
		}
	}

	confirmed := fakeClusters{moves: map[string]string{"b": reconcile.MoveKey("", "eu")}}
	actions, err := func() ([]reconcile.Action, error) {
		p := policy()
		p.Clusters = confirmed
		return reconcile.Plan(desiredOf(t, moved), obs, p)
	}()
	if err != nil || len(actions) != 1 || actions[0].Kind != reconcile.ActDelete || actions[0].Observed.Cluster != "" {
		t.Fatalf("confirmed: %v %v, want the deletion from the local cluster", actions, err)
	}
	// The old cluster down: the move waits.
	down := confirmed
	down.down = map[string]string{"": "cluster local is away"}
	if got := planWith(t, moved, obs, down); len(got) != 0 {
		t.Errorf("old cluster down: %v, want nothing", got)
	}
	// Deleted from the old cluster: installed on the new one.
	delete(obs.Stores, "b")
	if got, want := planWith(t, moved, obs, confirmed), []kindStore{{"install", "b"}}; !equalKinds(got, want) {
		t.Errorf("after the deletion: %v, want %v", got, want)
	}
}

// A store found on two clusters is planned from its copy on the cluster
// stores.yaml names; the other copy is left alone.
func TestPlanUsesTheCopyWhereTheStoreBelongs(t *testing.T) {
	obs := observedPlaced(t)
	local := obs.Stores["a"]
	stale := *local
	stale.Cluster = ""
	eu := *local
	eu.Cluster = "eu"
	stale.Others = []*reconcile.ObservedStore{&eu}
	obs.Stores["a"] = &stale
	if got := planWith(t, placed, obs, fakeClusters{}); len(got) != 0 {
		t.Errorf("got %v, want nothing: the copy on eu is converged", got)
	}
}
