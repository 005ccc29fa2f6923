package intake

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

const (
	storesA   = "stores:\n  - name: alpha\n    type: woocommerce\n"
	storesAB  = storesA + "  - name: beta\n    type: medusa\n"
	storesBad = storesA + "  - name: Bad_Name\n    type: medusa\n"
	describe  = "the test repository (branch main, stores.yaml)"
)

// call is one call to the fake Target.
type call struct {
	Kind     string // apply, show or refuse
	Revision string
	Trigger  string
	Stores   []string // of the config applied or shown
	Held     *reconcile.Refusal
	Refusal  *reconcile.Refusal // refuse
	Confirm  bool               // apply: ConfirmDeletions
}

// handed is a refusal handed to the Target and what it said then.
type handed struct {
	ptr  *reconcile.Refusal
	copy reconcile.Refusal
}

// fakeTarget records what it is handed, and checks at the end of the
// test that nothing handed to it changed afterwards: an Apply that
// only enqueues the work may read it later.
type fakeTarget struct {
	mu       sync.Mutex
	calls    []call
	handed   []handed
	applyCtx []context.Context
}

func newFakeTarget(t *testing.T) *fakeTarget {
	f := &fakeTarget{}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, h := range f.handed {
			if diff := cmp.Diff(h.copy, *h.ptr); diff != "" {
				t.Errorf("a refusal changed after it was handed over (-then +now):\n%s", diff)
			}
		}
	})
	return f
}

func (f *fakeTarget) keep(r *reconcile.Refusal) {
	if r != nil {
		f.handed = append(f.handed, handed{ptr: r, copy: reconcile.Refusal{Reason: r.Reason, Message: r.Message, Errors: append([]string(nil), r.Errors...)}})
	}
}

func storeNames(cfg *render.Config) []string {
	var names []string
	for _, s := range cfg.Stores() {
		names = append(names, s.Name)
	}
	return names
}

func (f *fakeTarget) Apply(ctx context.Context, in reconcile.SyncInput) (reconcile.SyncRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keep(in.Held)
	f.applyCtx = append(f.applyCtx, ctx)
	f.calls = append(f.calls, call{Kind: "apply", Revision: in.Revision, Trigger: in.Trigger,
		Stores: storeNames(in.Config), Held: in.Held, Confirm: in.ConfirmDeletions})
	return reconcile.SyncRecord{Revision: in.Revision, Trigger: in.Trigger}, ctx.Err()
}

func (f *fakeTarget) Show(cfg *render.Config, revision string, held *reconcile.Refusal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keep(held)
	f.calls = append(f.calls, call{Kind: "show", Revision: revision, Stores: storeNames(cfg), Held: held})
}

func (f *fakeTarget) Refuse(revision, trigger string, refusal *reconcile.Refusal) reconcile.SyncRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keep(refusal)
	f.calls = append(f.calls, call{Kind: "refuse", Revision: revision, Trigger: trigger, Refusal: refusal})
	return reconcile.SyncRecord{Revision: revision, Trigger: trigger, Refused: refusal}
}

// take returns the calls since the previous take.
func (f *fakeTarget) take() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// hookLog records the hooks' calls.
type hookLog struct {
	mu      sync.Mutex
	events  []string // picked REV, refused REV, applied REV
	fetched []error
	leading context.Context // nil: following
}

func (h *hookLog) add(e string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

func (h *hookLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.events
	h.events = nil
	return e
}

func (h *hookLog) fetches() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.fetched
	h.fetched = nil
	return f
}

// setLeading makes the replica lead within ctx.
func (h *hookLog) setLeading(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leading = ctx
}

// follow makes the replica a follower.
func (h *hookLog) follow() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leading = nil
}

// fixture is an Intake on a real Git server, with a fake Target.
type fixture struct {
	t      *testing.T
	srv    *gittest.Server
	repo   *gittest.Repo
	target *fakeTarget
	hooks  *hookLog
	in     *Intake
	parses int
}

// newFixture serves a repository holding stores (and no stores.yaml
// when stores is empty) and reads it with a Source on cacheDir (""
// for memory only). The Intake leads.
func newFixture(t *testing.T, stores, cacheDir string) *fixture {
	t.Helper()
	srv := gittest.NewServer(t)
	files := map[string]string{"README": "test\n"}
	if stores != "" {
		files["stores.yaml"] = stores
	}
	f := &fixture{t: t, srv: srv, repo: srv.NewRepo(t, "config", files)}
	f.in = f.newIntake(f.newSource(cacheDir))
	return f
}

