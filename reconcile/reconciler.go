package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/storeops/storeops/render"
)

// Observation gives the live state; *Observer is the real one.
type Observation interface {
	// Observe returns every store's.
	Observe() Observed
	// ObserveStore returns one store's, nil when nothing of it lives.
	ObserveStore(name string) *ObservedStore
}

// Recorder receives metrics; *metrics.Metrics is the real one. Nil is fine.
type Recorder interface {
	ObserveSync(d time.Duration, result string)
	ObserveAction(kind, result string)
}

// Reconciler decides and acts, one store at a time. Create it with New.
//
// A revision of stores.yaml is taken in by Accept (or Sync): the revision
// is judged as a whole (the mass-deletion guard) and the stores whose plan
// has something to do are queued. Workers (Run) take one store at a time,
// observe it, plan it with PlanStore and act; informer events (Enqueue)
// and the end of a store's backoff queue that store again. Sync is the
// same on one revision, each queued store acted on once, for sync --once
// and tests.
type Reconciler struct {
	observer Observation
	applier  Applier
	board    *Board
	log      *slog.Logger

	// Policy is the base policy; Now, Retries and ConfirmDeletions are set
	// per plan.
	Policy Policy
	// ChartVersions is the embedded chart version per store type.
	ChartVersions map[render.Type]string
	// Workers bounds how many stores are acted on at once. Run adds one
	// express worker for the stores of revisions that change at most
	// Workers stores (people's pushes): it takes only those, so that they
	// are acted on at once even while every worker is busy with the
	// backlog, and each keeps its place first in line until a worker took
	// it. A revision that changes more is a backlog of its own: the
	// workers take its stores first, the express worker leaves them.
	Workers int
	// HistoryLimit is how many syncs the status keeps.
	HistoryLimit int
	// Source describes the Git source in the status.
	Source  string
	Metrics Recorder
	// Events records Kubernetes Events on the store namespaces; nil: none.
	Events EventRecorder
	// Clock returns the time; tests may replace it.
	Clock func() time.Time
	// Owns, when set, says whether this replica acts on a store now (it
	// holds the store's shard): Accept queues and workers act on only
	// those; the others are some other replica's. The mass-deletion guard
	// still judges each revision as a whole. Nil: every store is ours.
	Owns func(store string) bool
	// Judge, when set, makes the mass-deletion guard's verdict on a
	// revision one for every replica (serve --shards): it is given this
	// replica's (the guard's message, "" when it lets the revision
	// through) and returns the verdict in force for the revision, the
	// first one a replica recorded, with its message when it refuses.
	// Not asked for a confirmed revision.
	Judge func(revision, refusal string) (refused bool, why string)
	// Shards and ReplicaOf, when set, describe the shard group in the
	// status (serve --shards).
	Shards    func() *ShardView
	ReplicaOf func(store string) string
	// StatusRefresh bounds how long a store's status may go without being
	// derived again when nothing names the store (a retry's countdown is
	// derived from the time).
	StatusRefresh time.Duration
	// Instance is the name of this storeops instance (LabelInstance);
	// DefaultInstance unless set.
	Instance string

	syncMu sync.Mutex // one Sync at a time

	// rendered holds each store's last desired state, rendered from
	// renderedFor's defaults for instance renderedAs (see Render).
	renderMu    sync.Mutex
	rendered    map[string]*render.Desired
	renderedFor render.Defaults
	renderedAs  string

	mu         sync.Mutex
	desired    []render.Desired           // the revision shown
	shown      map[string]*render.Desired // desired by store name
	revision   string
	inForce    map[string]*render.Desired // the revision acted on; nil before one is accepted
	forceRev   string
	retries    map[string]Retry
	running    map[string]ActionKind
	lastAction map[string]*ActionLog
	history    []*SyncRecord // newest first
	pending    map[*SyncRecord]map[string]bool
	owner      map[string]*SyncRecord // store: the record its queued work counts for
	refused    *Refusal
	blocked    map[string]string // store: why a person must act
	stalled    map[string]string // store: StallKey of a terminal failure
	expect     map[string]expectation
	repeats    map[string]string // store: repeatKey of its last successful action
	leader     bool
	prev       map[string]StoreStatus
	queue      storeQueue // nil unless Run is running
	busy       int        // stores being acted on
	processing map[string]bool
	publishing *Signal // set while Run publishes in the background
	// urgent holds the stores the newest accepted revision changed: they
	// go first in the queue (see isUrgent).
	urgent atomic.Pointer[map[string]bool]
	// express holds the stores of people's pushes not yet taken by a
	// worker (see isExpress); expressMu guards it: the queue's order asks
	// under the queue's lock.
	expressMu sync.Mutex
	express   map[string]bool
	// dirty names the stores whose status must be derived again for the
	// next snapshot; allDirty: every store's (see publishChanged).
	dirty    map[string]bool
	allDirty bool
	lastFull time.Time
}

