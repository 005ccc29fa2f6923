package main

import (
	"context"
	"fmt"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// elect runs leader election on a coordination Lease until ctx ends. Every
// replica serves the API; only the one holding the Lease applies.
func (d *daemon) elect(ctx context.Context) {
	host, _ := os.Hostname()
	id := fmt.Sprintf("%s-%s", host, rand.String(6))
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: d.cfg.leaseNamespace, Name: d.cfg.leaseName},
		Client:     d.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   d.cfg.leaseDuration,
			RenewDeadline:   d.cfg.renewDeadline,
			RetryPeriod:     d.cfg.retryPeriod,
			ReleaseOnCancel: true,
			Name:            "storeops",
			Callbacks: leaderelection.LeaderCallbacks{
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
			},
		})
		if err != nil {
			d.log.Error("leader election", "error", err)
			return
		}
		d.log.Info("waiting for the leader Lease", "lease", d.cfg.leaseNamespace+"/"+d.cfg.leaseName, "identity", id)
		le.Run(ctx) // returns when leadership is lost or ctx ends
	}
}
