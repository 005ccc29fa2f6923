package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/storeops/storeops/shard"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// leaseLock is the instance's leader Lease, held under identity id.
func (e *engine) leaseLock(id string) *resourcelock.LeaseLock {
	return &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: e.flags.lease.namespace, Name: e.flags.leaseName()},
		Client:     e.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
}

func newIdentity() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%s", host, rand.String(6))
}

// elector returns a leader elector on the instance's Lease. The Lease is
// released when the context given to Run ends, which callers do only
// after they stopped applying.
func (e *engine) elector(id string, cb leaderelection.LeaderCallbacks) (*leaderelection.LeaderElector, error) {
	return leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            e.leaseLock(id),
		LeaseDuration:   e.flags.lease.duration,
		RenewDeadline:   e.flags.lease.renewDeadline,
		RetryPeriod:     e.flags.lease.retryPeriod,
		ReleaseOnCancel: true,
		Name:            "storeops",
		Callbacks:       cb,
	})
}

// errLeaseHeld is returned by takeLease when another process holds the
// Lease.
var errLeaseHeld = errors.New("another storeops applies to this cluster")

// takeLease takes the leader Lease for a one-shot run (sync --once). It
// refuses at once when a live holder has it. The returned context ends
// when the Lease is lost; release stops applying, then gives the Lease
// back.
func (e *engine) takeLease(ctx context.Context, log *slog.Logger) (context.Context, func(), error) {
	id := newIdentity()
	lock := e.leaseLock(id)
	rec, _, err := lock.Get(ctx)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("read the leader Lease %s: %w", lock.Describe(), err)
	}
	if err == nil && rec.HolderIdentity != "" {
		expires := rec.RenewTime.Add(time.Duration(rec.LeaseDurationSeconds) * time.Second)
		if time.Now().Before(expires) {
			return nil, nil, fmt.Errorf("%w: %s holds the leader Lease %s (renewed %s ago); not applying. "+
				"A running `storeops serve` applies stores.yaml by itself; trigger it with a webhook, or stop it first",
				errLeaseHeld, rec.HolderIdentity, lock.Describe(), time.Since(rec.RenewTime.Time).Round(time.Second))
		}
	}
	if members, err := e.liveShardMembers(ctx); err != nil {
		return nil, nil, err
	} else if members > 0 {
		return nil, nil, fmt.Errorf("%w: %d replicas of a sharded `storeops serve` (group %s) apply the stores; not applying. "+
			"Trigger them with a webhook or `storeops reconcile`, or stop them first", errLeaseHeld, members, e.flags.shardGroup())
	}
	runCtx, stop := context.WithCancel(ctx)
	leading := make(chan context.Context, 1)
	done := make(chan struct{})
	le, err := e.elector(id, leaderelection.LeaderCallbacks{
		OnStartedLeading: func(lctx context.Context) { leading <- lctx },
		OnStoppedLeading: func() { e.fence.Close() },
	})
	if err != nil {
		stop()
		return nil, nil, err
	}
	go func() { defer close(done); le.Run(runCtx) }()
	wait := time.NewTimer(e.flags.lease.duration + e.flags.lease.retryPeriod)
	defer wait.Stop()
	select {
	case lctx := <-leading:
		e.fence.Hold(lctx)
		log.Info("holding the leader Lease for this run", "lease", lock.Describe(), "identity", id)
		return lctx, func() { e.fence.Close(); stop(); <-done }, nil
	case <-wait.C:
	case <-ctx.Done():
	}
	stop()
	<-done
	return nil, nil, fmt.Errorf("%w: could not take the leader Lease %s", errLeaseHeld, lock.Describe())
}

// shardGroup names the shard group of the instance's serve --shards
// replicas: the leader Lease's name without "-leader".
func (f *engineFlags) shardGroup() string { return strings.TrimSuffix(f.leaseName(), "-leader") }

// liveShardMembers counts the replicas of a sharded serve whose member
// Lease is renewed: while there are some, a one-shot run must not apply
// beside them. Without the right to list Leases there can be none (the
// members need it too).
func (e *engine) liveShardMembers(ctx context.Context) (int, error) {
	list, err := e.client.CoordinationV1().Leases(e.flags.lease.namespace).List(ctx, metav1.ListOptions{
		LabelSelector: shard.GroupLabel + "=" + e.flags.shardGroup() + "," + shard.RoleLabel + "=member"})
	if apierrors.IsForbidden(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list the shard group's Leases: %w", err)
	}
	n := 0
	for _, l := range list.Items {
		if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			continue
		}
		if time.Now().Before(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)) {
			n++
		}
	}
	return n, nil
}

// elect runs leader election until ctx ends. Every replica serves the
// API; only the one holding the Lease applies, through its fence.
func (d *daemon) elect(ctx context.Context) {
	id := newIdentity()
	for ctx.Err() == nil {
		le, err := d.elector(id, leaderelection.LeaderCallbacks{
			OnStartedLeading: d.lead,
			OnStoppedLeading: func() {
				d.log.Info("no longer leading: this replica only serves")
				d.follow()
			},
			OnNewLeader: func(identity string) {
				if identity != id {
					d.log.Info("following", "leader", identity)
				}
			},
		})
		if err != nil {
			d.log.Error("leader election", "error", err)
			return
		}
		d.log.Info("waiting for the leader Lease", "lease", d.flags.lease.namespace+"/"+d.flags.leaseName(), "identity", id)
		le.Run(ctx) // returns when leadership is lost or ctx ends
	}
}