// New returns a Reconciler publishing on board.
func New(observer Observation, applier Applier, board *Board, log *slog.Logger) *Reconciler {
	return &Reconciler{
		observer: observer, applier: applier, board: board, log: log,
		Policy: DefaultPolicy(), Workers: 4, HistoryLimit: 50, Clock: time.Now, StatusRefresh: 2 * time.Second,
		retries: map[string]Retry{}, running: map[string]ActionKind{},
		lastAction: map[string]*ActionLog{}, prev: map[string]StoreStatus{},
		blocked: map[string]string{}, stalled: map[string]string{}, Instance: DefaultInstance,
		pending: map[*SyncRecord]map[string]bool{}, owner: map[string]*SyncRecord{},
		expect: map[string]expectation{}, shown: map[string]*render.Desired{}, repeats: map[string]string{},
		dirty: map[string]bool{}, processing: map[string]bool{},
	}
}

// SyncInput is one validated revision of stores.yaml to apply.
type SyncInput struct {
	Config   *render.Config
	Revision string
	Trigger  string
	// ConfirmDeletions lifts the mass-deletion guard for this revision.
	ConfirmDeletions bool
	// Held, when set, says why a newer revision is not applied while this
	// (last good) one is kept in force; the status keeps showing it.
	Held *Refusal
}

// ErrStoresFailed is returned by Sync when some store's action failed.
var ErrStoresFailed = errors.New("some stores failed")

// Accept takes in a revision: it plans the whole fleet once (pure, from
// the caches), refuses the revision when the mass-deletion guard does
// (the last accepted revision stays in force), and otherwise puts it in
// force and queues every store whose plan has something to do. It returns
// at once: the record it opened fills in as the workers act (see Run).
// Its error is a *MassDeletionError when the guard refused.
func (r *Reconciler) Accept(in SyncInput) (SyncRecord, error) {
	rec, keys, err := r.accept(in)
	if err == nil {
		r.mu.Lock()
		q := r.queue
		r.mu.Unlock()
		if q != nil {
			for _, k := range keys {
				q.Add(k)
			}
		}
	}
	r.changed()
	return r.recordCopy(rec), err
}

