package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"time"

	"github.com/storeops/storeops/reconcile"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// engineFlags configure the reconciler, shared by serve, plan and sync.
type engineFlags struct {
	kubeconfig     string
	workers        int
	maxDeleteShare float64
	confirm        string
	stuckAfter     time.Duration
	readyTimeout   time.Duration
	helmTimeout    time.Duration
}

func (f *engineFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)")
	fs.IntVar(&f.workers, "workers", 4, "stores acted on at once")
	fs.Float64Var(&f.maxDeleteShare, "max-delete-share", 0.5, "largest share of the stores one sync may delete without confirmation (0-1)")
	fs.StringVar(&f.confirm, "confirm-deletions", "", "Git revision (7+ hex digits) whose deletions are confirmed despite the mass-deletion guard")
	fs.DurationVar(&f.stuckAfter, "stuck-after", 10*time.Minute, "a release pending longer than this was left by a crash and is unlocked")
	fs.DurationVar(&f.readyTimeout, "ready-timeout", 15*time.Minute, "a store not ready this long after a change counts as failed and is remediated")
	fs.DurationVar(&f.helmTimeout, "helm-timeout", 5*time.Minute, "timeout of each Helm operation, hooks included")
}

// engine is the reconciler wired to a cluster.
type engine struct {
	restCfg *rest.Config
	client  kubernetes.Interface
	board   *reconcile.Board
	obs     *reconcile.Observer
	rec     *reconcile.Reconciler
	changed *reconcile.Signal // the cluster changed
}

func (f *engineFlags) engine(log *slog.Logger) (*engine, error) {
	if f.maxDeleteShare < 0 || f.maxDeleteShare > 1 {
		return nil, errors.New("-max-delete-share must be between 0 and 1")
	}
	e := &engine{board: reconcile.NewBoard(), changed: reconcile.NewSignal()}
	var err error
	if e.restCfg, e.client, err = kubeConfig(f.kubeconfig); err != nil {
		return nil, err
	}
	e.obs = reconcile.NewObserver(e.client, e.changed.Notify)
	applier, err := reconcile.NewClusterApplier(e.restCfg, e.client, reconcile.EmbeddedCharts{}, log)
	if err != nil {
		return nil, err
	}
	applier.Timeout = f.helmTimeout
	e.rec = reconcile.New(e.obs, applier, e.board, log)
	if e.rec.ChartVersions, err = (reconcile.EmbeddedCharts{}).ChartVersions(); err != nil {
		return nil, err
	}
	e.rec.Workers = f.workers
	e.rec.Policy.MaxDeleteShare = f.maxDeleteShare
	e.rec.Policy.StuckAfter = f.stuckAfter
	e.rec.Policy.ReadyTimeout = f.readyTimeout
	return e, nil
}

// start runs the informers until ctx ends, waits for their caches, and
// refreshes the status on every change.
func (e *engine) start(ctx context.Context) error {
	if !e.obs.Start(ctx.Done()) {
		return errors.New("informer caches did not sync: " + context.Cause(ctx).Error())
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-e.changed.C():
				e.rec.Refresh()
			}
		}
	}()
	return nil
}
