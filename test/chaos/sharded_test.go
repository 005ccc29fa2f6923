package chaos_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	"github.com/storeops/storeops/shard"
	"github.com/storeops/storeops/web"
)

// shardCount is the --shards of the sharded case.
const shardCount = 16

// shardedStores is the number of stores of the sharded case:
// STOREOPS_CHAOS_SHARDED_STORES, else 120 in the full run, 24 reduced.
// The package's two nodes have 64 CPUs each and a store requests about
// half a CPU (a Medusa store 0.75, a WooCommerce one 0.35, a third of
// them Medusa): 300 stores do not fit (256 became Ready, the others'
// pods stayed Pending), and case 2b drains a node while the others run,
// so the full run's fleet fits on one node.
func shardedStores() int {
	if n, err := strconv.Atoi(os.Getenv("STOREOPS_CHAOS_SHARDED_STORES")); err == nil && n > 0 {
		return n
	}
	if full {
		return 120
	}
	return 24
}

// Case 10: three replicas of `serve --shards 16` share a fleet while one of
// them is killed (kill -9) again and again and restarted as a new process
// (a new member of the shard group). Two rounds: every store created, then
// every store upgraded (a new title). Each round converges (every store
// Ready with the values of the revision, nothing else, no duplicate
// release, nothing replaced, no credential regenerated); then a webhook
// for the unchanged revision on every replica writes nothing; one
// replica's status shows the whole fleet, each store with the live member
// acting on it. Finally the request logs of the three proxies and a watch
// on the shard Leases prove that no two replicas acted on a store at once
// (see checkShardedWriters).
func TestShardedReplicasKilled(t *testing.T) {
	t.Parallel()
	n := shardedStores()
	initial := map[string]storeSpec{}
	for i := range n {
		typ := "woocommerce"
		if i%3 == 0 {
			typ = "medusa"
		}
		initial[fmt.Sprintf("chaos-s-%03d", i)] = storeSpec{Type: typ}
	}
	e := newEnv(t, fmt.Sprintf("10 sharded replicas killed, %d stores", n), "shard", initial)
	e.sharded = true
	r := seed(t)
	// The shard group's Leases: <leader Lease without -leader>-shard-<k>
	// in storeops' namespace (default here).
	leases := watchShardLeases(t, e, strings.TrimSuffix(e.lease, "-leader"))

	var (
		live     []*daemon
		memberOf = map[string]string{}    // process (proxy name) -> member id
		killedAt = map[string]time.Time{} // process -> when it was killed
		started  int
	)
	launch := func() *daemon {
		started++
		d := e.start(fmt.Sprintf("r%d", started), "--shards", strconv.Itoa(shardCount),
			"--max-stores", strconv.Itoa(max(n, render.DefaultMaxStores)))
		st, ok := d.status()
		if !ok || st.Shards == nil || st.Shards.Member == "" || st.Shards.Shards != shardCount {
			t.Fatalf("replica %s: /api/v1/status has no shard group (shards %+v)", d.name, st.Shards)
		}
		memberOf[d.name] = st.Shards.Member
		t.Logf("replica %s is member %s", d.name, st.Shards.Member)
		return d
	}
	for range 3 {
		live = append(live, launch())
	}

	// A kill every killEvery while a round has not converged, at most
	// killsPerRound a round (reduced: one; full: as many as it takes).
	killEvery := 10 * time.Second
	killsPerRound := iterations(1, 1<<30)
	if full {
		killEvery = 20 * time.Second
	}
	convergeFor := max(waitFor, time.Duration(n)*6*time.Second)
	kills := 0
	killOne := func(k int) {
		live[k].kill()
		killedAt[live[k].name] = time.Now()
		kills++
		live[k] = launch()
	}
	round := func(i int, rev string) {
		t.Helper()
		e.res.Iterations++
		began := time.Now()
		next, roundKills := began.Add(killEvery), 0
		for {
			d := live[0]
			if fleetReady(d, rev, len(e.declared)) && e.converged(d, rev) {
				break
			}
			if st, ok := d.status(); ok && st.Refused != nil {
				t.Fatalf("round %d: %s refused: %s", i, d.name, st.Refused.Message)
			}
			if time.Since(began) > convergeFor {
				_, stores := d.fetch("/api/v1/stores", d.authHeader)
				t.Fatalf("round %d: not converged to %s after %s; stores %s", i, short(rev), convergeFor, stores)
			}
			if roundKills < killsPerRound && time.Now().After(next) {
				k := r.IntN(len(live))
				victim := live[k]
				killOne(k)
				roundKills++
				t.Logf("round %d: killed %s (member %s) after %s; restarted as %s (member %s)",
					i, victim.name, memberOf[victim.name], time.Since(began).Round(time.Second), live[k].name, memberOf[live[k].name])
				next = time.Now().Add(killEvery)
			}
			for _, d := range live {
				if d.exited() {
					t.Fatalf("replica %s exited: %v", d.name, d.err)
				}
			}
			time.Sleep(2 * time.Second)
		}
		e.check()
		e.res.Converged++
		t.Logf("round %d: %d stores converged to %s in %s, %d kills so far", i, len(e.declared), short(rev), time.Since(began).Round(time.Second), kills)
	}

	rev := e.repo.Head(t, "main")
	round(0, rev)
	for _, s := range e.names() {
		spec := e.declared[s]
		spec.Title = "Sharded " + s
		e.declared[s] = spec
	}
	rev = e.commit("every store upgraded")
	if code := live[0].hook(rev); code != http.StatusAccepted { // passed on to the others through the sync Lease
		t.Fatalf("webhook to %s answered %d", live[0].name, code)
	}
	round(1, rev)
	// One more kill in the converged fleet: the shards move with no
	// store to act on, and no store event to publish the status for
	// (its shard group and the stores' replicas must show the move all
	// the same).
	victim := live[0]
	killOne(0)
	t.Logf("converged: killed %s (member %s), restarted as %s (member %s)", victim.name, memberOf[victim.name], live[0].name, memberOf[live[0].name])
	resultsMu.Lock()
	e.res.Case = fmt.Sprintf("10 sharded replicas killed, %d stores, %d kills", n, kills)
	resultsMu.Unlock()

	liveIDs := map[string]bool{}
	for _, d := range live {
		liveIDs[memberOf[d.name]] = true
	}
	waitShardsSettled(t, live, liveIDs, memberOf, leases)

	// One replica answers for the whole fleet: every store, each with
	// the live member acting on it (the holder of its shard's Lease).
	holders := leases.holders()
	stores, ok := live[0].stores()
	if !ok {
		t.Fatal("the stores of " + live[0].name + " cannot be read")
	}
	for _, s := range e.names() {
		st, ok := stores[s]
		switch k := shard.ShardOf(s, shardCount); {
		case !ok:
			t.Errorf("store %s missing from the status of %s", s, live[0].name)
		case st.Replica == "" || !liveIDs[st.Replica]:
			t.Errorf("store %s: replica %q in the status of %s is not a live member %v", s, st.Replica, live[0].name, liveIDs)
		case st.Replica != holders[k]:
			t.Errorf("store %s: replica %s in the status of %s, but shard %d's Lease is held by %s", s, st.Replica, live[0].name, k, holders[k])
		}
	}
	if len(stores) != len(e.declared) {
		t.Errorf("the status of %s lists %d stores, want %d", live[0].name, len(stores), len(e.declared))
	}

	// The converged no-op: a webhook for the revision in force on every
	// replica makes no mutating request through any proxy but the
	// Leases in storeops' namespace (the shard group's renewals and the
	// sync requests, both through the replicas' proxies).
	base := e.log.len()
	hooked := time.Now()
	for _, d := range live {
		if code := d.hook(rev); code != http.StatusAccepted {
			t.Fatalf("webhook to %s answered %d", d.name, code)
		}
	}
	for _, d := range live {
		d.waitUntil("the webhook's sync of "+short(rev), func() bool { return syncedSince(d, rev, hooked) })
	}
	time.Sleep(5 * time.Second) // the forwarded requests, and what the syncs queued
	for _, d := range live {
		d.waitUntil("no sync running", func() bool { s, ok := d.status(); return ok && !s.Syncing })
	}
	var noop []string
	for _, w := range e.log.snapshot()[base:] {
		if w.mutating() && !strings.HasPrefix(w.Path, "/apis/coordination.k8s.io/v1/namespaces/default/leases/") {
			noop = append(noop, fmt.Sprintf("%s %s %s (%d)", w.Replica, w.Method, w.Path, w.Code))
		}
	}
	if len(noop) > 0 {
		t.Errorf("a webhook for the converged revision %s on every replica made %d mutating requests: %s", short(rev), len(noop), strings.Join(noop, "; "))
	}
	t.Logf("converged no-op: %d requests through the proxies in %s, %d mutating outside the Leases",
		e.log.len()-base, time.Since(hooked).Round(time.Second), len(noop))
	for _, d := range live {
		if !e.converged(d, rev) {
			t.Errorf("the status of %s does not show the fleet converged to %s", d.name, short(rev))
		}
	}

	tenures, watchErr := leases.all()
	checkShardedWriters(t, e.log.snapshot(), tenures, watchErr, memberOf, killedAt)
}

