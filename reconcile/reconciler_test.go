package reconcile_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

// fakeCluster is an Observation and an Applier over an in-memory state:
// applying an action changes what the next Observe returns.
type fakeCluster struct {
	mu      sync.Mutex
	stores  map[string]*reconcile.ObservedStore
	applied []string
	fail    map[string]error // store -> error of its next actions
}

var (
	_ reconcile.Observation = (*fakeCluster)(nil)
	_ reconcile.Applier     = (*fakeCluster)(nil)
)

func (f *fakeCluster) Observe() reconcile.Observed {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := reconcile.Observed{Stores: map[string]*reconcile.ObservedStore{}}
	for k, v := range f.stores {
		c := *v
		out.Stores[k] = &c
	}
	return out
}

func (f *fakeCluster) ObserveStore(name string) *reconcile.ObservedStore {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.stores[name]
	if !ok {
		return nil
	}
	c := *v
	return &c
}

func (f *fakeCluster) Apply(_ context.Context, a reconcile.Action, rev string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a.Kind == reconcile.ActMark {
		return nil // records on the namespace; nothing a plan depends on here
	}
	f.applied = append(f.applied, string(a.Kind)+" "+a.Store)
	if err := f.fail[a.Store]; err != nil {
		return err
	}
	switch a.Kind {
	case reconcile.ActDelete:
		delete(f.stores, a.Store)
	default:
		o := converged(*a.Desired)
		o.Release.GitRevision = rev
		f.stores[a.Store] = o
	}
	return nil
}