// newSource reads the fixture's repository. The timeout is generous:
// tests stop the server or cancel, never wait for it.
func (f *fixture) newSource(cacheDir string) *gitsource.Source {
	f.t.Helper()
	src, err := gitsource.New(gitsource.Config{URL: f.repo.URL(), Dir: cacheDir, Timeout: time.Minute}, nil)
	if err != nil {
		f.t.Fatalf("gitsource.New: %v", err)
	}
	return src
}

// newIntake makes a fresh Intake (a restarted daemon) on src, with a
// fresh Target and hooks, counting parses.
func (f *fixture) newIntake(src Source) *Intake {
	f.target = newFakeTarget(f.t)
	f.hooks = &hookLog{leading: context.Background()}
	h := f.hooks
	in := New(Config{
		Source:   src,
		Target:   f.target,
		Describe: describe,
		Hooks: Hooks{
			Leading: func() context.Context {
				h.mu.Lock()
				defer h.mu.Unlock()
				return h.leading
			},
			ConfirmsDeletions: func(rev string) bool { return strings.HasPrefix(rev, "c0ffee") },
			Fetched: func(_ time.Duration, err error) {
				h.mu.Lock()
				defer h.mu.Unlock()
				h.fetched = append(h.fetched, err)
			},
			Refused: func(rev string, _ *reconcile.Refusal) { h.add("refused " + rev) },
			Picked:  func(rev string) { h.add("picked " + rev) },
			Applied: func(rec reconcile.SyncRecord, _ error) { h.add("applied " + rec.Revision) },
		},
	})
	parse := in.parse
	in.parse = func(path string, data []byte, limits render.Limits) (*render.Config, error) {
		f.parses++
		return parse(path, data, limits)
	}
	f.parses = 0
	return in
}

// sync runs one Sync and returns the Target's calls.
func (f *fixture) sync(trigger string) []call {
	f.t.Helper()
	f.in.Sync(context.Background(), trigger)
	return f.target.take()
}

// expect compares calls with want, ignoring refusals' and held
// refusals' contents (checked apart).
func (f *fixture) expect(what string, got, want []call) {
	f.t.Helper()
	opt := cmp.Comparer(func(a, b *reconcile.Refusal) bool { return (a == nil) == (b == nil) })
	if diff := cmp.Diff(want, got, opt); diff != "" {
		f.t.Fatalf("%s (-want +got):\n%s", what, diff)
	}
}

// expectCounts checks the requests the last Sync made to the server and
// resets the counters.
func (f *fixture) expectCounts(what string, infoRefs, uploadPack int64) {
	f.t.Helper()
	c := f.srv.Counts()
	f.srv.ResetCounts()
	if c.InfoRefs != infoRefs || c.UploadPack != uploadPack {
		f.t.Fatalf("%s: %d ref listings and %d upload-packs, want %d and %d", what, c.InfoRefs, c.UploadPack, infoRefs, uploadPack)
	}
}

var some = &reconcile.Refusal{} // any refusal, in expect

func TestAppliesTheHeadOfTheBranch(t *testing.T) {
	f := newFixture(t, storesA, "")
	rev1 := f.repo.Head(t, "main")

	f.expect("first sync", f.sync("start"), []call{
		{Kind: "apply", Revision: rev1, Trigger: "start", Stores: []string{"alpha"}},
	})
	if got, want := f.hooks.take(), []string{"picked " + rev1, "applied " + rev1}; !cmp.Equal(got, want) {
		t.Fatalf("hooks = %q, want %q", got, want)
	}
	if errs := f.hooks.fetches(); len(errs) != 1 || errs[0] != nil {
		t.Fatalf("fetches observed: %v, want one without error", errs)
	}

	// Unchanged: applied again (level-triggered), neither fetched nor
	// parsed again.
	f.srv.ResetCounts()
	f.expect("unchanged", f.sync("schedule"), []call{
		{Kind: "apply", Revision: rev1, Trigger: "schedule", Stores: []string{"alpha"}},
	})
	f.expectCounts("unchanged", 1, 0)
	if f.parses != 1 {
		t.Fatalf("%d parses, want 1", f.parses)
	}

	rev2 := f.repo.Commit(t, map[string]string{"stores.yaml": storesAB}, "Add beta")
	f.expect("new commit", f.sync("webhook"), []call{
		{Kind: "apply", Revision: rev2, Trigger: "webhook", Stores: []string{"alpha", "beta"}},
	})
	if f.parses != 2 {
		t.Fatalf("%d parses, want 2", f.parses)
	}
}

