package chaos_test

import (
	"fmt"
	"testing"
	"time"
)

// Case 3: two replicas with leader election while the leader is killed
// repeatedly. The request log of the proxies in front of both replicas
// proves that no two replicas' writes interleave: every write of one
// leadership ends before the first write of the next. Each change is
// announced by a webhook to the follower just before the leader is killed;
// none is lost (the fleet converges to it with no other trigger).
func TestLeaderKilledRepeatedly(t *testing.T) {
	t.Parallel()
	pool := []string{"chaos-l-a", "chaos-l-b", "chaos-l-c", "chaos-l-d"}
	e := newEnv(t, "3 leader killed, two replicas", "lead", map[string]storeSpec{pool[0]: {Type: "woocommerce"}})
	r := seed(t)
	replicas := map[string]*daemon{"a": e.start("a"), "b": e.start("b")}
	leader := func() (*daemon, *daemon) {
		var l, f *daemon
		replicas["a"].waitUntil("one leader", func() bool {
			la, lb := replicas["a"].leader(), replicas["b"].leader()
			switch {
			case la && !lb:
				l, f = replicas["a"], replicas["b"]
			case lb && !la:
				l, f = replicas["b"], replicas["a"]
			default:
				return false
			}
			return true
		})
		return l, f
	}
	l, _ := leader()
	rev := e.repo.Head(t, "main")
	e.waitConverged(l, rev)

	n := iterations(2, 15)
	for i := 0; i < n; i++ {
		e.res.Iterations++
		l, f := leader()
		// Change the fleet: a new store, or a new title.
		s := pool[r.IntN(len(pool))]
		spec, ok := e.declared[s]
		if !ok {
			spec = storeSpec{Type: []string{"woocommerce", "medusa"}[r.IntN(2)]}
		}
		spec.Title = fmt.Sprintf("Lead %d", i)
		e.declared[s] = spec
		rev = e.commit(fmt.Sprintf("iteration %d: %s", i, s))
		// The webhook goes to the follower, which passes it to the leader;
		// the leader dies after a random number of writes (maybe none).
		base, _ := e.log.writes()
		if code := f.hook(rev); code != 202 {
			t.Fatalf("webhook to the follower answered %d", code)
		}
		kill := r.IntN(8)
		for {
			writes, next := e.log.writes()
			if writes-base >= kill || e.converged(l, rev) {
				break
			}
			select {
			case <-next:
			case <-time.After(time.Second):
			}
		}
		l.kill()
		t.Logf("iteration %d: killed leader %s; %s must take over", i, l.name, f.name)
		f.waitUntil(f.name+" leading", f.leader)
		e.waitConverged(f, rev)
		e.res.Converged++
		replicas[l.name] = e.start(l.name) // comes back as a follower
	}
	checkOneApplier(t, e.log.snapshot())
}

// checkOneApplier fails when writes of two replicas interleave: once a
// replica wrote after another, the other may write again only after the
// first one's last write ended.
func checkOneApplier(t *testing.T, reqs []request) {
	t.Helper()
	var writes []request
	for _, r := range reqs {
		if r.write() {
			writes = append(writes, r)
		}
	}
	if len(writes) == 0 {
		t.Fatal("no write recorded: the proxy saw nothing")
	}
	// Segments of consecutive writes by one replica, in order of arrival.
	type segment struct {
		replica    string
		first, end time.Time
		n          int
	}
	var segs []segment
	for _, w := range writes {
		if len(segs) == 0 || segs[len(segs)-1].replica != w.Replica {
			segs = append(segs, segment{replica: w.Replica, first: w.Start})
		}
		s := &segs[len(segs)-1]
		s.n++
		if w.End.After(s.end) {
			s.end = w.End
		}
	}
	for i := 1; i < len(segs); i++ {
		prev, cur := segs[i-1], segs[i]
		if !cur.first.After(prev.end) {
			t.Errorf("replica %s wrote at %s while %s's write (last of %d) was still in flight until %s",
				cur.replica, cur.first.Format(time.RFC3339Nano), prev.replica, prev.n, prev.end.Format(time.RFC3339Nano))
		}
	}
	t.Logf("%d writes in %d leaderships, none interleaved", len(writes), len(segs))
}
