package reconcile

import "github.com/storeops/storeops/render"

// settled reports whether a store has nothing left to do: its release is
// deployed with the desired values (released), its isolation is in place,
// none of its objects is missing or changed, and every workload is Ready.
// A failed action is then over, whatever its error said: a Helm install
// or upgrade that storeops gave up on at --helm-timeout may still finish
// (Helm completes it in the background once the API server answers), and
// the plan has nothing to retry. Such a store is Ready, not Failed; its
// last action still shows the error.
func settled(d *render.Desired, o *ObservedStore, released bool) bool {
	return released && o != nil && o.Namespace != nil && !o.Terminating() &&
		len(o.Missing) == 0 && len(o.Drifted) == 0 && o.AllReady() && IsolationDiff(d, o) == ""
}
