package shard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	coordinformers "k8s.io/client-go/informers/coordination/v1"
	"k8s.io/client-go/kubernetes"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/cache"
)

// Config configures a Member. Client, Namespace and ID are required.
type Config struct {
	// Client reaches the API server holding the Leases. It must not go
	// through the member's own fenced transport, and its rate limit must
	// allow a renewal of every shard each RenewInterval (a lone member
	// holds all of them: 16 requests a second with the defaults, above
	// client-go's default QPS of 5); give the member a client of its own.
	Client kubernetes.Interface
	// Namespace holds the Leases of the group.
	Namespace string
	// Prefix names the group's Leases and labels them (GroupLabel);
	// DefaultPrefix when empty.
	Prefix string
	// ID identifies this member; unique per process (a restarted process
	// takes a new one). It must be usable in a Lease name.
	ID string
	// Shards is the number of shards; DefaultShards when 0.
	Shards int

	// RenewInterval is how often the member and shard Leases are renewed;
	// DefaultRenewInterval when 0.
	RenewInterval time.Duration
	// LeaseDuration is written to the Leases (whole seconds): a member or
	// shard Lease not renewed for that long is expired;
	// DefaultLeaseDuration when 0.
	LeaseDuration time.Duration
	// SafetyMargin: Owns turns false SafetyMargin before the Lease expires
	// as seen from this member's last successful renewal;
	// LeaseDuration/5 when 0.
	SafetyMargin time.Duration
	// StableFor is how long the set of live members must stay the same
	// before shards move; DefaultStableFor when 0.
	StableFor time.Duration
	// DrainTimeout bounds Drain before a shard is released while running;
	// DefaultDrainTimeout when 0. The fence makes a release after a
	// timeout safe: work still running can no longer write.
	DrainTimeout time.Duration
	// StopTimeout bounds the graceful stop when Run's context ends
	// (Drain, releases, deletion of the member Lease);
	// DefaultStopTimeout when 0.
	StopTimeout time.Duration

	// OnAcquire is called after this member took shard k, its fence open.
	// It is called from the member's loop and must not block (enqueue the
	// shard's stores and return).
	OnAcquire func(k int)
	// Drain is called when this member stops holding shard k: before it
	// releases the Lease (Owns still true, so in-flight work can finish
	// its writes), or after the Lease was lost (Owns already false). It
	// should stop starting work on the shard's stores and return once the
	// work in flight is done, or when ctx ends. It may be called for
	// several shards at once.
	Drain func(ctx context.Context, k int)
	// StoreOfNamespace maps a namespace to the store living in it, for
	// the fenced transport (Wrap); ok false lets requests to the
	// namespace through. Nil: every request passes.
	StoreOfNamespace func(ns string) (store string, ok bool)
	// Log receives the member's events; slog.Default() when nil.
	Log *slog.Logger
}

const (
	roleMember = "member"
	roleShard  = "shard"
)

// Member is one replica's membership in a shard group. Create it with
// New, run it with Run; its other methods are safe to call concurrently,
// before, during and after Run.
type Member struct {
	cfg        Config
	log        *slog.Logger
	leases     coordclient.LeaseInterface
	memberName string
	shards     []*shardState
	byName     map[string]*shardState

	mu       sync.Mutex
	observed map[string]observation // Leases of the group, by name
	seen     []string               // live members at the last step
	seenAt   time.Time              // when seen last changed
	view     []string               // the stable membership acted upon
	target   []string               // Assignment(view); nil until a view is stable

	member        *coordinationv1.Lease // the member Lease as last written
	memberRenewed time.Time             // start of the last member renewal attempt

	wake     chan struct{}
	releases sync.WaitGroup
	running  atomic.Bool
	// killed makes Run return without releasing anything when its context
	// ends, as if the process died (for tests: the fences must then close
	// by themselves).
	killed atomic.Bool
}

// observation is a Lease as last seen through the informer, and the local
// time its resourceVersion was first seen.
type observation struct {
	lease *coordinationv1.Lease
	at    time.Time
}

// shardState is this member's view of one shard.
type shardState struct {
	k    int
	name string
	// own is the local deadline of this member's ownership while its
	// fence is open, nil while closed.
	own atomic.Pointer[time.Time]
	// inflight counts the writes of the fenced transport in flight.
	inflight atomic.Int64

	mu        sync.Mutex // serialises writes of the shard's Lease; guards below
	lease     *coordinationv1.Lease
	held      bool // the Lease names this member as far as it knows
	releasing bool // a release or a drain after a loss is running
	renewed   time.Time
}

