package chaos_test

import (
	"testing"

	"github.com/storeops/storeops/reconcile"
)

// Found by the kill -9 case (a commit that removed a store and declared it
// again with another type): changing the type of a store in stores.yaml
// upgrades its Helm release from one chart to the other, and Helm deletes
// the old chart's objects, its data volumes with them, although the store
// was never removed from stores.yaml. The store's database and uploads
// must survive any change but a removal: storeops refuses the change
// (Blocked, saying to remove the store first; reconcile.Plan's type rule)
// and keeps every volume claim.
func TestTypeChangeKeepsData(t *testing.T) {
	e := newEnv(t, "bug: type change keeps data", "type", map[string]storeSpec{"chaos-t-a": {Type: "medusa"}, "chaos-t-b": {Type: "woocommerce"}})
	d := e.start("a")
	rev := e.repo.Head(t, "main")
	e.waitConverged(d, rev)
	e.res.Iterations++
	e.declared["chaos-t-a"] = storeSpec{Type: "woocommerce"}
	rev = e.commit("change the type of a store")
	d.hook(rev)
	d.waitUntil("the revision seen", func() bool {
		s, ok := d.status()
		return ok && s.Revision == rev
	})
	// Whatever storeops does next, the medusa store's volumes stay.
	d.waitUntil("the change acted upon", func() bool {
		stores, ok := d.stores()
		s := stores["chaos-t-a"]
		return ok && (s.Phase == reconcile.PhaseBlocked || s.AppliedRevision == rev && s.Phase == reconcile.PhaseReady)
	})
	e.declared["chaos-t-a"] = storeSpec{Type: "medusa"} // what the cluster must still hold
	e.check()
}
