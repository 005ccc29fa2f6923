package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/storeops/storeops/render"
)

// Observation gives the live state; *Observer is the real one.
type Observation interface {
	Observe() Observed
}

// Recorder receives metrics; *metrics.Metrics is the real one. Nil is fine.
type Recorder interface {
	ObserveSync(d time.Duration, result string)
	ObserveAction(kind, result string)
}

// Reconciler runs syncs and publishes the status. Create it with New; one
// sync runs at a time (Sync serialises callers).
type Reconciler struct {
	observer Observation
	applier  Applier
	board    *Board
	log      *slog.Logger

	// Policy is the base policy; Now, Retries and ConfirmDeletions are set
	// per sync.
	Policy Policy
	// ChartVersions is the embedded chart version per store type.
	ChartVersions map[render.Type]string
	// Workers bounds how many stores are acted on at once.
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
	// OnStoreUnblocked, if set, is called (at most once between syncs,
	// from Refresh: it must not block) when the cluster changes under a
	// Blocked or stalled store, e.g. a person deleted the namespace the
	// store was blocked on: the caller should sync, since nothing else
	// would until the next schedule.
	OnStoreUnblocked func()
	// Instance is the name of this storeops instance (LabelInstance);
	// DefaultInstance unless set.
	Instance string

	syncMu sync.Mutex // one sync at a time

	mu         sync.Mutex
	desired    []render.Desired
	revision   string
	retries    map[string]Retry
	running    map[string]ActionKind
	lastAction map[string]*ActionLog
	history    []SyncRecord
	refused    *Refusal
	blocked    map[string]string // store: why a person must act
	blockedAt  map[string]string // store: StallKey when it was blocked
	stalled    map[string]string // store: StallKey of a terminal failure
	woken      bool              // OnStoreUnblocked called since the last sync
	syncing    bool
	leader     bool
	prev       map[string]StoreStatus
}

// New returns a Reconciler publishing on board.
func New(observer Observation, applier Applier, board *Board, log *slog.Logger) *Reconciler {
	return &Reconciler{
		observer: observer, applier: applier, board: board, log: log,
		Policy: DefaultPolicy(), Workers: 4, HistoryLimit: 50, Clock: time.Now,
		retries: map[string]Retry{}, running: map[string]ActionKind{},
		lastAction: map[string]*ActionLog{}, prev: map[string]StoreStatus{},
		blocked: map[string]string{}, stalled: map[string]string{}, Instance: DefaultInstance,
	}
}

// SyncInput is one validated revision of stores.yaml to apply.
type SyncInput struct {
	Config   *render.Config
	Revision string
	Trigger  string
	// ConfirmDeletions lifts the mass-deletion guard for this sync.
	ConfirmDeletions bool
	// Held, when set, says why a newer revision is not applied while this
	// (last good) one is kept in force; the status keeps showing it.
	Held *Refusal
}

// ErrStoresFailed is returned by Sync when some store's action failed.
var ErrStoresFailed = errors.New("some stores failed")

