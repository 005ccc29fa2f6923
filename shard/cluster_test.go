package shard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/testcluster"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

// Short leases, generous waits: the machine may be busy.
const (
	testShards   = 32
	testDuration = 3 * time.Second
	waitLimit    = 60 * time.Second
)

// errCut is what a partitioned member's requests get.
var errCut = errors.New("test: partitioned from the API server")

// cutTransport fails every request, and every read of a response already
// streaming (watches), while cut.
type cutTransport struct {
	cut  *atomic.Bool
	next http.RoundTripper
}

func (t cutTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.cut.Load() {
		return nil, errCut
	}
	resp, err := t.next.RoundTrip(r)
	if err == nil {
		resp.Body = cutBody{ReadCloser: resp.Body, cut: t.cut}
	}
	return resp, err
}

type cutBody struct {
	io.ReadCloser
	cut *atomic.Bool
}

func (b cutBody) Read(p []byte) (int, error) {
	if b.cut.Load() {
		return 0, errCut
	}
	return b.ReadCloser.Read(p)
}

// testMember is a member running on its own client, with the calls of its
// hooks recorded.
type testMember struct {
	*Member
	cut    atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	acquired []int
	drained  map[int]bool // shard → OwnsShard when Drain was called (last call)
}

type logWriter struct {
	t  *testing.T
	mu *sync.Mutex
	on *bool
}

func (w logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if *w.on {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func startMember(t *testing.T, c *testcluster.Cluster, ns, id string, log *slog.Logger) *testMember {
	t.Helper()
	tm := &testMember{done: make(chan struct{}), drained: map[int]bool{}}
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 200, 400
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return cutTransport{cut: &tm.cut, next: rt} })
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{
		Client: client, Namespace: ns, Prefix: "t", ID: id, Shards: testShards,
		RenewInterval: 500 * time.Millisecond, LeaseDuration: testDuration, SafetyMargin: time.Second,
		StableFor: 300 * time.Millisecond, StopTimeout: 10 * time.Second,
		OnAcquire: func(k int) {
			tm.mu.Lock()
			tm.acquired = append(tm.acquired, k)
			tm.mu.Unlock()
		},
		Drain: func(ctx context.Context, k int) {
			owns := tm.OwnsShard(k)
			tm.mu.Lock()
			tm.drained[k] = owns
			tm.mu.Unlock()
		},
		Log: log.With("member", id),
	})
	if err != nil {
		t.Fatal(err)
	}
	tm.Member = m
	ctx, cancel := context.WithCancel(context.Background())
	tm.cancel = cancel
	go func() {
		defer close(tm.done)
		if err := m.Run(ctx); err != nil {
			t.Errorf("%s: Run: %v", id, err)
		}
	}()
	t.Cleanup(tm.stop)
	return tm
}

// stop ends Run (gracefully unless cut) and waits for it.
func (tm *testMember) stop() {
	tm.cancel()
	<-tm.done
}

// change is a change of a shard Lease seen through the watch.
type change struct {
	holder   string
	renew    time.Time
	acquire  time.Time
	duration time.Duration
	seen     time.Time
}

// recorder records every version of the group's shard Leases.
type recorder struct {
	mu      sync.Mutex
	byShard map[string][]change
}

func record(t *testing.T, c *testcluster.Cluster, ns string) *recorder {
	t.Helper()
	rec := &recorder{byShard: map[string][]change{}}
	ctx, cancel := context.WithCancel(context.Background())
	leases := c.Client.CoordinationV1().Leases(ns)
	sel := GroupLabel + "=t," + RoleLabel + "=shard"
	list, err := leases.List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Fatalf("%d shard Leases before the test", len(list.Items))
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return leases.Watch(ctx, o)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			l, ok := ev.Object.(*coordinationv1.Lease)
			if !ok {
				if ev.Type == watch.Error {
					t.Errorf("watch of the shard Leases: %v", ev.Object)
				}
				continue
			}
			if ev.Type == watch.Deleted {
				t.Errorf("shard Lease %s deleted", l.Name)
				continue
			}
			ch := change{holder: holder(l), duration: time.Duration(ptrOr(l.Spec.LeaseDurationSeconds)) * time.Second, seen: time.Now()}
			if l.Spec.RenewTime != nil {
				ch.renew = l.Spec.RenewTime.Time
			}
			if l.Spec.AcquireTime != nil {
				ch.acquire = l.Spec.AcquireTime.Time
			}
			rec.mu.Lock()
			rec.byShard[l.Name] = append(rec.byShard[l.Name], ch)
			rec.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	return rec
}

// holdersSince returns the holder changes of shard k seen since t0 (holders in
// order, renewals left out).
func (r *recorder) holdersSince(k int, t0 time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	last := ""
	for i, ch := range r.byShard[fmt.Sprintf("t-shard-%d", k)] {
		if ch.seen.Before(t0) {
			last = ch.holder
			continue
		}
		if ch.holder != last || i == 0 {
			out = append(out, ch.holder)
		}
		last = ch.holder
	}
	return out
}