func (s *shardState) owns(now time.Time) bool {
	d := s.own.Load()
	return d != nil && now.Before(*d)
}

// New checks cfg, fills in its defaults and returns a Member that holds
// nothing until Run.
func New(cfg Config) (*Member, error) {
	if cfg.Client == nil || cfg.Namespace == "" || cfg.ID == "" {
		return nil, errors.New("shard: Client, Namespace and ID are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Shards == 0 {
		cfg.Shards = DefaultShards
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.RenewInterval, DefaultRenewInterval)
	def(&cfg.LeaseDuration, DefaultLeaseDuration)
	def(&cfg.SafetyMargin, cfg.LeaseDuration/5)
	def(&cfg.StableFor, DefaultStableFor)
	def(&cfg.DrainTimeout, DefaultDrainTimeout)
	def(&cfg.StopTimeout, DefaultStopTimeout)
	switch {
	case cfg.Shards < 1:
		return nil, fmt.Errorf("shard: Shards %d: must be positive", cfg.Shards)
	case cfg.LeaseDuration < time.Second || cfg.LeaseDuration%time.Second != 0:
		return nil, fmt.Errorf("shard: LeaseDuration %s: must be whole seconds", cfg.LeaseDuration)
	case cfg.RenewInterval <= 0 || cfg.SafetyMargin <= 0 || cfg.RenewInterval >= cfg.LeaseDuration-cfg.SafetyMargin:
		return nil, fmt.Errorf("shard: RenewInterval %s and SafetyMargin %s must be positive, and RenewInterval shorter than LeaseDuration %s - SafetyMargin",
			cfg.RenewInterval, cfg.SafetyMargin, cfg.LeaseDuration)
	}
	m := &Member{
		cfg:        cfg,
		log:        cfg.Log,
		leases:     cfg.Client.CoordinationV1().Leases(cfg.Namespace),
		memberName: cfg.Prefix + "-member-" + cfg.ID,
		byName:     map[string]*shardState{},
		observed:   map[string]observation{},
		wake:       make(chan struct{}, 1),
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.log = m.log.With("shard-member", cfg.ID)
	longest := cfg.Prefix + "-shard-" + strconv.Itoa(cfg.Shards-1)
	for _, name := range []string{m.memberName, longest} {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return nil, fmt.Errorf("shard: Lease name %q: %v", name, errs)
		}
	}
	for k := range cfg.Shards {
		s := &shardState{k: k, name: fmt.Sprintf("%s-shard-%d", cfg.Prefix, k)}
		m.shards = append(m.shards, s)
		m.byName[s.name] = s
	}
	return m, nil
}

// ID returns the member's id.
func (m *Member) ID() string { return m.cfg.ID }

// Shards returns the number of shards.
func (m *Member) Shards() int { return m.cfg.Shards }

// ShardOf returns the shard of a store (ShardOf with the member's Shards).
func (m *Member) ShardOf(store string) int { return ShardOf(store, m.cfg.Shards) }

// Owns reports whether this member may act on store now: it holds the
// Lease of the store's shard and its last renewal is recent enough.
func (m *Member) Owns(store string) bool { return m.OwnsShard(m.ShardOf(store)) }

// OwnsShard is Owns for a shard.
func (m *Member) OwnsShard(k int) bool {
	return k >= 0 && k < len(m.shards) && m.shards[k].owns(time.Now())
}

// deadline is the end of ownership after a renewal sent at start.
func (m *Member) deadline(start time.Time) *time.Time {
	d := start.Add(m.cfg.LeaseDuration - m.cfg.SafetyMargin)
	return &d
}

// Run takes part in the group until ctx ends: it renews the member Lease,
// follows the membership, takes, renews and releases shard Leases. When
// ctx ends it drains and releases the shards it holds and deletes its
// member Lease, within StopTimeout. It returns an error only if it cannot
// start (the Leases cannot be listed before ctx ends). Run must not be
// called twice.
func (m *Member) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("shard: Run called twice")
	}
	inf := coordinformers.NewFilteredLeaseInformer(m.cfg.Client, m.cfg.Namespace, 0, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = GroupLabel + "=" + m.cfg.Prefix })
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { m.observe(obj, false) },
		UpdateFunc: func(_, obj any) { m.observe(obj, false) },
		DeleteFunc: func(obj any) { m.observe(obj, true) },
	})
	if err != nil {
		return err
	}
	infCtx, stopInf := context.WithCancel(ctx)
	defer stopInf()
	go inf.RunWithContext(infCtx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("shard: list the Leases of %s/%s: %w", m.cfg.Namespace, m.cfg.Prefix, context.Cause(ctx))
	}
	m.log.Info("joined the shard group", "namespace", m.cfg.Namespace, "group", m.cfg.Prefix, "shards", m.cfg.Shards)
	tick := time.NewTicker(max(m.cfg.RenewInterval/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		m.step(ctx)
		select {
		case <-ctx.Done():
			if !m.killed.Load() {
				m.stop(ctx)
			}
			return nil
		case <-m.wake:
		case <-tick.C:
		}
	}
}