// fleetReady is the cheap part of converged, from the status alone: the
// revision, and every one of n stores Ready or Degraded. The full check
// reads every store, which is large with hundreds of them.
func fleetReady(d *daemon, rev string, n int) bool {
	st, ok := d.status()
	return ok && st.Revision == rev && st.Stores == n && st.Phases[reconcile.PhaseReady]+st.Phases[reconcile.PhaseDegraded] == n
}

// syncedSince reports whether d recorded a finished sync of rev, started
// after t, for a webhook (its own or one passed on).
func syncedSince(d *daemon, rev string, t time.Time) bool {
	var list web.SyncList
	if !d.getJSON("/api/v1/syncs", &list) {
		return false
	}
	for _, s := range list.Syncs {
		if s.Revision == rev && s.Start.After(t) && strings.Contains(s.Trigger, "webhook") && !s.Running {
			return true
		}
	}
	return false
}

// statusLag bounds how long the status of a replica may take to show a
// change of the shard group (each replica reads its member's view every
// second).
const statusLag = 30 * time.Second

// waitShardsSettled waits until every shard Lease names a live member
// (the takeovers after the last kill are done, as the Leases show), then
// until every live replica's status shows it within statusLag: exactly
// the live members, and as its held shards those whose Lease names it.
func waitShardsSettled(t *testing.T, live []*daemon, ids map[string]bool, memberOf map[string]string, leases *leaseLog) {
	t.Helper()
	var holders []string
	live[0].waitUntil("every shard Lease held by a live member", func() bool {
		holders = leases.holders()
		for _, h := range holders {
			if !ids[h] {
				return false
			}
		}
		return true
	})
	settled := time.Now()
	for _, d := range live {
		var why string
		for {
			st, ok := d.status()
			why = ""
			switch {
			case !ok || st.Shards == nil:
				why = "no shard group"
			case len(st.Shards.Members) != len(ids) || !allIn(st.Shards.Members, ids):
				why = fmt.Sprintf("members %v, live %v", st.Shards.Members, ids)
			default:
				var want []int
				for k, h := range holders {
					if h == memberOf[d.name] {
						want = append(want, k)
					}
				}
				if got := slices.Sorted(slices.Values(st.Shards.Held)); !slices.Equal(got, want) {
					why = fmt.Sprintf("held %v, its shard Leases %v", got, want)
				}
			}
			if why == "" || time.Since(settled) > statusLag {
				break
			}
			time.Sleep(time.Second)
		}
		if why != "" {
			t.Errorf("the status of %s does not show the shard group %s after the Leases settled: %s", d.name, statusLag, why)
		}
	}
}