// Sync makes the cluster match in.Config: observe, plan, apply. It returns
// the record of the sync; its error is a *MassDeletionError when the guard
// refused the plan, or wraps ErrStoresFailed when an action failed.
func (r *Reconciler) Sync(ctx context.Context, in SyncInput) (SyncRecord, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	start := r.Clock()
	rec := SyncRecord{Revision: in.Revision, Trigger: in.Trigger, Start: start, Summary: map[string]int{}, Actions: []ActionLog{}}

	r.mu.Lock()
	r.desired = r.Render(in.Config)
	r.revision = in.Revision
	r.refused = in.Held
	r.syncing = true
	policy := r.Policy
	policy.Now = start
	policy.ChartVersions = r.ChartVersions
	policy.ConfirmDeletions = in.ConfirmDeletions
	policy.Instance = r.Instance
	policy.Retries = make(map[string]Retry, len(r.retries))
	for k, v := range r.retries {
		policy.Retries[k] = v
	}
	policy.Stalled = make(map[string]string, len(r.stalled))
	for k, v := range r.stalled {
		policy.Stalled[k] = v
	}
	desired := r.desired
	r.mu.Unlock()
	r.Refresh()

	observed := r.observer.Observe()
	r.mark(ctx, observed)
	actions, err := Plan(desired, observed, policy)
	var guard *MassDeletionError
	if errors.As(err, &guard) {
		rec.Refused = &Refusal{Reason: "MassDeletion", Message: guard.Error() +
			"; to apply it, confirm it (see the README, \"Deleting many stores\")"}
		r.log.Warn("plan refused by the mass-deletion guard", "revision", in.Revision, "deletes", guard.Deletes, "managed", guard.Managed)
		r.finish(&rec, start, in.Held)
		return rec, err
	}
	r.unstall(desired, observed, actions)
	planned := len(actions)
	actions = r.block(actions)
	r.mu.Lock()
	r.blockedAt = map[string]string{}
	for i := range desired {
		if _, ok := r.blocked[desired[i].Store.Name]; ok {
			r.blockedAt[desired[i].Store.Name] = StallKey(&desired[i], observed.Stores[desired[i].Store.Name])
		}
	}
	r.woken = false
	r.mu.Unlock()
	for _, a := range actions {
		r.log.Info("planned", "store", a.Store, "action", a.Kind, "reason", a.Reason)
	}
	rec.Actions = r.applyAll(ctx, actions, in.Revision)
	if planned > 0 {
		r.Refresh()
		r.mark(ctx, r.observer.Observe()) // the phases the actions left
	}
	failed := 0
	for _, l := range rec.Actions {
		rec.Summary[string(l.Kind)]++
		if l.Error != "" {
			failed++
			rec.Errors = append(rec.Errors, fmt.Sprintf("%s %s: %s", l.Kind, l.Store, l.Error))
		}
	}
	r.finish(&rec, start, in.Held)
	if failed > 0 {
		return rec, fmt.Errorf("%w: %d of %d actions", ErrStoresFailed, failed, len(actions))
	}
	return rec, nil
}

// Refuse records a revision that was not applied (invalid stores.yaml,
// Git unreachable). The last good desired state stays in force.
func (r *Reconciler) Refuse(revision, trigger string, refusal *Refusal) SyncRecord {
	start := r.Clock()
	rec := SyncRecord{Revision: revision, Trigger: trigger, Start: start, Summary: map[string]int{}, Actions: []ActionLog{}, Refused: refusal}
	r.log.Warn("revision not applied", "revision", revision, "reason", refusal.Reason, "message", refusal.Message)
	r.finish(&rec, start, nil)
	return rec
}

// Show sets the desired state for the status without applying anything:
// replicas that are not the leader use it to serve the same status.
func (r *Reconciler) Show(cfg *render.Config, revision string, held *Refusal) {
	r.mu.Lock()
	r.desired = r.Render(cfg)
	r.revision = revision
	r.refused = held
	r.mu.Unlock()
	r.Refresh()
}

// finish records a sync in the history; the status shows rec's refusal,
// or else held.
func (r *Reconciler) finish(rec *SyncRecord, start time.Time, held *Refusal) {
	rec.Duration = r.Clock().Sub(start)
	r.mu.Lock()
	r.syncing = false
	r.refused = rec.Refused
	if r.refused == nil {
		r.refused = held
	}
	r.history = append([]SyncRecord{*rec}, r.history...)
	if len(r.history) > r.HistoryLimit {
		r.history = r.history[:r.HistoryLimit]
	}
	r.mu.Unlock()
	if r.Metrics != nil {
		result := "ok"
		switch {
		case rec.Refused != nil:
			result = "refused"
		case len(rec.Errors) > 0:
			result = "error"
		}
		r.Metrics.ObserveSync(rec.Duration, result)
	}
	r.Refresh()
}

// applyAll runs the actions, at most Workers at a time, publishing the
// status as each starts and ends.
func (r *Reconciler) applyAll(ctx context.Context, actions []Action, revision string) []ActionLog {
	logs := make([]ActionLog, len(actions))
	sem := make(chan struct{}, max(1, r.Workers))
	var wg sync.WaitGroup
	for i, a := range actions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				logs[i] = ActionLog{Store: a.Store, Kind: a.Kind, Reason: a.Reason, Diff: a.Diff, Start: r.Clock(), Error: ctx.Err().Error()}
				return
			}
			defer func() { <-sem }()
			logs[i] = r.applyOne(ctx, a, revision)
		}()
	}
	wg.Wait()
	return logs
}