func TestConfirmsDeletionsOfTheRevision(t *testing.T) {
	f := newFixture(t, storesA, "")
	var asked []string
	f.in.cfg.Hooks.ConfirmsDeletions = func(rev string) bool {
		asked = append(asked, rev)
		return true
	}
	got := f.sync("start")
	if len(got) != 1 || !got[0].Confirm || !cmp.Equal(asked, []string{f.repo.Head(t, "main")}) {
		t.Fatalf("calls %+v after asking about %q, want one apply confirming the head's deletions", got, asked)
	}
}

func TestInvalidRevisionRefusedOnceWhileTheLastGoodStays(t *testing.T) {
	f := newFixture(t, storesA, "")
	good := f.repo.Head(t, "main")
	f.sync("start")
	f.hooks.take()

	bad := f.repo.Commit(t, map[string]string{"stores.yaml": storesBad}, "Break it")
	calls := f.sync("webhook")
	f.expect("the bad commit", calls, []call{
		{Kind: "refuse", Revision: bad, Trigger: "webhook", Refusal: some},
		{Kind: "apply", Revision: good, Trigger: "webhook", Stores: []string{"alpha"}, Held: some},
	})
	refusal := calls[0].Refusal
	want := &reconcile.Refusal{
		Reason:  ReasonInvalidConfig,
		Message: "stores.yaml at " + bad[:12] + " has 1 problem(s); the last good revision stays applied",
		Errors:  []string{`stores.yaml:4:11: stores[1].name: "Bad_Name" is not a DNS label (lowercase letters, digits and '-', starting and ending with a letter or digit)`},
	}
	if diff := cmp.Diff(want, refusal); diff != "" {
		t.Fatalf("refusal (-want +got):\n%s", diff)
	}
	if calls[1].Held != refusal {
		t.Fatalf("held %+v, want the refusal", calls[1].Held)
	}
	if got, want := f.hooks.take(), []string{"refused " + bad, "picked " + good, "applied " + good}; !cmp.Equal(got, want) {
		t.Fatalf("hooks = %q, want %q", got, want)
	}

	// Polling the bad revision: the last good one is applied with the
	// refusal held, nothing reported, fetched or parsed again.
	parses := f.parses
	for range 3 {
		f.srv.ResetCounts()
		calls := f.sync("schedule")
		f.expect("polling the bad commit", calls, []call{
			{Kind: "apply", Revision: good, Trigger: "schedule", Stores: []string{"alpha"}, Held: some},
		})
		if calls[0].Held != refusal {
			t.Fatalf("held %+v, want the refusal", calls[0].Held)
		}
		f.expectCounts("polling the bad commit", 1, 0)
	}
	if f.parses != parses {
		t.Fatalf("the bad revision was parsed %d more times", f.parses-parses)
	}
	if got := f.hooks.take(); len(got) != 6 || slicesContainPrefix(got, "refused") {
		t.Fatalf("hooks while polling: %q", got)
	}

	// Another bad commit is refused in turn.
	bad2 := f.repo.Commit(t, map[string]string{"stores.yaml": storesBad + "# still bad\n"}, "Still broken")
	f.expect("a second bad commit", f.sync("webhook"), []call{
		{Kind: "refuse", Revision: bad2, Trigger: "webhook", Refusal: some},
		{Kind: "apply", Revision: good, Trigger: "webhook", Stores: []string{"alpha"}, Held: some},
	})

	// A good commit: applied, nothing held, and polling it costs one
	// ref listing again.
	fixed := f.repo.Commit(t, map[string]string{"stores.yaml": storesAB}, "Fix it")
	f.expect("the fix", f.sync("webhook"), []call{
		{Kind: "apply", Revision: fixed, Trigger: "webhook", Stores: []string{"alpha", "beta"}},
	})
	f.srv.ResetCounts()
	f.expect("polling the fix", f.sync("schedule"), []call{
		{Kind: "apply", Revision: fixed, Trigger: "schedule", Stores: []string{"alpha", "beta"}},
	})
	f.expectCounts("polling the fix", 1, 0)
}

func slicesContainPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// A revision without stores.yaml is one memory with invalid ones: refused
// once (as the source error Fetch returns), never fetched again.
func TestMissingFileRefusedOnce(t *testing.T) {
	f := newFixture(t, storesA, "")
	good := f.repo.Head(t, "main")
	f.sync("start")
	f.hooks.fetches()

	gone := f.repo.Remove(t, "main", "Remove the stores", "stores.yaml")
	calls := f.sync("webhook")
	f.expect("the commit without stores.yaml", calls, []call{
		{Kind: "refuse", Revision: "", Trigger: "webhook", Refusal: some},
		{Kind: "apply", Revision: good, Trigger: "webhook", Stores: []string{"alpha"}, Held: some},
	})
	r := calls[0].Refusal
	if r.Reason != ReasonSourceUnavailable || !strings.HasPrefix(r.Message, "cannot fetch "+describe+": file not found: stores.yaml at "+gone) ||
		!strings.HasSuffix(r.Message, "; the last good revision stays applied") {
		t.Fatalf("refusal %+v", r)
	}
	if calls[1].Held != r {
		t.Fatalf("held %+v, want the refusal", calls[1].Held)
	}
	if got := f.hooks.take(); slicesContainPrefix(got, "refused") {
		t.Fatalf("hooks %q: the commit status hook is for invalid files", got)
	}

	for range 2 {
		f.srv.ResetCounts()
		calls := f.sync("schedule")
		f.expect("polling the commit without stores.yaml", calls, []call{
			{Kind: "apply", Revision: good, Trigger: "schedule", Stores: []string{"alpha"}, Held: some},
		})
		if calls[0].Held.Message != r.Message {
			t.Fatalf("held %+v, want %+v", calls[0].Held, r)
		}
		f.expectCounts("polling the commit without stores.yaml", 1, 0)
	}
	// Each look counts as a failed fetch of stores.yaml.
	if errs := f.hooks.fetches(); len(errs) != 3 || !errors.Is(errs[0], gitsource.ErrFileNotFound) || !errors.Is(errs[2], gitsource.ErrFileNotFound) {
		t.Fatalf("fetches observed: %v", errs)
	}

	restored := f.repo.Commit(t, map[string]string{"stores.yaml": storesAB}, "Restore the stores")
	f.expect("restored", f.sync("webhook"), []call{
		{Kind: "apply", Revision: restored, Trigger: "webhook", Stores: []string{"alpha", "beta"}},
	})
}

func TestGitDownReportedOnceThenRecovery(t *testing.T) {
	f := newFixture(t, storesA, "")
	good := f.repo.Head(t, "main")
	f.sync("start")
	f.hooks.fetches()

	for outage := range 2 {
		f.srv.Stop()
		calls := f.sync("schedule")
		f.expect("Git down", calls, []call{
			{Kind: "refuse", Revision: "", Trigger: "schedule", Refusal: some},
			{Kind: "apply", Revision: good, Trigger: "schedule", Stores: []string{"alpha"}, Held: some},
		})
		r := calls[0].Refusal
		if r.Reason != ReasonSourceUnavailable || !strings.HasPrefix(r.Message, "cannot fetch "+describe+": list refs "+f.repo.URL()) ||
			!strings.HasSuffix(r.Message, "; the last good revision stays applied") || strings.Contains(r.Message, "cache") {
			t.Fatalf("outage %d: refusal %+v", outage, r)
		}
		if calls[1].Held != r {
			t.Fatalf("held %+v, want the refusal", calls[1].Held)
		}
		for range 2 {
			calls := f.sync("schedule")
			f.expect("Git still down", calls, []call{
				{Kind: "apply", Revision: good, Trigger: "schedule", Stores: []string{"alpha"}, Held: some},
			})
			if calls[0].Held.Message != r.Message {
				t.Fatalf("held %+v, want %+v", calls[0].Held, r)
			}
		}
		if errs := f.hooks.fetches(); len(errs) != 3 || errs[0] == nil || errs[2] == nil {
			t.Fatalf("fetches observed while down: %v", errs)
		}

		f.srv.Start(t)
		f.expect("Git back", f.sync("schedule"), []call{
			{Kind: "apply", Revision: good, Trigger: "schedule", Stores: []string{"alpha"}},
		})
		f.hooks.fetches()
	}

	// Back, with a new commit.
	rev := f.repo.Commit(t, map[string]string{"stores.yaml": storesAB}, "Add beta")
	f.expect("a new commit after the outage", f.sync("webhook"), []call{
		{Kind: "apply", Revision: rev, Trigger: "webhook", Stores: []string{"alpha", "beta"}},
	})
}

