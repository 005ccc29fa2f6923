package chaos_test

import (
	"net/http"
	"strings"
	"testing"
)

// Found by the full runs of cases 1 and 3: killed during the upgrade of a
// Ready store, storeops' next leader unlocks the release and rolls it
// back, and the rollback fails for good: `cannot patch "<store>-setup-rN"
// with kind Job: ... spec.selector: Required value ... field is immutable`
// (the charts name the setup Job after the release revision; the rollback
// patches the completed Job of the target revision with its stored
// manifest). The store stays Failed, each retry adding a failed release
// revision, until a person deletes the Job. Fixed: the applier deletes the
// store's setup Jobs (idempotent, rerun by the target revision) before a
// rollback. The test holds every write after the upgrade's release record
// is created (the proxy), kills the daemon, restarts it and expects the
// store to converge.
func TestKillDuringUpgrade(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "bug: kill -9 during an upgrade", "upg", map[string]storeSpec{"chaos-u-a": {Type: "woocommerce"}})
	d := e.start("a")
	rev := e.repo.Head(t, "main")
	e.waitConverged(d, rev)
	e.res.Iterations++
	held := e.log.holdWritesAfter(func(r request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/namespaces/store-chaos-u-a/secrets")
	})
	e.declared["chaos-u-a"] = storeSpec{Type: "woocommerce", Title: "Upgraded"}
	rev = e.commit("upgrade")
	d.hook(rev)
	<-held
	d.kill()
	e.log.release()
	d = e.start("a")
	e.waitConverged(d, rev)
	e.res.Converged++
}