// accept is Accept without the queueing: it returns the record opened and
// the stores to act on.
func (r *Reconciler) accept(in SyncInput) (*SyncRecord, []string, error) {
	start := r.Clock()
	rec := &SyncRecord{Revision: in.Revision, Trigger: in.Trigger, Start: start, Summary: map[string]int{}, Actions: []ActionLog{}}
	desired := r.Render(in.Config)
	byName := byStoreName(desired)
	r.mu.Lock()
	r.desired, r.shown, r.revision, r.refused = desired, byName, in.Revision, in.Held
	r.allDirty = true
	policy := r.policyLocked(start)
	changed := changedStores(r.inForce, byName)
	var only map[string]bool // the stores to plan now; nil: every one
	if r.queue != nil && r.inForce != nil && in.Revision != r.forceRev && !in.ConfirmDeletions {
		only = maps.Clone(changed)
		for name := range r.stalled {
			only[name] = true
		}
		for name := range r.blocked {
			only[name] = true
		}
	}
	r.mu.Unlock()
	policy.ConfirmDeletions = in.ConfirmDeletions

	observed, toPlan := r.observeFor(desired, byName, only)
	actions, err := Plan(toPlan, observed, policy)
	var guard *MassDeletionError
	refusal := ""
	if errors.As(err, &guard) {
		refusal = guard.Error()
	}
	if r.Judge != nil && !policy.ConfirmDeletions && (err == nil || guard != nil) {
		// One verdict for every replica: the first one recorded.
		refused, why := r.Judge(in.Revision, refusal)
		switch {
		case refused && guard == nil:
			refusal, actions = why, nil
			guard = &MassDeletionError{Judged: why}
		case !refused && guard != nil:
			// Another replica judged it first and let it through: so
			// does this one, from its own observation.
			policy.ConfirmDeletions = true
			if actions, err = Plan(toPlan, observed, policy); err != nil {
				return rec, nil, err
			}
			guard, refusal = nil, ""
		}
	}
	if guard != nil {
		rec.Refused = &Refusal{Reason: "MassDeletion", Message: refusal +
			"; to apply it, confirm it (see the README, \"Deleting many stores\")"}
		r.log.Warn("plan refused by the mass-deletion guard", "revision", in.Revision, "deletes", guard.Deletes, "managed", guard.Managed)
		r.mu.Lock()
		r.refused = rec.Refused
		r.addRecordLocked(rec, nil)
		r.closeLocked(rec)
		r.mu.Unlock()
		r.closed(rec)
		return rec, nil, guard
	}
	keys := make([]string, 0, len(actions))
	planned := make(map[string]bool, len(actions))
	for _, a := range actions {
		planned[a.Store] = true
		if r.owns(a.Store) {
			keys = append(keys, a.Store)
		}
	}
	r.mu.Lock()
	r.urgent.Store(&changed)
	r.markExpress(changed, keys)
	r.inForce, r.forceRev = byName, in.Revision
	for name, key := range r.stalled {
		if d := byName[name]; d == nil || key != StallKey(d, observed.Stores[name]) {
			r.unstallLocked(name, planned[name])
		}
	}
	for name := range r.blocked {
		if !planned[name] {
			delete(r.blocked, name) // the plan no longer blocks it
		}
	}
	r.addRecordLocked(rec, keys)
	if len(keys) == 0 {
		r.closeLocked(rec)
	}
	r.mu.Unlock()
	if len(keys) == 0 {
		r.closed(rec)
	}
	r.log.Info("revision accepted", "revision", short(in.Revision), "changed", len(changed), "queued", len(keys),
		"took", r.Clock().Sub(start).Round(time.Microsecond))
	return rec, keys, nil
}

// storeNamer is an Observation that can list the stores it sees without
// observing them (Observer, Clusters).
type storeNamer interface {
	StoreNames() []string
}

// observeFor returns the observation and desired stores a new revision is
// planned from: every store, or only the stores of only when the caches
// show no store the revision leaves out. Then the revision deletes
// nothing, the mass-deletion guard has nothing to judge, and a store whose
// desired state is unchanged needs nothing from it: the work queue looks at
// each such store whenever the cluster changes it or its backoff ends, as
// it does between revisions. At 1,350 stores observing all of them took
// most of the time from a push to its store's first action. A revision
// that leaves a store out, the first revision, a revision taken in again
// (the scheduled sync) and Sync without the work queue are planned whole.
func (r *Reconciler) observeFor(desired []render.Desired, byName map[string]*render.Desired, only map[string]bool) (Observed, []render.Desired) {
	names, ok := r.observer.(storeNamer)
	if only == nil || !ok {
		return r.observer.Observe(), desired
	}
	for _, name := range names.StoreNames() {
		if byName[name] == nil {
			return r.observer.Observe(), desired
		}
	}
	observed := Observed{Stores: make(map[string]*ObservedStore, len(only))}
	var planned []render.Desired
	for i := range desired {
		name := desired[i].Store.Name
		if !only[name] {
			continue
		}
		planned = append(planned, desired[i])
		if o := r.observer.ObserveStore(name); o != nil {
			observed.Stores[name] = o
		}
	}
	return observed, planned
}