// A revision without stores.yaml followed by an outage: each is reported
// when it starts, as before the intake had one memory of both.
func TestMissingFileThenGitDown(t *testing.T) {
	f := newFixture(t, storesA, "")
	f.sync("start")
	f.repo.Remove(t, "main", "Remove the stores", "stores.yaml")
	if calls := f.sync("webhook"); len(calls) != 2 || calls[0].Kind != "refuse" {
		t.Fatalf("the commit without stores.yaml: %+v", calls)
	}
	f.srv.Stop()
	if calls := f.sync("schedule"); len(calls) != 2 || calls[0].Kind != "refuse" || !strings.Contains(calls[0].Refusal.Message, "list refs") {
		t.Fatalf("Git down: %+v", calls)
	}
	f.srv.Start(t)
	calls := f.sync("schedule")
	if len(calls) != 2 || calls[0].Kind != "refuse" || !strings.Contains(calls[0].Refusal.Message, "file not found") {
		t.Fatalf("Git back on the commit without stores.yaml: %+v", calls)
	}
	f.srv.ResetCounts()
	if calls := f.sync("schedule"); len(calls) != 1 || calls[0].Kind != "apply" {
		t.Fatalf("polling again: %+v", calls)
	}
	f.expectCounts("polling again", 1, 0)
}

// An invalid revision followed by an outage: the outage is reported, the
// invalid revision is not reported again once Git is back.
func TestInvalidRevisionThenGitDown(t *testing.T) {
	f := newFixture(t, storesA, "")
	f.sync("start")
	bad := f.repo.Commit(t, map[string]string{"stores.yaml": storesBad}, "Break it")
	calls := f.sync("webhook")
	if len(calls) != 2 || calls[0].Kind != "refuse" || calls[0].Revision != bad {
		t.Fatalf("the bad commit: %+v", calls)
	}
	refusal := calls[0].Refusal
	f.srv.Stop()
	if calls := f.sync("schedule"); len(calls) != 2 || calls[0].Kind != "refuse" || calls[0].Refusal.Reason != ReasonSourceUnavailable {
		t.Fatalf("Git down: %+v", calls)
	}
	f.srv.Start(t)
	parses := f.parses
	calls = f.sync("schedule")
	if len(calls) != 1 || calls[0].Kind != "apply" || calls[0].Held != refusal {
		t.Fatalf("Git back on the bad commit: %+v", calls)
	}
	if f.parses != parses {
		t.Fatal("the bad revision was parsed again")
	}
}

func TestCacheFallbackAtStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	f := newFixture(t, storesA, dir)
	cached := f.repo.Head(t, "main")
	f.sync("start")

	// Restart while Git is down: the cached revision is applied.
	f.srv.Stop()
	f.in = f.newIntake(f.newSource(dir))
	calls := f.sync("start")
	f.expect("a start with Git down", calls, []call{
		{Kind: "refuse", Revision: "", Trigger: "start", Refusal: some},
		{Kind: "apply", Revision: cached, Trigger: "start", Stores: []string{"alpha"}, Held: some},
	})
	r := calls[0].Refusal
	if r.Reason != ReasonSourceUnavailable || !strings.HasPrefix(r.Message, "cannot fetch "+describe+": ") ||
		!strings.HasSuffix(r.Message, "; the last good revision stays applied; serving revision "+cached[:12]+" from the cache") {
		t.Fatalf("refusal %+v", r)
	}
	if calls[1].Held != r {
		t.Fatalf("held %+v, want the refusal", calls[1].Held)
	}
	// Still down: reported once, and the status still says where the
	// revision in force comes from; the cache is read once.
	calls = f.sync("schedule")
	f.expect("still down", calls, []call{
		{Kind: "apply", Revision: cached, Trigger: "schedule", Stores: []string{"alpha"}, Held: some},
	})
	if calls[0].Held.Message != r.Message {
		t.Fatalf("held %+v, want %+v", calls[0].Held, r)
	}
	if f.parses != 1 {
		t.Fatalf("%d parses, want 1", f.parses)
	}

	// Back up on the same revision: nothing to fetch or parse.
	f.srv.Start(t)
	f.srv.ResetCounts()
	f.expect("Git back", f.sync("schedule"), []call{
		{Kind: "apply", Revision: cached, Trigger: "schedule", Stores: []string{"alpha"}},
	})
	f.expectCounts("Git back", 1, 0)
	if f.parses != 1 {
		t.Fatalf("%d parses, want 1", f.parses)
	}

	// Fetched since: a new outage no longer speaks of the cache.
	f.srv.Stop()
	calls = f.sync("schedule")
	if len(calls) != 2 || calls[0].Kind != "refuse" || strings.Contains(calls[0].Refusal.Message, "cache") {
		t.Fatalf("a later outage: %+v", calls)
	}
}

