package chaos_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Case 6: the API server, then etcd, killed and restarted in the middle of
// syncs that create and upgrade stores: the daemon rides it out (informers
// resync, failed actions are retried) and converges with nothing lost.
func TestAPIServerRestartMidSync(t *testing.T) {
	controlPlaneRestart(t, "kube-apiserver", "apiserver")
}

func TestEtcdRestartMidSync(t *testing.T) {
	controlPlaneRestart(t, "etcd", "etcd")
}

func controlPlaneRestart(t *testing.T, component, short string) {
	e := newEnv(t, "6 "+component+" restart mid-sync", short, map[string]storeSpec{
		"chaos-" + short + "-a": {Type: "woocommerce"},
	})
	r := seed(t)
	d := e.start("a")
	rev := e.repo.Head(t, "main")
	e.waitConverged(d, rev)
	for i := 0; i < iterations(1, 3); i++ {
		e.res.Iterations++
		e.declared[fmt.Sprintf("chaos-%s-n%d", short, i)] = storeSpec{Type: []string{"woocommerce", "medusa"}[i%2]}
		e.declared["chaos-"+short+"-a"] = storeSpec{Type: "woocommerce", Title: fmt.Sprintf("Restart %d", i)}
		rev = e.commit(fmt.Sprintf("iteration %d", i))
		restartAfterWrites(t, e, d, rev, r, component)
		e.waitConverged(d, rev)
		e.res.Converged++
	}
}

// restartAfterWrites sends the webhook for rev, waits for a random number
// of cluster writes, and restarts component (killed at once).
func restartAfterWrites(t *testing.T, e *env, d *daemon, rev string, r *rand.Rand, component string) {
	t.Helper()
	base, _ := e.log.writes()
	if code := d.hook(rev); code != 202 {
		t.Fatalf("webhook: %d", code)
	}
	n := 1 + r.IntN(15)
	for {
		writes, next := e.log.writes()
		if writes-base >= n || e.converged(d, rev) {
			break
		}
		select {
		case <-next:
		case <-time.After(time.Second):
		}
	}
	writes, _ := e.log.writes()
	e.c.Restart(t, component, 0)
	t.Logf("restarted %s after %d writes", component, writes-base)
}
