package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

// queuedCluster is a fakeCluster whose actions can be held, whose caches
// can lag behind its actions, and which tells the reconciler of every
// change it makes, as the informers do.
type queuedCluster struct {
	*fakeCluster
	r *reconcile.Reconciler

	mu        sync.Mutex
	gates     map[string]chan struct{} // store: Apply waits until closed
	started   map[string]int           // store: Apply calls begun
	revisions map[string]int           // store: release revision
	stale     map[string]*reconcile.ObservedStore
	lag       bool // ObserveStore shows the state before the last action
	// undo, if set, changes a store after each action, as a controller
	// that fights storeops would.
	undo func(*reconcile.ObservedStore)
	// onStart, if set, is told of every action's store as it begins.
	onStart     func(store string)
	observedAll int // Observe calls
}

func (q *queuedCluster) Observe() reconcile.Observed {
	q.mu.Lock()
	q.observedAll++
	q.mu.Unlock()
	return q.fakeCluster.Observe()
}

// StoreNames lists the stores without observing them, as the real
// observer does: Accept plans a revision that leaves none out from the
// stores it changes alone.
func (q *queuedCluster) StoreNames() []string {
	q.fakeCluster.mu.Lock()
	defer q.fakeCluster.mu.Unlock()
	var out []string
	for name := range q.fakeCluster.stores {
		out = append(out, name)
	}
	return out
}

func (q *queuedCluster) observedAllCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.observedAll
}

func newQueuedCluster() *queuedCluster {
	return &queuedCluster{fakeCluster: &fakeCluster{stores: map[string]*reconcile.ObservedStore{}},
		gates: map[string]chan struct{}{}, started: map[string]int{}, revisions: map[string]int{}, stale: map[string]*reconcile.ObservedStore{}}
}

func (q *queuedCluster) Apply(ctx context.Context, a reconcile.Action, rev string) error {
	q.mu.Lock()
	q.started[a.Store]++
	gate := q.gates[a.Store]
	if q.onStart != nil && a.Kind != reconcile.ActMark {
		q.onStart(a.Store)
	}
	if q.lag {
		if _, ok := q.stale[a.Store]; !ok {
			q.stale[a.Store] = q.fakeCluster.ObserveStore(a.Store)
		}
	}
	q.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := q.fakeCluster.Apply(ctx, a, rev)
	if a.Kind != reconcile.ActMark && err == nil {
		q.mu.Lock()
		q.revisions[a.Store]++
		rev := q.revisions[a.Store]
		q.mu.Unlock()
		q.fakeCluster.mu.Lock()
		if o := q.fakeCluster.stores[a.Store]; o != nil {
			o.Release.Revision = rev // Helm numbers each release record
			if q.undo != nil {
				q.undo(o)
			}
		}
		q.fakeCluster.mu.Unlock()
	}
	if a.Kind != reconcile.ActMark {
		q.r.Enqueue(a.Store) // the informers saw it
	}
	return err
}

func (q *queuedCluster) ObserveStore(name string) *reconcile.ObservedStore {
	q.mu.Lock()
	old, lagging := q.stale[name]
	q.mu.Unlock()
	if lagging {
		return old
	}
	return q.fakeCluster.ObserveStore(name)
}

// catchUp makes the caches show every action, and tells the reconciler.
func (q *queuedCluster) catchUp() {
	q.mu.Lock()
	q.lag = false
	names := make([]string, 0, len(q.stale))
	for n := range q.stale {
		names = append(names, n)
	}
	q.stale = map[string]*reconcile.ObservedStore{}
	q.mu.Unlock()
	for _, n := range names {
		q.r.Enqueue(n)
	}
}

func (q *queuedCluster) startedFor(store string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.started[store]
}

func (q *queuedCluster) appliedCopy() []string {
	q.fakeCluster.mu.Lock()
	defer q.fakeCluster.mu.Unlock()
	return append([]string{}, q.applied...)
}

