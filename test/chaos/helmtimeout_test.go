package chaos_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/render"
)

// helmTimeout is the --helm-timeout of case 7: short, so that an API
// server that does not answer outlasts it.
const helmTimeout = 15 * time.Second

// workloadWrites selects the writes of a store's Deployments and
// StatefulSets: what a Helm install creates and an upgrade patches.
func workloadWrites(store string) func(request) bool {
	prefix := "/apis/apps/v1/namespaces/store-" + store + "/"
	return func(r request) bool { return strings.HasPrefix(r.Path, prefix) }
}

// Case 7: Helm operations that outlast --helm-timeout. The API server
// (the proxy) holds the workload writes of one store: first those of a new
// store's install, then those of the upgrade of a Ready store (which holds
// data). Each time storeops gives up on the operation at the timeout,
// records the failure and retries after a backoff, never uninstalls the
// store that held data, leaves the other store alone, and converges once
// the writes go through; nothing is lost.
func TestHelmOperationTimesOut(t *testing.T) {
	t.Parallel()
	const ready = "chaos-h-a"
	e := newEnv(t, "7 Helm operation timed out", "helm", map[string]storeSpec{ready: {Type: "woocommerce"}})
	e.extra = []string{"--helm-timeout", helmTimeout.String()}
	d := e.start("a")
	rev := e.repo.Head(t, "main")
	e.waitConverged(d, rev)

	// failedWith waits until store's last action failed with the timeout.
	failedWith := func(store, op string) {
		t.Helper()
		d.waitUntil(store+"'s "+op+" timed out", func() bool {
			stores, ok := d.stores()
			s := stores[store]
			return ok && strings.Contains(s.LastError, op) && strings.Contains(s.LastError, "deadline exceeded")
		})
		stores, _ := d.stores()
		t.Logf("%s: %s: %s (last error: %s)", store, stores[store].Phase, stores[store].Message, stores[store].LastError)
	}
	for i := 0; i < iterations(1, 2); i++ {
		e.res.Iterations++
		// The install of a new store never gets its workloads created.
		fresh := fmt.Sprintf("chaos-h-new%d", i)
		release := e.log.stallWrites(workloadWrites(fresh))
		e.declared[fresh] = storeSpec{Type: []string{"woocommerce", "medusa"}[i%2]}
		rev = e.commit("a new store whose install times out")
		d.hook(rev)
		failedWith(fresh, "helm install")
		release()
		e.waitConverged(d, rev)

		// The upgrade of a Ready store (it holds data) never gets its
		// workloads patched.
		base := e.log.len()
		release = e.log.stallWrites(workloadWrites(ready))
		e.declared[ready] = storeSpec{Type: "woocommerce", Title: fmt.Sprintf("Timeout %d", i)}
		rev = e.commit("an upgrade that times out")
		d.hook(rev)
		failedWith(ready, "helm upgrade")
		e.check() // nothing replaced while it failed
		release()
		e.waitConverged(d, rev)
		for _, w := range e.log.writesSince(base) {
			if w.Method == http.MethodDelete && (isNamespacePath(w.Path) || strings.Contains(w.Path, "/persistentvolumeclaims") ||
				strings.Contains(w.Path, "/namespaces/store-"+ready+"/statefulsets") || strings.HasSuffix(w.Path, "/secrets/"+render.CredentialsSecret)) {
				t.Errorf("after the upgrade of a store that held data timed out: %s %s", w.Method, w.Path)
			}
		}
		t.Logf("iteration %d: %d writes held past the timeout", i, e.log.stalledWrites())
		e.res.Converged++
	}
}