func (r *Reconciler) applyOne(ctx context.Context, a Action, revision string) ActionLog {
	l := ActionLog{Store: a.Store, Kind: a.Kind, Reason: a.Reason, Diff: a.Diff, Start: r.Clock()}
	r.mu.Lock()
	r.running[a.Store] = a.Kind
	r.mu.Unlock()
	r.Refresh()

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
	default:
		delete(r.retries, a.Store)
		log.Info("applied")
	}
	r.lastAction[a.Store] = &l
	if a.Kind == ActDelete && err == nil {
		delete(r.retries, a.Store)
	}
	r.mu.Unlock()
	if r.Metrics != nil {
		r.Metrics.ObserveAction(string(a.Kind), result)
	}
	r.event(a, revision, err)
	r.Refresh()
	return l
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
func (r *Reconciler) Refresh() { r.publish(r.observer.Observe()) }

// ClusterChanged is what to call on every informer event: it observes
// once, publishes the status, and, on the leader, records the readiness
// the caches now show (see ReadinessMarks), so that a store's first Ready
// is recorded before a later drain could hide it.
func (r *Reconciler) ClusterChanged(ctx context.Context) {
	obs := r.observer.Observe()
	r.publish(obs)
	r.mu.Lock()
	leader := r.leader
	r.mu.Unlock()
	if leader {
		r.mark(ctx, obs)
	}
}

// publish derives the store statuses from obs and publishes a snapshot.
func (r *Reconciler) publish(obs Observed) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wakeUnblocked(obs)
	now := r.Clock()
	snap := &Snapshot{
		Revision: r.revision, Source: r.Source, Syncing: r.syncing, Leader: r.leader,
		Stores: []StoreStatus{}, History: append([]SyncRecord{}, r.history...), Refused: r.refused, Generated: now,
	}
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
func (r *Reconciler) Render(cfg *render.Config) []render.Desired {
	ds := render.Render(cfg)
	withInstance(ds, r.Instance)
	return ds
}

// block takes the ActBlock actions out of a plan: they change nothing in
// the cluster, the status shows their reason until the plan stops
// blocking the store.
func (r *Reconciler) block(actions []Action) []Action {
	out := actions[:0:0]
	blocked := map[string]string{}
	for _, a := range actions {
		if a.Kind == ActBlock {
			blocked[a.Store] = a.Reason
			continue
		}
		out = append(out, a)
	}
	r.mu.Lock()
	for _, a := range actions {
		if reason, ok := blocked[a.Store]; ok && a.Kind == ActBlock && r.blocked[a.Store] != reason {
			r.log.Warn("store blocked: a person must act", "store", a.Store, "reason", reason)
			r.blockedEvent(a)
		}
	}
	r.blocked = blocked
	r.mu.Unlock()
	return out
}

// mark writes the due readiness marks and status labels, and updates obs
// to match. It writes nothing for a store whose namespace shows both
// already.
func (r *Reconciler) mark(ctx context.Context, obs Observed) {
	now := r.Clock()
	for name, o := range obs.Stores {
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
			continue
		}
		if err := r.applier.Apply(ctx, Action{Kind: ActMark, Store: name, Observed: o, Marks: marks, LabelMarks: labels}, ""); err != nil {
			r.log.Warn("cannot record readiness", "store", name, "error", err)
			continue
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
		obs.Stores[name] = &copied
	}
}

// unstall forgets the terminal failure of every store whose desired or
// observed state has changed since (a person acted): when the plan has
// nothing left to do for it, its failure is over too.
func (r *Reconciler) unstall(desired []render.Desired, observed Observed, actions []Action) {
	planned := map[string]bool{}
	for _, a := range actions {
		planned[a.Store] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range desired {
		d := &desired[i]
		key, ok := r.stalled[d.Store.Name]
		if !ok || key == StallKey(d, observed.Stores[d.Store.Name]) {
			continue
		}
		delete(r.stalled, d.Store.Name)
		if !planned[d.Store.Name] {
			delete(r.lastAction, d.Store.Name)
		}
		r.log.Info("stalled store changed; acting on it again", "store", d.Store.Name)
	}
}

// wakeUnblocked calls OnStoreUnblocked once when the observed state of a
// Blocked or stalled store no longer matches the one it was blocked at.
// Called with r.mu held.
func (r *Reconciler) wakeUnblocked(obs Observed) {
	if r.OnStoreUnblocked == nil || r.woken || (len(r.blockedAt) == 0 && len(r.stalled) == 0) {
		return
	}
	for i := range r.desired {
		d := &r.desired[i]
		key, blocked := r.blockedAt[d.Store.Name]
		if !blocked {
			key, blocked = r.stalled[d.Store.Name]
		}
		if blocked && key != StallKey(d, obs.Stores[d.Store.Name]) {
			r.woken = true
			go r.OnStoreUnblocked()
			return
		}
	}
}