func newQueueReconciler(q *queuedCluster) (*reconcile.Reconciler, *reconcile.Board) {
	board := reconcile.NewBoard()
	r := reconcile.New(q, q, board, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.ChartVersions = map[render.Type]string{render.WooCommerce: "1.0.0", render.Medusa: "1.0.0"}
	q.r = r
	return r, board
}

// runQueue starts q's reconciler workers for the test.
func runQueue(t *testing.T, q *queuedCluster, workers int) *reconcile.Board {
	t.Helper()
	r, board := newQueueReconciler(q)
	r.Workers = workers
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return board
}

// eventually waits until cond holds, failing the test after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling a condition, not a wait for an outcome
	}
}

func TestQueueActsOnANewStoreWhileAnotherIsStillBeingActedOn(t *testing.T) {
	q := newQueuedCluster()
	q.gates["a"] = make(chan struct{}) // a's install holds its worker
	board := runQueue(t, q, 2)

	if _, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, "stores:\n  - {name: a, type: woocommerce}\n"), Revision: "r1", Trigger: "push"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a's install to start", func() bool { return q.startedFor("a") == 1 })
	// A push adds b while a's install is still running: b is acted on
	// without waiting for a (no sync holds the others back).
	rec, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, "stores:\n  - {name: a, type: woocommerce}\n  - {name: b, type: medusa}\n"), Revision: "r2", Trigger: "push"})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Running {
		t.Fatalf("the record of r2 should be running until b is done: %+v", rec)
	}
	eventually(t, "b to be installed", func() bool {
		for _, s := range q.appliedCopy() {
			if s == "install b" {
				return true
			}
		}
		return false
	})
	if got := q.appliedCopy(); len(got) != 1 {
		t.Fatalf("applied %v, want only b's install while a's is held", got)
	}
	close(q.gates["a"])
	eventually(t, "both records to end", func() bool {
		h := board.Current().History
		return len(h) == 2 && !h[0].Running && !h[1].Running && !board.Current().Syncing
	})
	h := board.Current().History
	if h[0].Revision != "r2" || len(h[0].Actions) != 1 || h[0].Actions[0].Store != "b" ||
		h[1].Revision != "r1" || len(h[1].Actions) != 1 || h[1].Actions[0].Store != "a" {
		t.Fatalf("records: r2 %+v, r1 %+v", h[0], h[1])
	}
}

func TestQueueDoesNotActAgainBeforeTheCachesShowItsAction(t *testing.T) {
	q := newQueuedCluster()
	q.lag = true
	board := runQueue(t, q, 2)
	cfg := configOf(t, "stores:\n  - {name: a, type: woocommerce}\n")
	if _, err := q.r.Accept(reconcile.SyncInput{Config: cfg, Revision: "r1"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a's install", func() bool { return len(q.appliedCopy()) == 1 })
	// The informers report a change of a, but the caches still show a
	// without its release: planned from them, a would be installed again.
	for range 5 {
		q.r.Enqueue("a")
	}
	if _, err := q.r.Accept(reconcile.SyncInput{Config: cfg, Revision: "r1", Trigger: "schedule"}); err != nil {
		t.Fatal(err)
	}
	q.catchUp()
	eventually(t, "a to be Ready and the queue idle", func() bool {
		s, ok := board.Current().Store("a")
		return ok && s.Phase == reconcile.PhaseReady && !board.Current().Syncing
	})
	if got := q.appliedCopy(); len(got) != 1 {
		t.Fatalf("applied %v: acted again on stale caches", got)
	}
}

func TestQueueKeepsTheGuardOnEventsAndBackoff(t *testing.T) {
	q := newQueuedCluster()
	board := runQueue(t, q, 2)
	if _, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, three), Revision: "r1"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "three installs", func() bool { return len(q.appliedCopy()) == 3 && !board.Current().Syncing })

	_, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, ""), Revision: "r2"})
	var guard *reconcile.MassDeletionError
	if !errors.As(err, &guard) {
		t.Fatalf("want the guard's refusal, got %v", err)
	}
	// Events on the stores an emptied file would delete change nothing:
	// the revision in force is still r1.
	for _, s := range []string{"a", "b", "c"} {
		q.r.Enqueue(s)
	}
	if _, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, three), Revision: "r1", Trigger: "schedule"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the queue to be idle", func() bool { return !board.Current().Syncing })
	if got := q.appliedCopy(); len(got) != 3 {
		t.Fatalf("applied %v after a refused revision", got)
	}
	if _, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, ""), Revision: "r2", ConfirmDeletions: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "three deletes", func() bool { return len(q.appliedCopy()) == 6 && !board.Current().Syncing })
}

