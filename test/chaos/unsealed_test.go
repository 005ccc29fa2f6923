package chaos_test

import (
	"net/http"
	"strings"
	"testing"
)

// Found by the kill -9 case: storeops creates a store's namespace, then
// seals it with its proof of creation (an HMAC over instance, name and
// UID, which exists only once the namespace does). Killed between the two
// requests, it finds after the restart a namespace with its labels and no
// proof, refuses to adopt it, and the new store stays Blocked ("was not
// created by instance") until a person deletes the namespace. The test
// holds every write after the namespace's creation (the proxy), kills the
// daemon, restarts it and expects the store to converge.
func TestKillAfterNamespaceCreated(t *testing.T) {
	if !knownBugs {
		t.Skip("known bug: kill -9 between creating a store's namespace and sealing it leaves the store Blocked " +
			"(not created by instance) until a person deletes the namespace; the proof of creation needs the UID, " +
			"so it cannot be set in the create request. Set STOREOPS_CHAOS_KNOWN_BUGS=1 to run.")
	}
	t.Parallel()
	e := newEnv(t, "bug: kill -9 after namespace creation", "seal", map[string]storeSpec{"chaos-n-a": {Type: "woocommerce"}})
	d := e.start("a")
	rev := e.repo.Head(t, "main")
	e.waitConverged(d, rev)
	e.res.Iterations++
	held := e.log.holdWritesAfter(func(r request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/api/v1/namespaces")
	})
	e.declared["chaos-n-b"] = storeSpec{Type: "woocommerce"}
	rev = e.commit("a new store")
	d.hook(rev)
	<-held
	d.kill()
	e.log.release()
	d = e.start("a")
	e.waitConverged(d, rev)
	e.res.Converged++
}