func TestCacheFallbackWithoutAGoodCache(t *testing.T) {
	t.Run("no cache dir", func(t *testing.T) {
		f := newFixture(t, storesA, "")
		f.srv.Stop()
		calls := f.sync("start")
		f.expect("a start with Git down", calls, []call{{Kind: "refuse", Trigger: "start", Refusal: some}})
		if strings.Contains(calls[0].Refusal.Message, "cache") {
			t.Fatalf("refusal %+v", calls[0].Refusal)
		}
		f.expect("still down", f.sync("schedule"), nil)
	})
	t.Run("invalid cached revision", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "cache")
		f := newFixture(t, storesBad, dir)
		bad := f.repo.Head(t, "main")
		f.expect("the bad first revision", f.sync("start"), []call{{Kind: "refuse", Revision: bad, Trigger: "start", Refusal: some}})
		f.srv.Stop()
		f.in = f.newIntake(f.newSource(dir))
		calls := f.sync("start")
		f.expect("a start with Git down", calls, []call{{Kind: "refuse", Trigger: "start", Refusal: some}})
		if calls[0].Refusal.Reason != ReasonSourceUnavailable || strings.Contains(calls[0].Refusal.Message, "from the cache") {
			t.Fatalf("refusal %+v", calls[0].Refusal)
		}
		// Back up on the bad revision: refused as such, once.
		f.srv.Start(t)
		f.expect("Git back", f.sync("schedule"), []call{{Kind: "refuse", Revision: bad, Trigger: "schedule", Refusal: some}})
		f.expect("polling", f.sync("schedule"), nil)
	})
}

func TestFollowerShowsInsteadOfApplying(t *testing.T) {
	f := newFixture(t, storesA, "")
	good := f.repo.Head(t, "main")
	f.hooks.follow()
	f.expect("following", f.sync("start"), []call{
		{Kind: "show", Revision: good, Stores: []string{"alpha"}},
	})
	bad := f.repo.Commit(t, map[string]string{"stores.yaml": storesBad}, "Break it")
	calls := f.sync("webhook")
	f.expect("following a bad commit", calls, []call{
		{Kind: "refuse", Revision: bad, Trigger: "webhook", Refusal: some},
		{Kind: "show", Revision: good, Stores: []string{"alpha"}, Held: some},
	})
	if calls[1].Held != calls[0].Refusal {
		t.Fatalf("held %+v, want the refusal", calls[1].Held)
	}
	// The refusal hook runs on followers too (the caller decides whether
	// a follower reports it); nothing is picked or applied.
	if got, want := f.hooks.take(), []string{"refused " + bad}; !cmp.Equal(got, want) {
		t.Fatalf("hooks = %q, want %q", got, want)
	}

	// Elected: the same revision is applied, the refusal still held.
	f.hooks.setLeading(context.Background())
	f.expect("leading", f.sync("leader elected"), []call{
		{Kind: "apply", Revision: good, Trigger: "leader elected", Stores: []string{"alpha"}, Held: some},
	})
}

// Apply runs within the leadership's context and Sync's, and its context
// ends when it returns.
func TestApplyContext(t *testing.T) {
	f := newFixture(t, storesA, "")
	lead, loseLead := context.WithCancel(context.Background())
	f.hooks.setLeading(lead)
	f.sync("start")
	loseLead()
	if calls := f.sync("schedule"); len(calls) != 1 || calls[0].Kind != "apply" {
		t.Fatalf("calls %+v", calls)
	}
	f.target.mu.Lock()
	ctxs := f.target.applyCtx
	f.target.mu.Unlock()
	if len(ctxs) != 2 {
		t.Fatalf("%d applies", len(ctxs))
	}
	for i, ctx := range ctxs {
		if ctx.Err() == nil {
			t.Errorf("apply %d: context still live after Apply returned", i)
		}
	}
	if got := f.hooks.take(); len(got) != 4 || got[3] != "applied "+f.repo.Head(t, "main") {
		t.Fatalf("hooks %q", got)
	}
}