// owns reports whether this replica acts on store now (see Owns).
func (r *Reconciler) owns(store string) bool { return r.Owns == nil || r.Owns(store) }

// isUrgent reports whether store goes first in the queue: the newest
// accepted revision changed it, or a person's push (a revision changing
// at most Workers stores) did and no worker has taken it yet. A push's
// store keeps its place when the next push comes before a worker took
// it; a big revision's stores go back in line behind a newer one's.
func (r *Reconciler) isUrgent(store string) bool {
	if m := r.urgent.Load(); m != nil && (*m)[store] {
		return true
	}
	return r.isExpress(store)
}

// isExpress reports whether store came with a person's push and no worker
// has taken it yet: the express worker may take it.
func (r *Reconciler) isExpress(store string) bool {
	r.expressMu.Lock()
	defer r.expressMu.Unlock()
	return r.express[store]
}

// markExpress records the queued stores of a revision that changed at
// most Workers stores.
func (r *Reconciler) markExpress(changed map[string]bool, queued []string) {
	if len(changed) > max(1, r.Workers) {
		return
	}
	r.expressMu.Lock()
	defer r.expressMu.Unlock()
	if r.express == nil {
		r.express = map[string]bool{}
	}
	for _, name := range queued {
		if changed[name] {
			r.express[name] = true
		}
	}
}

// taken forgets that store waits for the express worker: a worker took it.
func (r *Reconciler) taken(store string) {
	r.expressMu.Lock()
	defer r.expressMu.Unlock()
	delete(r.express, store)
}

// unstallLocked forgets a stalled store's terminal failure: a person
// changed its desired or observed state. Called with r.mu held.
func (r *Reconciler) unstallLocked(name string, planned bool) {
	delete(r.stalled, name)
	if !planned {
		delete(r.lastAction, name) // nothing left to do: its failure is over too
	}
	r.log.Info("stalled store changed; acting on it again", "store", name)
}