// observe records a Lease event of the informer.
func (m *Member) observe(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return
	}
	m.mu.Lock()
	if deleted {
		delete(m.observed, l.Name)
	} else if o, ok := m.observed[l.Name]; !ok || o.lease.ResourceVersion != l.ResourceVersion {
		m.observed[l.Name] = observation{lease: l, at: time.Now()}
	}
	m.mu.Unlock()
	m.poke()
}

func (m *Member) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// requestTimeout bounds one API request.
func (m *Member) requestTimeout() time.Duration { return max(m.cfg.RenewInterval, time.Second) }

func holder(l *coordinationv1.Lease) string {
	if l == nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// duration is the lease duration a Lease declares (ours when it declares
// none).
func (m *Member) duration(l *coordinationv1.Lease) time.Duration {
	if l.Spec.LeaseDurationSeconds == nil || *l.Spec.LeaseDurationSeconds <= 0 {
		return m.cfg.LeaseDuration
	}
	return time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
}

// liveMembers returns the sorted ids of the members whose Lease is not
// expired at now by the local clock. Caller holds m.mu.
func (m *Member) liveMembers(now time.Time) []string {
	var ids []string
	for _, o := range m.observed {
		l := o.lease
		if l.Labels[RoleLabel] != roleMember || holder(l) == "" || l.Spec.RenewTime == nil {
			continue
		}
		if now.Before(l.Spec.RenewTime.Add(m.duration(l))) {
			ids = append(ids, holder(l))
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// step does what is due: renew the member Lease, update the view, and
// take, renew, release or give up shards.
func (m *Member) step(ctx context.Context) {
	now := time.Now()
	if now.Sub(m.memberRenewed) >= m.cfg.RenewInterval {
		m.memberRenewed = now
		m.renewMember(ctx, now)
	}
	m.mu.Lock()
	if live := m.liveMembers(now); !slices.Equal(live, m.seen) || m.seenAt.IsZero() {
		m.seen, m.seenAt = live, now
	}
	if now.Sub(m.seenAt) >= m.cfg.StableFor && (m.target == nil || !slices.Equal(m.view, m.seen)) {
		m.view, m.target = m.seen, Assignment(m.seen, m.cfg.Shards)
		m.log.Info("shard membership", "members", m.view)
	}
	target := m.target
	m.mu.Unlock()

	var (
		wg        sync.WaitGroup
		resultsMu sync.Mutex
		acquired  []int
		failed    []int
		failure   error
	)
	sem := make(chan struct{}, 8)
	for _, s := range m.shards {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			took, err := m.tend(ctx, s, target, now)
			resultsMu.Lock()
			defer resultsMu.Unlock()
			if took {
				acquired = append(acquired, s.k)
			}
			if err != nil {
				failed, failure = append(failed, s.k), err
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 && ctx.Err() == nil {
		slices.Sort(failed)
		m.log.Warn("renew shard Leases", "shards", failed, "error", failure)
	}
	slices.Sort(acquired)
	for _, k := range acquired {
		if m.cfg.OnAcquire != nil {
			m.cfg.OnAcquire(k)
		}
	}
}

// tend does what is due for one shard; it reports whether it took it,
// and the error of a renewal that failed without losing the shard.
func (m *Member) tend(ctx context.Context, s *shardState, target []string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		return false, nil
	}
	assigned := target != nil && target[s.k] == m.cfg.ID
	switch {
	case s.held && !s.owns(now):
		// Renewals failed for too long: the fence has closed; another
		// member may take the Lease once it expires.
		m.log.Warn("lost a shard: its Lease was not renewed in time", "shard", s.k)
		m.lose(ctx, s)
		return false, nil
	case s.held:
		if target != nil && !assigned && !s.releasing {
			s.releasing = true
			m.releases.Go(func() { m.release(ctx, s, false) })
		}
		if now.Sub(s.renewed) >= m.cfg.RenewInterval {
			return false, m.renewShard(ctx, s)
		}
		return false, nil
	case assigned && !s.releasing:
		return m.acquire(ctx, s), nil
	}
	return false, nil
}

// lose closes the fence of a shard no longer held and drains it in the
// background. Caller holds s.mu.
func (m *Member) lose(ctx context.Context, s *shardState) {
	s.own.Store(nil)
	s.held = false
	if s.releasing {
		return // the running release drains it
	}
	s.releasing = true
	m.releases.Go(func() {
		m.drain(ctx, s.k)
		s.mu.Lock()
		s.releasing = false
		s.mu.Unlock()
		m.poke()
	})
}

func (m *Member) drain(ctx context.Context, k int) {
	if m.cfg.Drain == nil {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, m.cfg.DrainTimeout)
	defer cancel()
	m.cfg.Drain(dctx, k)
}

// release drains a held shard, closes its fence, waits for the writes in
// flight and gives the Lease back. While running, a shard assigned to
// this member again is kept instead (and OnAcquire called again, since it
// was drained). Stopping releases it whatever the assignment.
func (m *Member) release(ctx context.Context, s *shardState, stopping bool) {
	m.drain(ctx, s.k)
	s.mu.Lock()
	defer func() {
		s.releasing = false
		s.mu.Unlock()
		m.poke()
	}()
	if !s.held {
		return // lost meanwhile
	}
	if !stopping && ctx.Err() == nil {
		m.mu.Lock()
		keep := m.target != nil && m.target[s.k] == m.cfg.ID
		m.mu.Unlock()
		if keep {
			m.log.Info("keeping a drained shard: assigned here again", "shard", s.k)
			if m.cfg.OnAcquire != nil {
				m.cfg.OnAcquire(s.k)
			}
			return
		}
	}
	s.own.Store(nil)
	s.held = false
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.requestTimeout())
	defer cancel()
	for s.inflight.Load() > 0 && wctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	l := s.lease.DeepCopy()
	l.Spec.HolderIdentity = new("")
	_, err := m.leases.Update(wctx, l, metav1.UpdateOptions{})
	for try := 0; apierrors.IsConflict(err) && try < 3; try++ {
		// Our copy is older than the server's (a renewal of ours raced
		// the release): give it back from the server's copy while it
		// still names us.
		var cur *coordinationv1.Lease
		if cur, err = m.leases.Get(wctx, l.Name, metav1.GetOptions{}); err != nil || holder(cur) != m.cfg.ID {
			break
		}
		cur.Spec.HolderIdentity = new("")
		_, err = m.leases.Update(wctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		m.log.Warn("release a shard: it will expire instead", "shard", s.k, "error", err)
		return
	}
	m.log.Info("released a shard", "shard", s.k)
}

// renewShard renews a held shard's Lease; it returns the error of a
// failed renewal that did not lose the shard. Caller holds s.mu.
func (m *Member) renewShard(ctx context.Context, s *shardState) error {
	start := time.Now()
	s.renewed = start
	l := s.lease.DeepCopy()
	l.Spec.RenewTime = &metav1.MicroTime{Time: start}
	rctx, cancel := context.WithTimeout(ctx, m.requestTimeout())
	defer cancel()
	upd, err := m.leases.Update(rctx, l, metav1.UpdateOptions{})
	switch {
	case err == nil:
		s.lease = upd
		s.own.Store(m.deadline(start))
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		m.log.Warn("lost a shard: its Lease changed under us", "shard", s.k, "error", err)
		m.lose(ctx, s)
	default:
		return err
	}
	return nil
}

// acquire takes a shard assigned to this member if its Lease is free,
// released or expired. Caller holds s.mu.
func (m *Member) acquire(ctx context.Context, s *shardState) bool {
	m.mu.Lock()
	o, seen := m.observed[s.name]
	m.mu.Unlock()
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, m.requestTimeout())
	defer cancel()
	now := metav1.NewMicroTime(start)
	var (
		upd *coordinationv1.Lease
		err error
	)
	if !seen {
		upd, err = m.leases.Create(rctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: m.cfg.Namespace,
				Labels: map[string]string{GroupLabel: m.cfg.Prefix, RoleLabel: roleShard}},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       new(m.cfg.ID),
				LeaseDurationSeconds: new(int32(m.cfg.LeaseDuration / time.Second)),
				AcquireTime:          &now, RenewTime: &now, LeaseTransitions: new(int32(0)),
			},
		}, metav1.CreateOptions{})
	} else {
		h := holder(o.lease)
		if h != "" && h != m.cfg.ID && time.Since(o.at) < m.duration(o.lease) {
			return false // held and alive: wait for its release or expiry
		}
		l := o.lease.DeepCopy()
		if h != m.cfg.ID {
			l.Spec.LeaseTransitions = new(ptrOr(l.Spec.LeaseTransitions) + 1)
		}
		l.Spec.HolderIdentity = new(m.cfg.ID)
		l.Spec.LeaseDurationSeconds = new(int32(m.cfg.LeaseDuration / time.Second))
		l.Spec.AcquireTime, l.Spec.RenewTime = &now, &now
		upd, err = m.leases.Update(rctx, l, metav1.UpdateOptions{})
		if err == nil && h != "" && h != m.cfg.ID {
			m.log.Info("took over an expired shard Lease", "shard", s.k, "from", h)
		}
	}
	if err != nil {
		// Someone else was faster, or our cache is behind: the informer
		// will tell.
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) && ctx.Err() == nil {
			m.log.Warn("take a shard Lease", "shard", s.k, "error", err)
		}
		return false
	}
	s.lease, s.held, s.renewed = upd, true, start
	s.own.Store(m.deadline(start))
	m.log.Debug("took a shard", "shard", s.k)
	return true
}

