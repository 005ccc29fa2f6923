package reconcile

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// storeQueue is the work queue of store names.
type storeQueue = workqueue.TypedRateLimitingInterface[string]

// PublishInterval is the shortest time between two status snapshots
// published for changes that come in bursts (informer events, worker
// steps): each rebuilds the status of every store.
const PublishInterval = 200 * time.Millisecond

// expectationTTL bounds how long a store waits for the caches to show the
// result of its last action before it is planned anyway.
const expectationTTL = time.Minute

// Run acts on queued stores with Workers workers, and one express worker
// for the stores the newest revision changed, until ctx ends; call it
// only while this replica is the one that applies (it holds the Lease).
// It queues every store the last accepted revision declares or the
// caches show, so that a new leader looks at each store once, then acts
// on what Accept, Enqueue and backoff expiry queue. Run returns once every
// worker has stopped (each finishes the action it is in, under ctx).
func (r *Reconciler) Run(ctx context.Context) {
	order := newLanes(r.isUrgent, r.isExpress)
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{
			Name: "stores",
			DelayingQueue: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{
				Name:  "stores",
				Queue: workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{Name: "stores", Queue: order}),
			}),
		})
	sig := NewSignal()
	r.mu.Lock()
	r.queue, r.publishing = q, sig
	keys := make([]string, 0, len(r.inForce))
	for name := range r.inForce {
		keys = append(keys, name)
	}
	r.mu.Unlock()
	for name := range r.observer.Observe().Stores {
		keys = append(keys, name)
	}
	for _, k := range keys {
		if r.owns(k) {
			q.Add(k)
		}
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // one snapshot for many changes
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig.C():
				r.publishChanged()
				select { // one snapshot per interval at most
				case <-ctx.Done():
					return
				case <-time.After(PublishInterval):
				}
			}
		}
	}()
	for range max(1, r.Workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r.work(ctx, q) {
			}
		}()
	}
	wg.Add(1)
	go func() { // the express worker: see Workers
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-order.wake:
			}
			for order.Express() {
				if !r.work(ctx, q) {
					return
				}
			}
		}
	}()
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
	r.mu.Lock()
	r.queue, r.publishing = nil, nil
	for rec := range r.pending {
		r.closeLocked(rec) // a next leader queues its stores again
	}
	r.mu.Unlock()
	r.Refresh()
}

// work takes one store off q and acts on it; false when q is shut down.
func (r *Reconciler) work(ctx context.Context, q storeQueue) bool {
	name, shutdown := q.Get()
	if shutdown {
		return false
	}
	defer q.Done(name)
	if ctx.Err() != nil {
		return true
	}
	switch next := r.process(ctx, name); {
	case next.wait:
		q.AddRateLimited(name) // the caches have not caught up yet
	case next.after > 0:
		q.Forget(name)
		q.AddAfter(name, next.after)
	default:
		q.Forget(name)
	}
	return true
}

// Enqueue asks for the store to be looked at again: call it on every
// informer event concerning it. It does nothing unless Run is running and
// a revision was accepted.
func (r *Reconciler) Enqueue(store string) {
	if store == "" {
		return
	}
	r.mu.Lock()
	r.dirty[store] = true // its status is derived again for the next snapshot
	q := r.queue
	ok := r.inForce != nil
	r.mu.Unlock()
	if q != nil && ok {
		q.Add(store)
	}
}

// EnqueueMatching queues every store the revision in force declares or
// the caches show for which match is true: call it when this replica
// takes over stores (a shard it acquired).
func (r *Reconciler) EnqueueMatching(match func(store string) bool) {
	r.mu.Lock()
	q := r.queue
	var keys []string
	if q != nil && r.inForce != nil {
		for name := range r.inForce {
			if match(name) {
				keys = append(keys, name)
			}
		}
	}
	r.mu.Unlock()
	if q == nil {
		return
	}
	for name := range r.observer.Observe().Stores {
		if match(name) {
			keys = append(keys, name)
		}
	}
	for _, k := range keys {
		q.Add(k)
	}
}

// Busy reports whether a worker is acting on a store for which match is
// true: a replica handing stores over stops Owns from saying yes for them,
// then waits until Busy is false. A worker marks its store busy before it
// asks Owns, so that no worker can start on one after Busy said false.
func (r *Reconciler) Busy(match func(store string) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name := range r.processing {
		if match(name) {
			return true
		}
	}
	return false
}

// next says when to look at a store again.
type next struct {
	wait  bool          // soon: the caches do not show the last action yet
	after time.Duration // then: a backoff ends, a deadline passes
}