// Sync makes the cluster match in.Config: Accept, then act on each queued
// store once, at most Workers at a time, and return the record. Its error
// is a *MassDeletionError when the guard refused the revision, or wraps
// ErrStoresFailed when an action failed.
func (r *Reconciler) Sync(ctx context.Context, in SyncInput) (SyncRecord, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	rec, keys, err := r.accept(in)
	if err != nil {
		return r.recordCopy(rec), err
	}
	r.Refresh()
	sem := make(chan struct{}, max(1, r.Workers))
	var wg sync.WaitGroup
	for _, k := range keys {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			r.abandon(k, ctx.Err())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// The caches may not show this store's last action yet: wait
			// for them (bounded by expectationTTL) rather than act twice.
			for wait := 10 * time.Millisecond; r.process(ctx, k).wait; wait = min(2*wait, time.Second) {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					r.abandon(k, ctx.Err())
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(keys) > 0 {
		r.ClusterChanged(ctx) // record the phases the actions left
	}
	out := r.recordCopy(rec)
	if n := len(out.Errors); n > 0 {
		return out, fmt.Errorf("%w: %d of %d actions", ErrStoresFailed, n, len(out.Actions))
	}
	return out, nil
}

// abandon ends a queued store's part in its record without acting, with
// why (the context ended).
func (r *Reconciler) abandon(store string, err error) {
	r.mu.Lock()
	rec := r.owner[store]
	if rec != nil {
		rec.Errors = append(rec.Errors, fmt.Sprintf("%s: not acted on: %v", store, err))
	}
	r.dirty[store] = true
	r.mu.Unlock()
	r.done(store, rec)
}

// Refuse records a revision that was not applied (invalid stores.yaml,
// Git unreachable). The last good desired state stays in force.
func (r *Reconciler) Refuse(revision, trigger string, refusal *Refusal) SyncRecord {
	start := r.Clock()
	rec := &SyncRecord{Revision: revision, Trigger: trigger, Start: start, Summary: map[string]int{}, Actions: []ActionLog{}, Refused: refusal}
	r.log.Warn("revision not applied", "revision", revision, "reason", refusal.Reason, "message", refusal.Message)
	r.mu.Lock()
	r.refused = refusal
	r.addRecordLocked(rec, nil)
	r.closeLocked(rec)
	r.mu.Unlock()
	r.closed(rec)
	r.Refresh()
	return r.recordCopy(rec)
}

// Show sets the desired state for the status without applying anything:
// replicas that are not the leader use it to serve the same status.
func (r *Reconciler) Show(cfg *render.Config, revision string, held *Refusal) {
	desired := r.Render(cfg)
	byName := byStoreName(desired)
	r.mu.Lock()
	r.desired, r.shown, r.revision, r.refused = desired, byName, revision, held
	r.mu.Unlock()
	r.Refresh()
}

// byStoreName indexes desired by store name.
func byStoreName(desired []render.Desired) map[string]*render.Desired {
	out := make(map[string]*render.Desired, len(desired))
	for i := range desired {
		out[desired[i].Store.Name] = &desired[i]
	}
	return out
}

// addRecordLocked puts rec first in the history, waiting for stores; a
// store queued by an earlier record counts for rec from now on. Called
// with r.mu held.
func (r *Reconciler) addRecordLocked(rec *SyncRecord, stores []string) {
	if len(stores) > 0 {
		rec.Running = true
		set := make(map[string]bool, len(stores))
		for _, s := range stores {
			set[s] = true
			if old := r.owner[s]; old != nil && old != rec {
				delete(r.pending[old], s)
				if len(r.pending[old]) == 0 {
					r.closeLocked(old)
				}
			}
			r.owner[s] = rec
		}
		r.pending[rec] = set
	}
	r.history = append([]*SyncRecord{rec}, r.history...)
	if len(r.history) > r.HistoryLimit {
		for _, old := range r.history[r.HistoryLimit:] {
			if old.Running {
				r.closeLocked(old)
			}
		}
		r.history = r.history[:r.HistoryLimit]
	}
}

// done ends a store's part in rec, the record it counted for when its
// look began (a newer revision may have taken it over since); the record
// closes with its last store.
func (r *Reconciler) done(store string, rec *SyncRecord) {
	r.mu.Lock()
	var closed *SyncRecord
	if rec != nil && r.owner[store] == rec {
		delete(r.owner, store)
		delete(r.pending[rec], store)
		if len(r.pending[rec]) == 0 {
			r.closeLocked(rec)
			closed = rec
		}
	}
	r.mu.Unlock()
	if closed != nil {
		r.closed(closed)
	}
}

// closeLocked marks rec finished. Called with r.mu held.
func (r *Reconciler) closeLocked(rec *SyncRecord) {
	delete(r.pending, rec)
	for s, o := range r.owner {
		if o == rec {
			delete(r.owner, s)
		}
	}
	rec.Running = false
	rec.Duration = r.Clock().Sub(rec.Start)
}

// closed reports a record closeLocked finished to the metrics and the
// log.
func (r *Reconciler) closed(rec *SyncRecord) {
	r.mu.Lock()
	out := *rec
	r.mu.Unlock()
	if r.Metrics != nil {
		result := "ok"
		switch {
		case out.Refused != nil:
			result = "refused"
		case len(out.Errors) > 0:
			result = "error"
		}
		r.Metrics.ObserveSync(out.Duration, result)
	}
	if len(out.Actions) > 0 {
		r.log.Info("revision applied", "revision", short(out.Revision), "trigger", out.Trigger, "actions", len(out.Actions),
			"errors", len(out.Errors), "duration", out.Duration.Round(time.Millisecond))
	}
	r.changed()
}

// recordCopy returns a copy of rec that later actions do not change.
func (r *Reconciler) recordCopy(rec *SyncRecord) SyncRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return copyRecord(rec)
}

func copyRecord(rec *SyncRecord) SyncRecord {
	out := *rec
	out.Actions = append([]ActionLog{}, rec.Actions...)
	out.Errors = append([]string(nil), rec.Errors...)
	out.Summary = make(map[string]int, len(rec.Summary))
	for k, v := range rec.Summary {
		out.Summary[k] = v
	}
	return out
}

// policyLocked is the policy of a plan made now. Called with r.mu held.
func (r *Reconciler) policyLocked(now time.Time) Policy {
	p := r.Policy
	p.Now = now
	p.ChartVersions = r.ChartVersions
	p.Instance = r.Instance
	p.Retries = make(map[string]Retry, len(r.retries))
	for k, v := range r.retries {
		p.Retries[k] = v
	}
	p.Stalled = make(map[string]string, len(r.stalled))
	for k, v := range r.stalled {
		p.Stalled[k] = v
	}
	return p
}

// applyOne runs one action, records it in the record its store counts for
// and publishes the status as it starts and ends.
func (r *Reconciler) applyOne(ctx context.Context, a Action, revision string) ActionLog {
	l := ActionLog{Store: a.Store, Kind: a.Kind, Reason: a.Reason, Diff: a.Diff, Start: r.Clock()}
	r.mu.Lock()
	r.running[a.Store] = a.Kind
	r.dirty[a.Store] = true
	rec := r.owner[a.Store] // the record it counts for: the one it was planned under
	if rec == nil && len(r.history) > 0 {
		rec = r.history[0] // work the cluster asked for: the newest record
	}
	r.mu.Unlock()
	r.changed()

	err := r.applier.Apply(ctx, a, revision)
	l.Duration = r.Clock().Sub(l.Start)
	log := r.log.With("store", a.Store, "action", a.Kind, "duration", l.Duration.Round(time.Millisecond))
	result := "ok"
	r.mu.Lock()
	delete(r.running, a.Store)
	delete(r.stalled, a.Store)
	switch {
	case err != nil && errors.Is(err, ErrTerminal) && a.Desired != nil:
		// Retrying cannot help: wait for stores.yaml or the cluster to change.
		result = "error"
		l.Error = err.Error()
		r.stalled[a.Store] = StallKey(a.Desired, a.Observed)
		log.Error("action failed; a person must act", "error", err)
	case err != nil:
		result = "error"
		l.Error = err.Error()
		f := r.retries[a.Store].Failures + 1
		r.retries[a.Store] = Retry{Failures: f, NotBefore: r.Clock().Add(backoff(f))}
		log.Error("action failed", "error", err, "retry_in", backoff(f))
	case a.Kind == ActRollback || a.Kind == ActReinstall:
		// Remediation: the change it undid is retried after a backoff.
		f := r.retries[a.Store].Failures + 1
		r.retries[a.Store] = Retry{Failures: f, NotBefore: r.Clock().Add(backoff(f))}
		log.Info("remediated", "retry_in", backoff(f))
	case a.Kind != ActDelete && r.repeats[a.Store] == repeatKey(a):
		// The same change to the same desired state again: something in
		// the cluster undoes it (a mutating webhook, another controller).
		// Repeating it at the speed of the informer events would never
		// end; repeat it after a growing backoff instead.
		f := r.retries[a.Store].Failures + 1
		r.retries[a.Store] = Retry{Failures: f, NotBefore: r.Clock().Add(backoff(f))}
		log.Warn("applied the same change again: something in the cluster undoes it", "retry_in", backoff(f))
	default:
		delete(r.retries, a.Store)
		log.Info("applied")
	}
	if err == nil {
		r.repeats[a.Store] = repeatKey(a)
	}
	r.lastAction[a.Store] = &l
	if a.Kind == ActDelete && err == nil {
		delete(r.retries, a.Store)
	}
	if rec != nil {
		rec.Actions = append(rec.Actions, l)
		rec.Summary[string(l.Kind)]++
		if l.Error != "" {
			rec.Errors = append(rec.Errors, fmt.Sprintf("%s %s: %s", l.Kind, l.Store, l.Error))
		}
	}
	r.mu.Unlock()
	if r.Metrics != nil {
		r.Metrics.ObserveAction(string(a.Kind), result)
	}
	r.event(a, revision, err)
	r.changed()
	return l
}

// repeatKey identifies an action's change: its kind, reason and desired
// state.
func repeatKey(a Action) string {
	key := string(a.Kind) + "|" + a.Reason
	if a.Desired != nil {
		key += "|" + a.Desired.Release.Checksum
	}
	return key
}

// backoff is 10s, 20s, 40s... up to 10 minutes.
func backoff(failures int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < failures && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}

// SetLeader records whether this replica applies changes (for the status).
func (r *Reconciler) SetLeader(leader bool) {
	r.mu.Lock()
	r.leader = leader
	r.mu.Unlock()
	r.Refresh()
}

// Refresh recomputes the store statuses from the caches and publishes a
// new snapshot. It is cheap (no API call) and safe to call often, e.g.
// on every informer event.
func (r *Reconciler) Refresh() {
	r.mu.Lock()
	r.dirty, r.allDirty = map[string]bool{}, false // what comes after is for the next
	r.mu.Unlock()
	r.publish(r.observer.Observe())
}

// publishChanged publishes a snapshot in which only the stores marked
// dirty since the last one (by their informer events and their workers)
// have their status derived again, each from its own caches: an event
// costs one store, not the fleet. The whole fleet is derived again after
// a new revision and at least every StatusRefresh.
func (r *Reconciler) publishChanged() {
	r.mu.Lock()
	full := r.allDirty || time.Since(r.lastFull) >= r.StatusRefresh
	names := r.dirty
	if !full {
		r.dirty = map[string]bool{}
	}
	r.mu.Unlock()
	if full {
		r.Refresh()
		return
	}
	obs := make(map[string]*ObservedStore, len(names))
	for name := range names {
		obs[name] = r.observer.ObserveStore(name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.Clock()
	for name, o := range obs {
		switch d := r.shown[name]; {
		case d != nil:
			r.prev[name] = r.storeStatus(d, o, now)
		case o != nil:
			r.prev[name] = r.orphanStatus(o, now)
		default:
			delete(r.prev, name)
		}
	}
	snap := r.snapshotLocked(now)
	for _, st := range r.prev {
		snap.Stores = append(snap.Stores, st)
	}
	sort.Slice(snap.Stores, func(i, j int) bool { return snap.Stores[i].Name < snap.Stores[j].Name })
	r.board.Publish(snap)
}

// ClusterChanged is what to call on every informer event: it observes
// once and publishes the status; on the leader with no workers running
// (sync --once), it also records the readiness the caches now show (see
// ReadinessMarks), so that a store's first Ready is recorded before a later
// drain could hide it. With workers running, each store's event queues
// it (Enqueue) and its worker records its marks.
func (r *Reconciler) ClusterChanged(ctx context.Context) {
	r.mu.Lock()
	markAll := r.leader && r.queue == nil
	r.mu.Unlock()
	if !markAll {
		r.publishChanged()
		return
	}
	obs := r.observer.Observe()
	r.publish(obs)
	for name, o := range obs.Stores {
		r.markStore(ctx, name, o)
	}
}

// changed publishes the status: in the background while Run runs (many
// changes, one snapshot), at once otherwise.
func (r *Reconciler) changed() {
	r.mu.Lock()
	sig := r.publishing
	r.mu.Unlock()
	if sig != nil {
		sig.Notify()
		return
	}
	r.Refresh()
}

// publish derives the store statuses from obs and publishes a snapshot.
func (r *Reconciler) publish(obs Observed) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.Clock()
	r.lastFull = time.Now()
	snap := r.snapshotLocked(now)
	declared := map[string]bool{}
	for i := range r.desired {
		d := &r.desired[i]
		declared[d.Store.Name] = true
		snap.Stores = append(snap.Stores, r.storeStatus(d, obs.Stores[d.Store.Name], now))
	}
	for name, o := range obs.Stores {
		if !declared[name] {
			snap.Stores = append(snap.Stores, r.orphanStatus(o, now))
		}
	}
	sort.Slice(snap.Stores, func(i, j int) bool { return snap.Stores[i].Name < snap.Stores[j].Name })
	prev := make(map[string]StoreStatus, len(snap.Stores))
	for _, s := range snap.Stores {
		prev[s.Name] = s
	}
	r.prev = prev
	r.board.Publish(snap)
}

// snapshotLocked returns a snapshot without its stores. Called with r.mu
// held.
func (r *Reconciler) snapshotLocked(now time.Time) *Snapshot {
	snap := &Snapshot{
		Revision: r.revision, Source: r.Source, Syncing: r.busy > 0 || len(r.pending) > 0 || (r.queue != nil && r.queue.Len() > 0),
		Leader: r.leader, Stores: make([]StoreStatus, 0, max(len(r.desired), len(r.prev))), History: make([]SyncRecord, 0, len(r.history)),
		Refused: r.refused, Generated: now,
	}
	for _, rec := range r.history {
		snap.History = append(snap.History, copyRecord(rec))
	}
	if r.Shards != nil {
		snap.Shards = r.Shards()
	}
	if cs, ok := r.Policy.Clusters.(interface{ Statuses() []ClusterStatus }); ok {
		snap.Clusters = cs.Statuses()
	}
	return snap
}

// Retries returns a copy of the backoff state (for tests and the CLI).
func (r *Reconciler) Retries() map[string]Retry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]Retry, len(r.retries))
	for k, v := range r.retries {
		out[k] = v
	}
	return out
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// Render renders cfg and labels every desired object with the instance.
//
// A store whose entry and the file's defaults are what they were at the
// last Render is not rendered again: its desired state (read-only, as
// every desired state) is reused, with its line in the new file. A push
// that changes one store of a thousand renders one.
func (r *Reconciler) Render(cfg *render.Config) []render.Desired {
	defaults, stores := cfg.Defaults(), cfg.Stores()
	out := make([]render.Desired, len(stores))
	r.renderMu.Lock()
	defer r.renderMu.Unlock()
	if r.rendered == nil || r.renderedFor != defaults || r.renderedAs != r.Instance {
		r.rendered, r.renderedFor, r.renderedAs = map[string]*render.Desired{}, defaults, r.Instance
	}
	next := make(map[string]*render.Desired, len(stores))
	for i, s := range stores {
		if prev := r.rendered[s.Name]; prev != nil && sameEntry(prev.Store, s) {
			out[i] = *prev
			out[i].Store.Line = s.Line
			next[s.Name] = prev
			continue
		}
		out[i] = render.RenderStore(defaults, s)
		withInstance(out[i:i+1], r.Instance)
		d := out[i]
		next[s.Name] = &d
	}
	r.rendered = next // the stores of the newest file only
	return out
}

