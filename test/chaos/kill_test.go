package chaos_test

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"
	"time"
)

// encodings are the forms in which a secret value could leak.
func encodings(v string) []string {
	forms := []string{v, base64.StdEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v))}
	if q := url.QueryEscape(v); q != v {
		forms = append(forms, q)
	}
	return forms
}

// seed makes a case's random choices reproducible: STOREOPS_CHAOS_SEED, or
// the time, logged.
func seed(t *testing.T) *rand.Rand {
	s := uint64(time.Now().UnixNano())
	if v, err := fmt.Sscan(os.Getenv("STOREOPS_CHAOS_SEED"), &s); err != nil || v != 1 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (STOREOPS_CHAOS_SEED=%d repeats the choices)", s, s)
	return rand.New(rand.NewPCG(s, s>>7))
}

// Case 1: kill -9 of storeops serve at random points of syncs that create,
// upgrade and delete stores. After each restart the fleet converges to
// exactly the declared stores: no orphan, no duplicate release, no
// credential regenerated, no volume claim replaced.
func TestKill9DuringSyncs(t *testing.T) {
	t.Parallel()
	pool := []string{"chaos-k-a", "chaos-k-b", "chaos-k-c", "chaos-k-d", "chaos-k-e"}
	types := []string{"woocommerce", "medusa"}
	e := newEnv(t, "1 kill -9 during create/upgrade/delete", "kill", map[string]storeSpec{
		pool[0]: {Type: "woocommerce"}, pool[1]: {Type: "medusa"},
	})
	r := seed(t)
	d := e.start("a")
	rev := e.repo.Head(t, "main")
	e.waitConverged(d, rev)

	n := iterations(3, 50)
	for i := 0; i < n; i++ {
		e.res.Iterations++
		// One to three changes: create, upgrade (a new title) or delete.
		var did []string
		touched := map[string]bool{}
		for k := 0; k < 1+r.IntN(3); k++ {
			var absent, present []string
			for _, p := range pool {
				if touched[p] {
					continue // one change a store a commit
				}
				if _, ok := e.declared[p]; ok {
					present = append(present, p)
				} else {
					absent = append(absent, p)
				}
			}
			switch op := r.IntN(3); {
			case op == 0 && len(absent) > 0:
				s := absent[r.IntN(len(absent))]
				e.declared[s] = storeSpec{Type: types[r.IntN(2)]}
				touched[s] = true
				did = append(did, "create "+s)
			case op == 1 && len(present) > 2 && len(did) == 0:
				// One deletion a sync keeps within the mass-deletion guard.
				s := present[r.IntN(len(present))]
				delete(e.declared, s)
				touched[s] = true
				did = append(did, "delete "+s)
			case len(present) > 0:
				s := present[r.IntN(len(present))]
				spec := e.declared[s]
				spec.Title = fmt.Sprintf("Shop %s rev %d", s, i)
				e.declared[s] = spec
				touched[s] = true
				did = append(did, "upgrade "+s)
			}
		}
		rev = e.commit(fmt.Sprintf("iteration %d: %v", i, did))
		// Kill after a random number of cluster writes of this sync (or
		// at once, or when it would have converged anyway).
		kill := r.IntN(25)
		base, _ := e.log.writes()
		if d.hook(rev) != 202 {
			t.Fatalf("webhook refused")
		}
		for {
			writes, next := e.log.writes()
			if writes-base >= kill || e.converged(d, rev) {
				break
			}
			select {
			case <-next:
			case <-time.After(time.Second): // look at convergence again
			}
		}
		writes, _ := e.log.writes()
		d.kill()
		t.Logf("iteration %d: %v; killed after %d writes", i, did, writes-base)
		d = e.start("a")
		e.waitConverged(d, rev)
		e.res.Converged++
	}
}