func TestRunLooksAtEveryStoreWhenItStarts(t *testing.T) {
	q := newQueuedCluster()
	r, board := newQueueReconciler(q)
	// Accepted before this replica leads: nothing acts yet.
	if _, err := r.Accept(reconcile.SyncInput{Config: configOf(t, three), Revision: "r1"}); err != nil {
		t.Fatal(err)
	}
	if got := q.appliedCopy(); len(got) != 0 {
		t.Fatalf("acted without workers: %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, "three installs", func() bool { return len(q.appliedCopy()) == 3 && !board.Current().Syncing })
}

func TestQueueBacksOffAChangeTheClusterKeepsUndoing(t *testing.T) {
	q := newQueuedCluster()
	q.undo = func(o *reconcile.ObservedStore) { o.Drifted = []string{"Deployment/web images"} }
	board := runQueue(t, q, 2)
	if _, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, "stores:\n  - {name: a, type: woocommerce}\n"), Revision: "r1"}); err != nil {
		t.Fatal(err)
	}
	// Install, then the drift repaired once, then again: that second time
	// shows the cluster undoes it, and the next try waits for a backoff
	// instead of following every informer event.
	eventually(t, "a backoff on the repeated upgrade", func() bool {
		return q.r.Retries()["a"].Failures == 1 && !board.Current().Syncing
	})
	got := q.appliedCopy()
	if len(got) != 3 || got[0] != "install a" || got[1] != "upgrade a" || got[2] != "upgrade a" {
		t.Fatalf("applied %v", got)
	}
	s, _ := board.Current().Store("a")
	if s.LastError != "" {
		t.Fatalf("a repeated change is not a failure: %+v", s)
	}
}

func TestQueueActsOnAPushAtOnceWhileEveryWorkerIsBusy(t *testing.T) {
	q := newQueuedCluster()
	for _, s := range []string{"a", "b", "c"} {
		q.gates[s] = make(chan struct{}) // the backlog's installs hold their workers
	}
	board := runQueue(t, q, 1)
	backlog := "stores:\n  - {name: a, type: woocommerce}\n  - {name: b, type: woocommerce}\n  - {name: c, type: medusa}\n"
	if _, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, backlog), Revision: "r1", Trigger: "push"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the one worker to start an install", func() bool {
		return q.startedFor("a")+q.startedFor("b")+q.startedFor("c") == 1
	})
	// A push adds d while the only worker is held and two stores wait: d
	// is acted on at once, ahead of the backlog.
	if _, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, backlog+"  - {name: d, type: medusa}\n"), Revision: "r2", Trigger: "push"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "d to be installed", func() bool {
		for _, s := range q.appliedCopy() {
			if s == "install d" {
				return true
			}
		}
		return false
	})
	if n := q.startedFor("a") + q.startedFor("b") + q.startedFor("c"); n != 1 {
		t.Fatalf("%d of the backlog's installs started before d's, want 1 (the one that held the worker)", n)
	}
	for _, s := range []string{"a", "b", "c"} {
		close(q.gates[s])
	}
	eventually(t, "every store to be installed and the queue idle", func() bool {
		return len(q.appliedCopy()) == 4 && !board.Current().Syncing
	})
}