// sameEntry reports whether two stores are declared alike, wherever they
// stand in their file.
func sameEntry(a, b render.Store) bool {
	a.Line, b.Line = 0, 0
	return reflect.DeepEqual(a, b)
}

// markStore writes the store's due readiness marks and status labels, and
// returns o updated to match. It writes nothing for a store whose
// namespace shows both already.
func (r *Reconciler) markStore(ctx context.Context, name string, o *ObservedStore) *ObservedStore {
	if o == nil {
		return nil
	}
	now := r.Clock()
	marks := ReadinessMarks(o, now)
	view := o
	if marks != nil {
		copied := *o
		ApplyMarks(&copied, marks)
		view = &copied
	}
	var labels map[string]string
	if o.Owned && !o.Terminating() {
		labels = StatusLabels(o.Namespace, r.statusOf(name, view, now))
	}
	if marks == nil && labels == nil {
		return o
	}
	if err := r.applier.Apply(ctx, Action{Kind: ActMark, Store: name, Observed: o, Marks: marks, LabelMarks: labels}, ""); err != nil {
		r.log.Warn("cannot record readiness", "store", name, "error", err)
		return o
	}
	r.log.Info("readiness recorded", "store", name, "marks", marks, "labels", labels)
	r.markEvents(view, marks, labels)
	copied := *view
	if len(labels) > 0 {
		ns := copied.Namespace.DeepCopy()
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		for k, v := range labels {
			ns.Labels[k] = v
		}
		copied.Namespace = ns
	}
	return &copied
}