// startedSource tells when a Fetch or Head begins.
type startedSource struct {
	*gitsource.Source
	started chan struct{}
}

func (s startedSource) Fetch(ctx context.Context) (gitsource.Snapshot, error) {
	s.started <- struct{}{}
	return s.Source.Fetch(ctx)
}

func (s startedSource) Head(ctx context.Context) (string, error) {
	s.started <- struct{}{}
	return s.Source.Head(ctx)
}

func TestCancelledMidFetchReportsNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		known string // what the intake knows before: nothing, a good revision, a bad one
	}{
		{"nothing known", ""},
		{"a good revision known", "good"},
		{"a bad revision known", "bad"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, storesA, "")
			src := startedSource{Source: f.newSource(""), started: make(chan struct{}, 10)}
			f.in = f.newIntake(src)
			if tc.known != "" {
				f.sync("start")
			}
			if tc.known == "bad" {
				f.repo.Commit(t, map[string]string{"stores.yaml": storesBad}, "Break it")
				if calls := f.sync("webhook"); len(calls) != 2 || calls[0].Kind != "refuse" {
					t.Fatalf("the bad commit: %+v", calls)
				}
			}
			f.target.take()
			f.hooks.take()
			f.hooks.fetches()
			for len(src.started) > 0 {
				<-src.started
			}

			// The server holds every request: the fetch ends only when
			// the context does.
			f.srv.Hang()
			defer f.srv.Release()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				f.in.Sync(ctx, "schedule")
			}()
			select {
			case <-src.started:
			case <-time.After(time.Minute):
				t.Fatal("Sync did not start fetching")
			}
			cancel()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatal("Sync did not return after its context was cancelled")
			}
			if calls := f.target.take(); len(calls) != 0 {
				t.Fatalf("a cancelled sync called the target: %+v", calls)
			}
			if got := f.hooks.take(); len(got) != 0 {
				t.Fatalf("a cancelled sync ran hooks: %q", got)
			}
			if errs := f.hooks.fetches(); len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
				t.Fatalf("fetches observed: %v, want one cancelled", errs)
			}

			// The next sync carries on as if nothing happened.
			f.srv.Release()
			calls := f.sync("schedule")
			wantHeld := tc.known == "bad"
			if len(calls) != 1 || calls[0].Kind != "apply" || (calls[0].Held != nil) != wantHeld {
				t.Fatalf("after the cancelled sync: %+v", calls)
			}
		})
	}
}

// Syncs called at once run one at a time: each applies the head, which
// is fetched and parsed once.
func TestConcurrentSyncs(t *testing.T) {
	f := newFixture(t, storesA, "")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { f.in.Sync(context.Background(), "concurrent") })
	}
	wg.Wait()
	calls := f.target.take()
	if len(calls) != 4 {
		t.Fatalf("%d calls, want 4", len(calls))
	}
	for _, c := range calls {
		if c.Kind != "apply" || c.Revision != f.repo.Head(t, "main") {
			t.Fatalf("call %+v", c)
		}
	}
	if f.parses != 1 || f.srv.Counts().UploadPack != 1 {
		t.Fatalf("%d parses and %d upload-packs, want 1 and 1", f.parses, f.srv.Counts().UploadPack)
	}
}

func TestNoStoresFileYet(t *testing.T) {
	f := newFixture(t, "", "")
	calls := f.sync("start")
	f.expect("a branch without stores.yaml", calls, []call{{Kind: "refuse", Trigger: "start", Refusal: some}})
	if r := calls[0].Refusal; r.Reason != ReasonSourceUnavailable || !strings.Contains(r.Message, "file not found") {
		t.Fatalf("refusal %+v", calls[0].Refusal)
	}
	f.expect("polling", f.sync("schedule"), nil)
	rev := f.repo.Commit(t, map[string]string{"stores.yaml": storesA}, "Add the stores")
	f.expect("the stores file added", f.sync("webhook"), []call{
		{Kind: "apply", Revision: rev, Trigger: "webhook", Stores: []string{"alpha"}},
	})
}
