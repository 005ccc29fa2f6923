package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// engineFlags configure the reconciler, shared by serve, plan and sync.
type engineFlags struct {
	kube           kubeFlags
	workers        int
	maxDeleteShare float64
	confirm        string
	stuckAfter     time.Duration
	readyTimeout   time.Duration
	helmTimeout    time.Duration
	instance       string
	lease          leaseFlags
	storeRole      storeRoleFlags
	// shards > 0 (serve --shards) makes this process a member of the
	// instance's shard group: its applier is fenced by the shard Leases,
	// not the leader Lease.
	shards int
	// clusters places stores on the clusters registered by Secrets in
	// storeops' namespace too (see LabelCluster).
	clusters bool
}

// leaseFlags name the leader Lease, which serve and sync --once share: one
// applier at a time.
type leaseFlags struct {
	namespace     string
	name          string
	duration      time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration
}

func (f *engineFlags) register(fs *flag.FlagSet) {
	f.kube.register(fs)
	fs.IntVar(&f.workers, "workers", 4, "stores acted on at once")
	fs.Float64Var(&f.maxDeleteShare, "max-delete-share", 0.5, "largest share of the stores one sync may delete without confirmation (0-1)")
	fs.StringVar(&f.confirm, "confirm-deletions", "", "Git revision (7+ hex digits) whose deletions are confirmed despite the mass-deletion guard")
	fs.DurationVar(&f.stuckAfter, "stuck-after", 10*time.Minute, "a release pending longer than this was left by a crash and is unlocked")
	fs.DurationVar(&f.readyTimeout, "ready-timeout", 20*time.Minute, "a new release revision not Ready this long counts as failed and is remediated (never one that was Ready); at least the charts' longest Job deadline plus 2m")
	fs.DurationVar(&f.helmTimeout, "helm-timeout", 0, "timeout of each Helm operation, hooks included (default: derived from the charts' hook deadlines, see docs/timeouts.md)")
	fs.StringVar(&f.instance, "instance", reconcile.DefaultInstance, "name of this storeops instance: it acts only on stores it created, so several instances can share a cluster")
	fs.StringVar(&f.lease.namespace, "leader-election-namespace", envOr("POD_NAMESPACE", "default"), "storeops' own namespace: the leader Lease and the instance key Secret live there")
	fs.StringVar(&f.lease.name, "leader-election-name", "", "name of the leader Lease (default storeops-leader, or <instance>-leader for another instance)")
	fs.DurationVar(&f.lease.duration, "leader-lease-duration", 15*time.Second, "how long a leader's Lease is valid")
	fs.DurationVar(&f.lease.renewDeadline, "leader-renew-deadline", 10*time.Second, "how long the leader tries to renew before giving up")
	fs.DurationVar(&f.lease.retryPeriod, "leader-retry-period", 2*time.Second, "how often candidates try to take the Lease")
	f.storeRole.register(fs)
	fs.BoolVar(&f.clusters, "clusters", false, "also place stores on the target clusters registered as Secrets labelled "+LabelCluster+"=<name> in storeops' namespace (see the README, \"Several clusters\")")
}

// leaseName is the leader Lease of the instance.
func (f *engineFlags) leaseName() string {
	switch {
	case f.lease.name != "":
		return f.lease.name
	case f.instance == reconcile.DefaultInstance:
		return "storeops-leader"
	}
	return f.instance + "-leader"
}

// engine is the reconciler wired to a cluster.
type engine struct {
	restCfg *rest.Config
	client  kubernetes.Interface
	board   *reconcile.Board
	rec     *reconcile.Reconciler
	changed *reconcile.Signal // the cluster changed
	// fence lets the applier's requests through only while this process
	// holds the leader Lease.
	fence *reconcile.Fence
	flags *engineFlags
	// clusters are the target clusters, local the one of restCfg.
	clusters *reconcile.Clusters
	local    *reconcile.Member
	inst     reconcile.Instance
	log      *slog.Logger
	// helmTimeout bounds each Helm operation of every cluster's applier.
	helmTimeout time.Duration
	// keyClient is the local applier's (fenced) client: the creation
	// intents of every cluster's store namespaces are recorded with it.
	keyClient kubernetes.Interface
	// shard is set with --shards: the stores this replica acts on.
	shard *sharding
}