func allIn(xs []string, set map[string]bool) bool {
	for _, x := range xs {
		if !set[x] {
			return false
		}
	}
	return true
}

// tenure is one holding of a shard's Lease: holder took it at from (the
// acquireTime it wrote, by its clock, just before it sent the request
// that took the Lease) and held it until the next tenure's from.
type tenure struct {
	holder string
	from   time.Time
}

// leaseLog follows the shard Leases of a group from before any replica
// starts: every tenure of every shard.
type leaseLog struct {
	mu      sync.Mutex
	tenures map[int][]tenure
	current map[int]string // the holder of each shard's Lease now ("": released)
	err     error
}

func watchShardLeases(t *testing.T, e *env, prefix string) *leaseLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &leaseLog{tenures: map[int][]tenure{}, current: map[int]string{}}
	api := e.c.Client.CoordinationV1().Leases("default")
	sel := shard.GroupLabel + "=" + prefix + "," + shard.RoleLabel + "=shard"
	list, err := api.List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) > 0 {
		t.Fatalf("shard Leases of %s exist before the case starts", prefix)
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, leaseWatcher{api: api, sel: sel})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				l.mu.Lock()
				l.err = fmt.Errorf("watch of the shard Leases: %v", ev.Object)
				l.mu.Unlock()
				continue
			}
			lease, ok := ev.Object.(*coordinationv1.Lease)
			if !ok {
				continue
			}
			l.observe(prefix, lease, ev.Type == watch.Deleted)
		}
	}()
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	return l
}