func TestQueueTakesTheNewestRevisionsStoresFirst(t *testing.T) {
	q := newQueuedCluster()
	q.gates["a"], q.gates["a2"] = make(chan struct{}), make(chan struct{})
	var order []string
	var mu sync.Mutex
	q.onStart = func(store string) {
		mu.Lock()
		order = append(order, store)
		mu.Unlock()
	}
	board := runQueue(t, q, 1)
	stores := func(names ...string) *render.Config {
		y := "stores:\n"
		for _, n := range names {
			y += "  - {name: " + n + ", type: woocommerce}\n"
		}
		return configOf(t, y)
	}
	// Every revision here changes more stores than there are workers: no
	// express worker, the order is the queue's.
	if _, err := q.r.Accept(reconcile.SyncInput{Config: stores("a", "a2"), Revision: "r0"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "one install to hold the only worker", func() bool { return q.startedFor("a")+q.startedFor("a2") == 1 })
	// r1 adds b..e, then r2 adds f, g and h while the worker is held: r2's
	// go first, then the rest.
	if _, err := q.r.Accept(reconcile.SyncInput{Config: stores("a", "a2", "b", "c", "d", "e"), Revision: "r1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.r.Accept(reconcile.SyncInput{Config: stores("a", "a2", "b", "c", "d", "e", "f", "g", "h"), Revision: "r2"}); err != nil {
		t.Fatal(err)
	}
	close(q.gates["a"])
	close(q.gates["a2"])
	eventually(t, "every store to be installed and the queue idle", func() bool {
		return len(q.appliedCopy()) == 9 && !board.Current().Syncing
	})
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 9 {
		t.Fatalf("acted on %v", order)
	}
	then := slices.Sorted(slices.Values(order[1:4]))
	if !slices.Equal(then, []string{"f", "g", "h"}) {
		t.Fatalf("acted on in the order %s, want the one holding the worker, then r2's f, g, h, then the others", strings.Join(order, ","))
	}
}

func TestQueueDerivesOnlyTheStatusOfTheStoreAnEventNames(t *testing.T) {
	q := newQueuedCluster()
	r, board := newQueueReconciler(q)
	r.Workers = 2
	r.StatusRefresh = time.Hour // no periodic whole-fleet refresh in this test
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	cfg := "stores:\n"
	for i := range 20 {
		cfg += fmt.Sprintf("  - {name: s%d, type: woocommerce}\n", i)
	}
	if _, err := r.Accept(reconcile.SyncInput{Config: configOf(t, cfg), Revision: "r1"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every store installed and the queue idle", func() bool {
		return len(q.appliedCopy()) == 20 && !board.Current().Syncing
	})
	before := q.observedAllCount()
	// The caches show a new release revision of s7, and the informers
	// name s7: its status follows, without observing the whole fleet.
	q.fakeCluster.mu.Lock()
	q.fakeCluster.stores["s7"].Release.Revision = 42
	q.fakeCluster.mu.Unlock()
	r.Enqueue("s7")
	eventually(t, "s7's status to show release revision 42", func() bool {
		for _, s := range board.Current().Stores {
			if s.Name == "s7" {
				return s.ReleaseRevision == 42
			}
		}
		return false
	})
	if got := len(board.Current().Stores); got != 20 {
		t.Fatalf("snapshot has %d stores, want 20", got)
	}
	if n := q.observedAllCount() - before; n != 0 {
		t.Fatalf("the whole fleet was observed %d times for one store's event", n)
	}
}

// Pushes that come faster than the workers take them keep their place: a
// push's store stays first in line, for the express worker, when the next
// push comes.
func TestQueueKeepsAPushsPlaceWhenTheNextComes(t *testing.T) {
	q := newQueuedCluster()
	for _, s := range []string{"a", "a2", "p1"} {
		q.gates[s] = make(chan struct{})
	}
	board := runQueue(t, q, 1)
	names := []string{"a", "a2", "b", "c"}
	push := func(rev string, more ...string) {
		t.Helper()
		names = append(names, more...)
		y := "stores:\n"
		for _, n := range names {
			y += "  - {name: " + n + ", type: woocommerce}\n"
		}
		if _, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, y), Revision: rev}); err != nil {
			t.Fatal(err)
		}
	}
	push("r0") // a backlog of four: the one worker is held by a or a2
	eventually(t, "the worker to be held", func() bool { return q.startedFor("a")+q.startedFor("a2") == 1 })
	push("r1", "p1") // the express worker is held by p1
	eventually(t, "the express worker to be held", func() bool { return q.startedFor("p1") == 1 })
	push("r2", "p2") // both workers held: p2 waits first in line
	push("r3", "p3") // p2 must keep its place
	backlog := func() (n int) {
		for _, s := range []string{"a", "a2", "b", "c"} {
			n += q.startedFor(s)
		}
		return n
	}
	before := backlog()
	close(q.gates["p1"])
	// Only the express worker is free: it takes both pushes, and nothing
	// of the backlog.
	installed := func(s string) bool { return slices.Contains(q.appliedCopy(), "install "+s) }
	eventually(t, "p2 and p3 to be installed by the express worker", func() bool { return installed("p2") && installed("p3") })
	if n := backlog() - before; n != 0 {
		t.Errorf("%d actions of the backlog started while the worker was held, want none", n)
	}
	close(q.gates["a"])
	close(q.gates["a2"])
	eventually(t, "every store to be installed and the queue idle", func() bool {
		return len(q.appliedCopy()) == 7 && !board.Current().Syncing
	})
}