// engine wires the reconciler to the cluster. With createKey, the instance
// key Secret is made on first use (serve, sync); plan only reads it.
func (f *engineFlags) engine(ctx context.Context, log *slog.Logger, createKey bool) (*engine, error) {
	if f.maxDeleteShare < 0 || f.maxDeleteShare > 1 {
		return nil, errors.New("-max-delete-share must be between 0 and 1")
	}
	if err := reconcile.CheckInstanceName(f.instance); err != nil {
		return nil, fmt.Errorf("-instance: %w", err)
	}
	e := &engine{board: reconcile.NewBoard(), changed: reconcile.NewSignal(), fence: &reconcile.Fence{}, flags: f, log: log}
	var err error
	if e.restCfg, e.client, err = kubeConfig(f.kube); err != nil {
		return nil, err
	}
	var inst reconcile.Instance
	if createKey {
		inst, err = reconcile.LoadInstanceKey(ctx, e.client, f.lease.namespace, f.instance)
	} else {
		inst, err = reconcile.ReadInstanceKey(ctx, e.client, f.lease.namespace, f.instance)
	}
	if err != nil {
		return nil, err
	}
	e.inst = inst
	e.clusters = reconcile.NewClusters(func(string) {
		// A cluster came, went, answers again or stopped answering: its
		// stores are looked at again and the status shows it.
		e.changed.Notify()
		e.rec.EnqueueMatching(func(string) bool { return true })
	})
	if f.shards > 0 {
		if e.shard, err = newSharding(e.restCfg, f, f.shards, func() *reconcile.Reconciler { return e.rec }, log); err != nil {
			return nil, err
		}
	}
	deadlines, err := reconcile.ChartDeadlines(reconcile.EmbeddedCharts{})
	if err != nil {
		return nil, err
	}
	e.helmTimeout = deadlines.Helm
	if f.helmTimeout > 0 {
		e.helmTimeout = f.helmTimeout
	}
	if e.local, err = e.member("", e.restCfg, nil, log); err != nil {
		return nil, err
	}
	e.rec = reconcile.New(e.clusters, e.clusters, e.board, log)
	e.rec.Instance = inst.Name
	e.rec.Events = e.clusters
	e.rec.Policy.Clusters = e.clusters
	if e.rec.ChartVersions, err = (reconcile.EmbeddedCharts{}).ChartVersions(); err != nil {
		return nil, err
	}
	e.rec.Workers = f.workers
	if e.shard != nil {
		e.rec.Owns, e.rec.Shards, e.rec.ReplicaOf = e.shard.owns, e.shard.shardView, e.shard.replicaOf
		// The mass-deletion guard judges each revision once for every
		// replica: the first verdict recorded holds.
		v := &verdicts{client: e.client, namespace: f.lease.namespace, name: f.syncLeaseName(), member: e.shard.m.ID(), log: log}
		e.rec.Judge = v.judge
	}
	e.rec.Policy.MaxDeleteShare = f.maxDeleteShare
	e.rec.Policy.StuckAfter = f.stuckAfter
	e.rec.Policy.ReadyTimeout = f.readyTimeout
	if f.readyTimeout > 0 && f.readyTimeout < deadlines.Ready {
		// A store is Ready only after its setup Job: never judge a revision
		// before that Job's deadline has passed.
		log.Warn("--ready-timeout is shorter than the charts' Job deadlines allow; using their bound", "ready_timeout", f.readyTimeout, "bound", deadlines.Ready)
		e.rec.Policy.ReadyTimeout = deadlines.Ready
	}
	return e, nil
}

// member wires the observer, applier and event recorder of one target
// cluster: name "" and storeops' own configuration for the local one, else
// a registered cluster's (reg holds its store role; probe is set for it).
func (e *engine) member(name string, cfg *rest.Config, reg *registration, log *slog.Logger) (*reconcile.Member, error) {
	f := e.flags
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	m := &reconcile.Member{Name: name}
	m.Observer = reconcile.NewObserver(client, e.inst, func(store string) {
		e.changed.Notify()
		e.rec.Enqueue(store) // the store's worker looks at it again (leader only)
	})
	// The applier's requests pass the fence; the informers' do not need to.
	applyCfg := rest.CopyConfig(cfg)
	if e.shard != nil {
		applyCfg.Wrap(e.shard.m.Wrap) // writes to a store's namespace only while its shard is held
	} else {
		applyCfg.Wrap(e.fence.Wrap)
	}
	applyClient, err := kubernetes.NewForConfig(applyCfg)
	if err != nil {
		return nil, err
	}
	applier, err := reconcile.NewClusterApplier(applyCfg, applyClient, reconcile.EmbeddedCharts{}, log.With("cluster", render.ClusterName(name)))
	if err != nil {
		return nil, err
	}
	applier.Instance = e.inst
	if reg == nil {
		e.keyClient = applyClient
	} else {
		applier.KeyClient = e.keyClient // the intents live beside the instance key, on the local cluster
	}
	if reg == nil {
		if applier.StoreRole, err = f.storeRole.role(); err != nil {
			return nil, err
		}
	} else {
		applier.StoreRole = reg.storeRole
		m.Probe = func(ctx context.Context) error {
			return client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
		}
	}
	// Once the store role is bound in a namespace, its Secrets are listed
	// at once, not after the informer's backoff.
	applier.OnBound = m.Observer.Rewatch
	applier.Timeout = e.helmTimeout
	m.Applier = applier
	m.Events = reconcile.NewKubeEvents(applyClient)
	m.Config, m.Client = cfg, client
	return m, nil
}

// startEvents starts the event recorder of a member.
func (e *engine) startEvents(ctx context.Context, m *reconcile.Member) error {
	if k, ok := m.Events.(*reconcile.KubeEvents); ok {
		return k.Start(ctx)
	}
	return nil
}

// start runs the informers until ctx ends, waits for their caches, and
// refreshes the status on every change.
func (e *engine) start(ctx context.Context) error {
	e.clusters.Add(ctx, e.local)
	if !e.clusters.WaitObserved(ctx, "") {
		return errors.New("informer caches did not sync: " + context.Cause(ctx).Error())
	}
	if err := e.startEvents(ctx, e.local); err != nil {
		return err
	}
	if err := e.watchClusters(ctx); err != nil {
		return err
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-e.changed.C():
				e.rec.ClusterChanged(ctx)
				// Every event of a burst (a fleet installing) would
				// otherwise rebuild the status of every store: one
				// rebuild per interval at most.
				select {
				case <-ctx.Done():
					return
				case <-time.After(reconcile.PublishInterval):
				}
			}
		}
	}()
	return nil
}