func ptrOr(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// renewMember creates or renews the member Lease.
func (m *Member) renewMember(ctx context.Context, start time.Time) {
	rctx, cancel := context.WithTimeout(ctx, m.requestTimeout())
	defer cancel()
	now := metav1.NewMicroTime(start)
	var err error
	if m.member == nil {
		var l *coordinationv1.Lease
		l, err = m.leases.Get(rctx, m.memberName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			m.member, err = m.leases.Create(rctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: m.memberName, Namespace: m.cfg.Namespace,
					Labels: map[string]string{GroupLabel: m.cfg.Prefix, RoleLabel: roleMember}},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity:       new(m.cfg.ID),
					LeaseDurationSeconds: new(int32(m.cfg.LeaseDuration / time.Second)),
					AcquireTime:          &now, RenewTime: &now,
				},
			}, metav1.CreateOptions{})
		} else if err == nil {
			l.Spec.HolderIdentity = new(m.cfg.ID)
			l.Spec.LeaseDurationSeconds = new(int32(m.cfg.LeaseDuration / time.Second))
			l.Spec.RenewTime = &now
			m.member, err = m.leases.Update(rctx, l, metav1.UpdateOptions{})
		}
	} else {
		l := m.member.DeepCopy()
		l.Spec.RenewTime = &now
		var upd *coordinationv1.Lease
		if upd, err = m.leases.Update(rctx, l, metav1.UpdateOptions{}); err == nil {
			m.member = upd
		}
	}
	if err != nil {
		m.member = nil // read it again next time
		if ctx.Err() == nil {
			m.log.Warn("renew the member Lease", "lease", m.memberName, "error", err)
		}
	}
}

// stop drains and releases every held shard and deletes the member Lease,
// within StopTimeout.
func (m *Member) stop(ctx context.Context) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.StopTimeout)
	defer cancel()
	for _, s := range m.shards {
		s.mu.Lock()
		if s.held && !s.releasing {
			s.releasing = true
			m.releases.Go(func() { m.release(sctx, s, true) })
		}
		s.mu.Unlock()
	}
	done := make(chan struct{})
	go func() { m.releases.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		m.log.Warn("stop: shards not released in time; they will expire")
	}
	for _, s := range m.shards {
		s.own.Store(nil)
	}
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), m.requestTimeout())
	defer dcancel()
	if err := m.leases.Delete(dctx, m.memberName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		m.log.Warn("stop: delete the member Lease; it will expire", "error", err)
	}
	m.log.Info("left the shard group")
}