// A push is planned from the stores it changes: a store it leaves as it
// was is not planned again (its own events, backoff and the scheduled sync
// look at it), so the push's store waits for no observation of the whole
// fleet. The scheduled sync of the same revision still plans every store,
// and a revision that leaves stores out is judged whole by the guard.
// (Before, every push planned every store: this test failed at the first
// check, with the upgrade of s5 planned by the push.)
func TestQueuePlansAPushFromTheStoresItChanges(t *testing.T) {
	q := newQueuedCluster()
	board := runQueue(t, q, 2)
	var y strings.Builder
	y.WriteString("stores:\n")
	for i := range 20 {
		fmt.Fprintf(&y, "  - {name: s%d, type: woocommerce}\n", i)
	}
	fleet := y.String()
	if _, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, fleet), Revision: "r1"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "20 installs", func() bool { return len(q.appliedCopy()) == 20 && !board.Current().Syncing })

	// s5 drifts and no event says so (a missed event).
	q.fakeCluster.mu.Lock()
	q.fakeCluster.stores["s5"].Release.ValuesChecksum = "changed by hand"
	q.fakeCluster.mu.Unlock()

	pushed := fleet + "  - {name: new, type: medusa}\n"
	if _, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, pushed), Revision: "r2"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pushed store installed", func() bool { return len(q.appliedCopy()) >= 21 && !board.Current().Syncing })
	if got := q.appliedCopy()[20:]; !slices.Equal(got, []string{"install new"}) {
		t.Fatalf("the push acted on %v, want only its own store", got)
	}

	// The scheduled sync takes the same revision in again: every store.
	if _, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, pushed), Revision: "r2", Trigger: "schedule"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "s5 upgraded", func() bool { return len(q.appliedCopy()) == 22 && !board.Current().Syncing })
	if got := q.appliedCopy()[21]; got != "upgrade s5" {
		t.Fatalf("the scheduled sync acted: %s, want upgrade s5", got)
	}

	// A push that leaves most stores out is judged whole.
	_, err := q.r.Accept(reconcile.SyncInput{Config: configOf(t, "stores:\n  - {name: s0, type: woocommerce}\n"), Revision: "r3"})
	var guard *reconcile.MassDeletionError
	if !errors.As(err, &guard) || guard.Deletes != 20 {
		t.Fatalf("want the guard's refusal of 20 deletions, got %v", err)
	}
}