type leaseWatcher struct {
	api interface {
		Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
	}
	sel string
}

func (w leaseWatcher) WatchWithContext(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	o.LabelSelector = w.sel
	return w.api.Watch(ctx, o)
}

func (l *leaseLog) observe(prefix string, lease *coordinationv1.Lease, deleted bool) {
	k, err := strconv.Atoi(strings.TrimPrefix(lease.Name, prefix+"-shard-"))
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := ""
	if lease.Spec.HolderIdentity != nil && !deleted {
		h = *lease.Spec.HolderIdentity
	}
	l.current[k] = h
	if h == "" || lease.Spec.AcquireTime == nil {
		return // released: the tenure stays in force until the next one
	}
	tn := tenure{holder: h, from: lease.Spec.AcquireTime.Time}
	ts := l.tenures[k]
	if len(ts) > 0 && ts[len(ts)-1] == tn {
		return // a renewal
	}
	l.tenures[k] = append(ts, tn)
}

// holders returns the holder of each shard's Lease as last seen.
func (l *leaseLog) holders() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, shardCount)
	for k := range out {
		out[k] = l.current[k]
	}
	return out
}

// all returns every tenure of every shard, each shard's in order of
// their start, and the watch's error if it broke.
func (l *leaseLog) all() (map[int][]tenure, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int][]tenure{}
	for k, ts := range l.tenures {
		ts = slices.Clone(ts)
		sort.SliceStable(ts, func(i, j int) bool { return ts[i].from.Before(ts[j].from) })
		out[k] = ts
	}
	return out, l.err
}

// storeOfRequest returns the store whose namespace a request is in, or
// is (the namespace object itself, its creation included).
func storeOfRequest(r request) (string, bool) {
	ns := r.Created
	if ns == "" {
		seg := strings.Split(strings.Trim(r.Path, "/"), "/")
		switch {
		case len(seg) >= 4 && seg[0] == "api" && seg[2] == "namespaces":
			ns = seg[3]
		case len(seg) >= 5 && seg[0] == "apis" && seg[3] == "namespaces":
			ns = seg[4]
		}
	}
	name, ok := strings.CutPrefix(ns, render.NamespacePrefix)
	return name, ok && name != ""
}