// check verifies every holder change: to "" (a release), from "" (taking a
// released Lease), or from X to Y only after X's Lease expired (its
// last renewal + duration before Y's acquire time). It returns the number
// of expired take-overs.
func (r *recorder) check(t *testing.T) (takeovers int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, changes := range r.byShard {
		if changes[0].holder == "" {
			t.Errorf("%s created without a holder", name)
		}
		for i := 1; i < len(changes); i++ {
			prev, cur := changes[i-1], changes[i]
			if prev.holder == cur.holder || prev.holder == "" || cur.holder == "" {
				continue
			}
			if expiry := prev.renew.Add(prev.duration); cur.acquire.Before(expiry) {
				t.Errorf("%s: %s took it from %s at %s, before it expired at %s", name, cur.holder, prev.holder,
					cur.acquire.Format(time.StampMicro), expiry.Format(time.StampMicro))
			}
			takeovers++
		}
	}
	return takeovers
}

// sampler checks, until stopped, that no shard is owned by two members at
// the same instant.
func sample(t *testing.T, members *[]*testMember, mu *sync.Mutex) (stop func() int) {
	quit, done := make(chan struct{}), make(chan struct{})
	var samples, violations int
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			default:
			}
			mu.Lock()
			ms := slices.Clone(*members)
			mu.Unlock()
			for k := range testShards {
				var owners []string
				for _, m := range ms {
					if m.OwnsShard(k) {
						owners = append(owners, m.ID())
					}
				}
				if len(owners) > 1 {
					if violations++; violations <= 10 {
						t.Errorf("shard %d owned by %v at once", k, owners)
					}
				}
			}
			samples++
			time.Sleep(time.Millisecond) // a sampling period, not synchronisation
		}
	}()
	return func() int {
		close(quit)
		<-done
		if violations > 10 {
			t.Errorf("%d samples found a shard owned twice", violations)
		}
		return samples
	}
}

// waitFor polls cond until it returns "" or waitLimit passes.
func waitFor(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %s", what, waitLimit, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settled returns "" once every shard's Lease is held by its owner in
// want, every member of running owns exactly the shards want gives it,
// and no member of gone owns any.
func settled(c *testcluster.Cluster, ns string, want []string, running, gone []*testMember) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := c.Client.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{LabelSelector: GroupLabel + "=t," + RoleLabel + "=shard"})
	if err != nil {
		return err.Error()
	}
	holders := map[string]string{}
	for _, l := range list.Items {
		holders[l.Name] = holder(&l)
	}
	for k, owner := range want {
		if h := holders[fmt.Sprintf("t-shard-%d", k)]; h != owner {
			return fmt.Sprintf("shard %d: Lease held by %q, assigned to %q", k, h, owner)
		}
		for _, m := range running {
			if m.OwnsShard(k) != (m.ID() == owner) {
				return fmt.Sprintf("shard %d: OwnsShard of %s is %t, assigned to %s", k, m.ID(), m.OwnsShard(k), owner)
			}
		}
		for _, m := range gone {
			if m.OwnsShard(k) {
				return fmt.Sprintf("shard %d: still owned by %s", k, m.ID())
			}
		}
	}
	return ""
}

func idsOf(ms ...*testMember) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID())
	}
	return out
}