func newTestReconciler(f *fakeCluster) (*reconcile.Reconciler, *reconcile.Board) {
	board := reconcile.NewBoard()
	r := reconcile.New(f, f, board, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.ChartVersions = map[render.Type]string{render.WooCommerce: "1.0.0", render.Medusa: "1.0.0"}
	return r, board
}

func configOf(t testing.TB, yaml string) *render.Config {
	t.Helper()
	cfg, err := render.Parse("stores.yaml", []byte(yaml), render.Limits{MaxStores: 10000})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func renderAll(cfg *render.Config) []render.Desired { return render.Render(cfg) }

func TestReconcilerConvergesAndPublishes(t *testing.T) {
	f := &fakeCluster{stores: map[string]*reconcile.ObservedStore{}}
	r, board := newTestReconciler(f)
	ctx := context.Background()

	rec, err := r.Sync(ctx, reconcile.SyncInput{Config: configOf(t, three), Revision: "rev1", Trigger: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Summary["install"] != 3 || len(f.applied) != 3 {
		t.Fatalf("summary %v, applied %v", rec.Summary, f.applied)
	}
	snap := board.Current()
	if snap.Revision != "rev1" || len(snap.Stores) != 3 || len(snap.History) != 1 {
		t.Fatalf("snapshot %+v", snap)
	}
	for _, s := range snap.Stores {
		if s.Phase != reconcile.PhaseReady || s.AppliedRevision != "rev1" {
			t.Errorf("%s: %s %q", s.Name, s.Phase, s.Message)
		}
	}

	// A second sync has nothing to do.
	rec, err = r.Sync(ctx, reconcile.SyncInput{Config: configOf(t, three), Revision: "rev1"})
	if err != nil || len(rec.Actions) != 0 || len(f.applied) != 3 {
		t.Fatalf("second sync: %+v %v %v", rec, err, f.applied)
	}
	// Conditions keep their transition time when nothing changes.
	first := board.Current().Stores[0].Conditions[0].LastTransition
	r.Refresh()
	if got := board.Current().Stores[0].Conditions[0].LastTransition; !got.Equal(first) {
		t.Errorf("transition time moved: %v -> %v", first, got)
	}
}

func TestReconcilerBacksOffAfterFailure(t *testing.T) {
	f := &fakeCluster{stores: map[string]*reconcile.ObservedStore{}, fail: map[string]error{"b": errors.New("boom")}}
	r, board := newTestReconciler(f)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.Clock = func() time.Time { return now }
	ctx := context.Background()

	_, err := r.Sync(ctx, reconcile.SyncInput{Config: configOf(t, three), Revision: "r"})
	if !errors.Is(err, reconcile.ErrStoresFailed) {
		t.Fatalf("want ErrStoresFailed, got %v", err)
	}
	b, _ := board.Current().Store("b")
	if b.Phase != reconcile.PhaseFailed || b.LastError != "boom" {
		t.Fatalf("b: %+v", b)
	}
	if got := r.Retries()["b"]; got.Failures != 1 || !got.NotBefore.Equal(now.Add(10*time.Second)) {
		t.Fatalf("retry %+v", got)
	}
	// Within the backoff, b is not tried again.
	n := len(f.applied)
	if _, err := r.Sync(ctx, reconcile.SyncInput{Config: configOf(t, three), Revision: "r"}); err != nil {
		t.Fatal(err)
	}
	if len(f.applied) != n {
		t.Fatalf("retried during backoff: %v", f.applied[n:])
	}
	// After it, it is; success clears the backoff.
	now = now.Add(11 * time.Second)
	delete(f.fail, "b")
	if _, err := r.Sync(ctx, reconcile.SyncInput{Config: configOf(t, three), Revision: "r"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Retries()["b"]; ok || f.applied[len(f.applied)-1] != "install b" {
		t.Fatalf("retries %v applied %v", r.Retries(), f.applied)
	}
}

func TestReconcilerGuardRefusesAndKeepsStores(t *testing.T) {
	f := &fakeCluster{stores: map[string]*reconcile.ObservedStore{}}
	r, board := newTestReconciler(f)
	ctx := context.Background()
	if _, err := r.Sync(ctx, reconcile.SyncInput{Config: configOf(t, three), Revision: "r1"}); err != nil {
		t.Fatal(err)
	}
	_, err := r.Sync(ctx, reconcile.SyncInput{Config: configOf(t, ""), Revision: "r2"})
	var guard *reconcile.MassDeletionError
	if !errors.As(err, &guard) {
		t.Fatalf("want guard, got %v", err)
	}
	snap := board.Current()
	if snap.Refused == nil || snap.Refused.Reason != "MassDeletion" || len(f.stores) != 3 {
		t.Fatalf("refused %+v, stores %d", snap.Refused, len(f.stores))
	}
	if snap.History[0].Refused == nil {
		t.Errorf("history does not show the refusal")
	}
	// Confirmed, the deletions go through.
	if _, err := r.Sync(ctx, reconcile.SyncInput{Config: configOf(t, ""), Revision: "r2", ConfirmDeletions: true}); err != nil {
		t.Fatal(err)
	}
	if len(f.stores) != 0 || board.Current().Refused != nil {
		t.Fatalf("after confirmation: %d stores, refused %+v", len(f.stores), board.Current().Refused)
	}
}

func TestRefuseKeepsLastGoodState(t *testing.T) {
	f := &fakeCluster{stores: map[string]*reconcile.ObservedStore{}}
	r, board := newTestReconciler(f)
	if _, err := r.Sync(context.Background(), reconcile.SyncInput{Config: configOf(t, three), Revision: "good"}); err != nil {
		t.Fatal(err)
	}
	r.Refuse("bad", "webhook", &reconcile.Refusal{Reason: "InvalidConfig", Message: "stores.yaml has 1 problem",
		Errors: []string{`stores.yaml:2:11: stores[0].name: "X" is not a DNS label`}})
	snap := board.Current()
	if snap.Revision != "good" || len(snap.Stores) != 3 || snap.Refused == nil || snap.History[0].Revision != "bad" {
		t.Fatalf("%+v", snap)
	}
}

// memJudge records the first verdict on each revision, as the sync Lease
// does for sharded replicas.
type memJudge struct {
	mu       sync.Mutex
	verdicts map[string]string // revision: refusal ("" lets it through)
}

func (j *memJudge) judge(revision, refusal string) (bool, string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if v, ok := j.verdicts[revision]; ok {
		return v != "", v
	}
	j.verdicts[revision] = refusal
	return refusal != "", refusal
}

// Replicas sharing the stores judge a revision from caches that may
// differ for a moment: one that has not seen a store yet counts fewer
// managed stores and so allows fewer deletions. Each judging alone, one
// deleted its share of a revision the other refused (half-applied); with
// a Judge, the first verdict recorded holds for both, either way.
func TestShardedReplicasJudgeARevisionOnce(t *testing.T) {
	const four = "stores:\n  - {name: a, type: woocommerce}\n  - {name: b, type: medusa}\n  - {name: c, type: woocommerce}\n  - {name: d, type: woocommerce}\n"
	const twoLeft = "stores:\n  - {name: c, type: woocommerce}\n  - {name: d, type: woocommerce}\n"
	for _, c := range []struct {
		name      string
		judge     bool
		firstSees int // stores the first replica to judge has in its cache
		want      int // stores left after both acted
	}{
		{"alone", false, 3, 3}, // half-applied: the bug
		{"judged, first sees all", true, 4, 2},
		{"judged, first lags", true, 3, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			shared := map[string]*reconcile.ObservedStore{}
			for _, d := range renderAll(configOf(t, four)) {
				shared[d.Store.Name] = converged(d)
			}
			var mu sync.Mutex // the one cluster both replicas act on
			left := func() int { mu.Lock(); defer mu.Unlock(); return len(shared) }
			j := &memJudge{verdicts: map[string]string{}}
			replica := func(sees int, owns ...string) *reconcile.Reconciler {
				view := &fakeCluster{stores: map[string]*reconcile.ObservedStore{}}
				for _, n := range []string{"a", "b", "c", "d"}[:sees] {
					view.stores[n] = shared[n]
				}
				r, _ := newTestReconciler(view)
				r.Owns = func(s string) bool { return slices.Contains(owns, s) }
				if c.judge {
					r.Judge = j.judge
				}
				return r
			}
			// The first to judge owns b (d, which it may not have seen,
			// is nobody's here); the other, which has seen every
			// store, owns a.
			first, second := replica(c.firstSees, "b"), replica(4, "a", "c")
			// Each replica's deletions reach the shared cluster.
			for _, r := range []*reconcile.Reconciler{first, second} {
				rec, _ := r.Sync(ctx, reconcile.SyncInput{Config: configOf(t, twoLeft), Revision: "r2"})
				mu.Lock()
				for _, a := range rec.Actions {
					if a.Kind == reconcile.ActDelete && a.Error == "" {
						delete(shared, a.Store)
					}
				}
				mu.Unlock()
			}
			if got := left(); got != c.want {
				t.Errorf("%d stores left, want %d", got, c.want)
			}
		})
	}
}