// checkShardedWriters proves from the proxies' request logs and the watch
// of the shard Leases that no two replicas acted on one store at once.
//
// For every write (a mutating request, Events included) to a store's
// namespace, or to the namespace object itself (its creation included,
// named from the request's body):
//
//  1. The writer held the store's shard: the last tenure of the shard's
//     Lease that began at or before the proxy received the write is the
//     writer's. This is sound: a replica's fence lets a write of the shard
//     through only after the request that took the Lease succeeded (and
//     the Lease's acquireTime is the replica's clock just before it sent
//     that request; every process here runs on one host, one clock), and
//     only until it released the Lease (after its writes in flight were
//     answered) or until LeaseDuration - SafetyMargin after its last
//     renewal, before anyone else may take it over. It fails if a
//     replica writes to a store whose shard it does not hold, before it
//     took it or after another took it. A write arriving more than the
//     safety margin (2 s) after it passed the fence would also fail it:
//     the fence's own assumption.
//  2. Per store namespace, the writes of different replicas never
//     interleave in time: when the writer changes, the new writer's
//     first write starts after the previous writer's last write ended.
//     With 1, a replica that wrote to a store after another writes to it
//     again only in a later tenure of its own, taken after the other's
//     writes.
//  3. No process wrote after it was killed (a new process is a new
//     replica, with its own proxy and member id).
//  4. The work is spread: at least two replicas wrote to store
//     namespaces.
//
// What it does not see: writes outside store namespaces (the creation
// records on the instance key Secret, Events elsewhere, the Leases). A
// namespace creation the proxy cannot name fails the case.
func checkShardedWriters(t *testing.T, reqs []request, tenures map[int][]tenure, watchErr error, memberOf map[string]string, killedAt map[string]time.Time) {
	t.Helper()
	if watchErr != nil {
		t.Errorf("the tenures are incomplete: %v", watchErr)
	}
	byStore := map[string][]request{}
	writers := map[string]int{}
	outside := 0
	for _, w := range reqs {
		if !w.mutating() || strings.Contains(w.Path, "/apis/coordination.k8s.io/") {
			continue
		}
		if w.Method == http.MethodPost && w.Path == "/api/v1/namespaces" && w.Created == "" {
			t.Errorf("%s created a namespace the proxy could not name", w.Replica)
		}
		store, ok := storeOfRequest(w)
		if !ok {
			outside++
			continue
		}
		byStore[store] = append(byStore[store], w)
		writers[w.Replica]++
	}
	if len(byStore) == 0 {
		t.Fatal("no write to a store namespace recorded: the proxies saw nothing")
	}
	total, changes := 0, 0
	for store, ws := range byStore {
		k := shard.ShardOf(store, shardCount)
		sort.SliceStable(ws, func(i, j int) bool { return ws[i].Start.Before(ws[j].Start) })
		for _, w := range ws {
			total++
			if at, ok := killedAt[w.Replica]; ok && w.Start.After(at) {
				t.Errorf("store %s: %s %s %s at %s, after %s was killed at %s", store, w.Replica, w.Method, w.Path, w.Start.Format(time.RFC3339Nano), w.Replica, at.Format(time.RFC3339Nano))
			}
			var in *tenure
			for i := range tenures[k] {
				if tenures[k][i].from.After(w.Start) {
					break
				}
				in = &tenures[k][i]
			}
			switch member := memberOf[w.Replica]; {
			case in == nil:
				t.Errorf("store %s: %s (member %s) %s %s at %s, before anyone took shard %d", store, w.Replica, member, w.Method, w.Path, w.Start.Format(time.RFC3339Nano), k)
			case in.holder != member:
				t.Errorf("store %s: %s (member %s) %s %s at %s, while shard %d was %s's (since %s)", store, w.Replica, member, w.Method, w.Path,
					w.Start.Format(time.RFC3339Nano), k, in.holder, in.from.Format(time.RFC3339Nano))
			}
		}
		// Runs of consecutive writes by one replica.
		prev, prevEnd := "", time.Time{}
		for _, w := range ws {
			if w.Replica != prev && prev != "" {
				changes++
				if !w.Start.After(prevEnd) {
					t.Errorf("store %s: %s wrote (%s %s) at %s while a write of %s was in flight until %s", store, w.Replica, w.Method, w.Path,
						w.Start.Format(time.RFC3339Nano), prev, prevEnd.Format(time.RFC3339Nano))
				}
				prevEnd = time.Time{}
			}
			prev = w.Replica
			if w.End.After(prevEnd) {
				prevEnd = w.End
			}
		}
	}
	if len(writers) < 2 {
		t.Errorf("only %v wrote to store namespaces: the stores were not shared", writers)
	}
	handovers := 0
	for _, ts := range tenures {
		handovers += len(ts)
	}
	t.Logf("%d writes to %d store namespaces by %v (%d writes elsewhere), each in a tenure of its writer (%d tenures of %d shards); the writer of a store changed %d times, never while another's write was in flight",
		total, len(byStore), writers, outside, handovers, len(tenures), changes)
}