// TestGroup runs a group on the real API server: three members split the
// shards; one is killed without releasing anything and the two others take
// its shards once its Leases expired; a fourth joins and takes only its
// own shards, each after its holder drained and released it; one is cut
// off from the API server and the others take its shards once expired;
// the others stop gracefully, releasing everything. Throughout, no shard
// is owned by two members at once (sampled), and every holder change seen
// through a watch is a release, a take of a released Lease, or a take-over
// of an expired one.
func TestGroup(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t, "shard")
	var logMu sync.Mutex
	logOn := true
	t.Cleanup(func() { logMu.Lock(); logOn = false; logMu.Unlock() })
	log := slog.New(slog.NewTextHandler(logWriter{t: t, mu: &logMu, on: &logOn}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rec := record(t, c, ns)

	var membersMu sync.Mutex
	var members []*testMember
	add := func(id string) *testMember {
		m := startMember(t, c, ns, id, log)
		membersMu.Lock()
		members = append(members, m)
		membersMu.Unlock()
		return m
	}
	stopSampling := sample(t, &members, &membersMu)
	began := time.Now()

	// Three members split the shards as Assignment says.
	a, b, cm := add("alpha"), add("bravo"), add("charlie")
	want3 := Assignment(idsOf(a, b, cm), testShards)
	waitFor(t, "three members hold their shards", func() string { return settled(c, ns, want3, []*testMember{a, b, cm}, nil) })
	t.Logf("three members settled after %s", time.Since(began).Round(time.Millisecond))
	for _, m := range []*testMember{a, b, cm} {
		st := m.Status()
		if !slices.Equal(st.Members, []string{"alpha", "bravo", "charlie"}) || !slices.Equal(st.Assigned, want3) {
			t.Errorf("%s: Status %+v", m.ID(), st)
		}
		m.mu.Lock()
		for _, k := range st.Held {
			if !slices.Contains(m.acquired, k) {
				t.Errorf("%s holds shard %d without OnAcquire", m.ID(), k)
			}
		}
		m.mu.Unlock()
	}

	// charlie is killed: its loop stops without releasing anything. Its
	// fences close by themselves, and alpha and bravo take its shards
	// once their Leases expired.
	killed := time.Now()
	cm.killed.Store(true)
	cm.stop()
	want2 := Assignment(idsOf(a, b), testShards)
	waitFor(t, "charlie's shards move to alpha and bravo", func() string {
		return settled(c, ns, want2, []*testMember{a, b}, []*testMember{cm})
	})
	t.Logf("charlie's shards taken over after %s", time.Since(killed).Round(time.Millisecond))
	for k, owner := range want3 {
		h := rec.holdersSince(k, killed)
		switch {
		case owner != "charlie" && len(h) != 0:
			t.Errorf("shard %d of %s changed hands when charlie was killed: %q", k, owner, h)
		case owner == "charlie" && !slices.Equal(h, []string{want2[k]}):
			t.Errorf("shard %d of charlie: holders %q since the kill, want %s taking it over", k, h, want2[k])
		}
	}

	// delta joins: it takes only the shards the assignment now gives it,
	// each after its holder drained and released it.
	joined := time.Now()
	d := add("delta")
	wantJ := Assignment(idsOf(a, b, d), testShards)
	waitFor(t, "delta takes its shards", func() string { return settled(c, ns, wantJ, []*testMember{a, b, d}, []*testMember{cm}) })
	t.Logf("delta settled after %s", time.Since(joined).Round(time.Millisecond))
	moved := 0
	for k := range wantJ {
		h := rec.holdersSince(k, joined)
		if wantJ[k] != "delta" {
			if len(h) != 0 {
				t.Errorf("shard %d of %s changed hands when delta joined: %q", k, wantJ[k], h)
			}
			continue
		}
		moved++
		old := map[string]*testMember{"alpha": a, "bravo": b}[want2[k]]
		if !slices.Equal(h, []string{"", "delta"}) {
			t.Errorf("shard %d moved from %s to delta through %q, want a release first", k, want2[k], h)
		}
		old.mu.Lock()
		owned, drained := old.drained[k]
		old.mu.Unlock()
		if !drained || !owned {
			t.Errorf("shard %d: %s released it without Drain while owning it (drained %t, owned then %t)", k, old.ID(), drained, owned)
		}
	}
	if moved == 0 || moved > testShards/2 {
		t.Errorf("delta took %d of %d shards, want about a third", moved, testShards)
	}
	t.Logf("delta took %d of %d shards", moved, testShards)

	// bravo is cut off from the API server: its renewals fail, its
	// fences close, it drains what it lost, and alpha and delta take its
	// shards once their Leases expired.
	cutAt := time.Now()
	b.cut.Store(true)
	wantC := Assignment(idsOf(a, d), testShards)
	waitFor(t, "bravo's shards move to alpha and delta", func() string {
		return settled(c, ns, wantC, []*testMember{a, d}, []*testMember{b, cm})
	})
	t.Logf("bravo's shards taken over after %s", time.Since(cutAt).Round(time.Millisecond))
	for k, owner := range wantJ {
		h := rec.holdersSince(k, cutAt)
		switch {
		case owner != "bravo" && len(h) != 0:
			t.Errorf("shard %d of %s changed hands when bravo was cut off: %q", k, owner, h)
		case owner == "bravo" && !slices.Equal(h, []string{wantC[k]}):
			t.Errorf("shard %d of bravo: holders %q since the cut, want %s taking it over", k, h, wantC[k])
		case owner == "bravo":
			b.mu.Lock()
			_, drained := b.drained[k]
			b.mu.Unlock()
			if !drained {
				t.Errorf("bravo lost shard %d without Drain", k)
			}
		}
	}

	// Stopping releases every shard and deletes the member Leases.
	for _, m := range []*testMember{a, d} {
		m.stop()
	}
	if n := stopSampling(); n < 100 {
		t.Errorf("only %d samples of ownership", n)
	}
	list, err := c.Client.CoordinationV1().Leases(ns).List(context.Background(), metav1.ListOptions{LabelSelector: GroupLabel + "=t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range list.Items {
		switch {
		case l.Labels[RoleLabel] == "shard" && holder(&l) != "":
			t.Errorf("%s still held by %s after the graceful stops", l.Name, holder(&l))
		case l.Labels[RoleLabel] == "member" && l.Name != "t-member-charlie" && l.Name != "t-member-bravo":
			t.Errorf("member Lease %s left after a graceful stop", l.Name)
		}
	}
	if n := rec.check(t); n == 0 {
		t.Error("no expired Lease taken over")
	}
	t.Logf("whole test %s", time.Since(began).Round(time.Millisecond))
}