// process observes one store, plans it and acts; it ends the store's part
// in the record that queued it.
func (r *Reconciler) process(ctx context.Context, name string) (n next) {
	r.mu.Lock()
	rec := r.owner[name]
	r.mu.Unlock()
	defer func() {
		if !n.wait {
			r.done(name, rec)
		}
	}()
	now := r.Clock()
	r.mu.Lock()
	if r.inForce == nil {
		r.mu.Unlock()
		return next{} // nothing accepted yet: no store is known to be wanted or not
	}
	r.processing[name] = true // before asking Owns: see Busy
	r.mu.Unlock()
	r.taken(name)
	if !r.owns(name) {
		r.mu.Lock()
		delete(r.processing, name)
		r.mu.Unlock()
		return next{} // another replica's now: its shard moved
	}
	r.mu.Lock()
	d, revision, policy := r.inForce[name], r.forceRev, r.policyLocked(now)
	exp, expecting := r.expect[name]
	r.busy++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.busy--
		delete(r.processing, name)
		r.dirty[name] = true
		r.mu.Unlock()
		r.changed() // Syncing may have ended
	}()

	o := r.observer.ObserveStore(name)
	if expecting {
		if !exp.met(o) && time.Now().Before(exp.until) { // cache latency: wall time, not the policy clock
			return next{wait: true}
		}
		r.mu.Lock()
		delete(r.expect, name)
		r.mu.Unlock()
	}
	o = r.markStore(ctx, name, o)
	a, act := PlanStore(name, d, o, policy)

	r.mu.Lock()
	if key, ok := r.stalled[name]; ok && (d == nil || key != StallKey(d, o)) {
		r.unstallLocked(name, act) // a person acted
	}
	if !act || a.Kind != ActBlock {
		delete(r.blocked, name)
	}
	r.mu.Unlock()

	switch {
	case !act:
	case a.Kind == ActBlock:
		r.mu.Lock()
		if r.blocked[name] != a.Reason {
			r.log.Warn("store blocked: a person must act", "store", name, "reason", a.Reason)
			r.blockedEvent(a)
		}
		r.blocked[name] = a.Reason
		r.mu.Unlock()
		r.changed()
	default:
		r.log.Info("planned", "store", a.Store, "action", a.Kind, "reason", a.Reason)
		if l := r.applyOne(ctx, a, revision); l.Error == "" {
			r.mu.Lock()
			r.expect[name] = expectationOf(a, time.Now())
			r.mu.Unlock()
			return next{} // its own events queue it again
		}
	}
	r.mu.Lock()
	policy.Now = r.Clock()
	policy.Retries = map[string]Retry{name: r.retries[name]}
	r.mu.Unlock()
	if at := NextCheck(d, o, policy); !at.IsZero() {
		return next{after: at.Sub(policy.Now) + time.Second}
	}
	return next{}
}

// expectation is what the caches must show before a store that was just
// acted on is planned again: planning it from caches older than the action
// would repeat the action (install a release that exists) or, worse, take
// the release the action left pending for one a crash left behind.
type expectation struct {
	kind   ActionKind
	before string // releaseKey before the action
	until  time.Time
}

func expectationOf(a Action, now time.Time) expectation {
	return expectation{kind: a.Kind, before: expectKey(a.Kind, a.Observed), until: now.Add(expectationTTL)}
}

// met reports whether o shows the action done.
func (e expectation) met(o *ObservedStore) bool {
	if expectKey(e.kind, o) == e.before {
		return false
	}
	settled := func() bool { // a Helm action never ends with its release pending
		return !(pending(o.Release.Status) || o.Release.Status == StatusUninstalling)
	}
	switch e.kind {
	case ActDelete:
		return o == nil || o.Namespace == nil || o.Terminating()
	case ActRepair:
		return true
	case ActUnlock: // rolled back, or uninstalled
		return o == nil || o.Release == nil || settled()
	}
	// install, upgrade, reinstall, rollback: a new release record
	return o != nil && o.Release != nil && settled()
}

// expectKey fingerprints what an action of kind changes.
func expectKey(kind ActionKind, o *ObservedStore) string {
	if o == nil || o.Namespace == nil {
		return "none"
	}
	switch kind {
	case ActDelete:
		return fmt.Sprintf("%s/%t", o.Namespace.UID, o.Terminating())
	case ActRepair:
		return fmt.Sprintf("%s/%t/%s/%s/%s", o.Namespace.ResourceVersion, o.Credentials,
			resourceVersion(o.Quota), resourceVersion(o.LimitRange), resourceVersion(o.NetworkPolicy))
	}
	if o.Release == nil {
		return string(o.Namespace.UID) + "/no release"
	}
	return fmt.Sprintf("%s/%d/%s/%d", o.Namespace.UID, o.Release.Revision, o.Release.Status, o.Release.Updated.UnixNano())
}
