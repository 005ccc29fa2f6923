package main

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// A webhook can land on any replica, but only the leader applies. A
// follower that receives one writes the request on the sync-request Lease
// (<lease>-sync, beside the leader Lease); the leader watches that object
// and syncs. Kubernetes carries the message: no replica needs another's
// address.
const annotationSyncRequested = "storeops.dev/sync-requested"

// syncLeaseName is the object followers write sync requests on.
func (f *engineFlags) syncLeaseName() string { return f.leaseName() + "-sync" }

// syncRequest is the annotation's value.
type syncRequest struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// forward writes a sync request for the leader.
func (d *daemon) forward(reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	value, _ := json.Marshal(syncRequest{At: time.Now().UTC(), Reason: reason})
	leases := d.client.CoordinationV1().Leases(d.flags.lease.namespace)
	name := d.flags.syncLeaseName()
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{annotationSyncRequested: string(value)}}})
	_, err := leases.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name,
			Annotations: map[string]string{annotationSyncRequested: string(value)}}}, metav1.CreateOptions{})
	}
	if err != nil {
		d.log.Warn("cannot pass the webhook on to the leader; it syncs at its next scheduled run", "error", err)
		return
	}
	d.log.Info("webhook passed on to the leader", "reason", reason)
}

// watchSyncRequests triggers a sync, while leading, for every sync request
// a follower writes. It runs until ctx ends.
func (d *daemon) watchSyncRequests(ctx context.Context) {
	factory := informers.NewSharedInformerFactoryWithOptions(d.client, 0,
		informers.WithNamespace(d.flags.lease.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", d.flags.syncLeaseName()).String()
		}))
	inf := factory.Coordination().V1().Leases().Informer()
	seen := ""
	var started atomic.Bool
	handle := func(obj any) {
		l, ok := obj.(*coordinationv1.Lease)
		if !ok {
			return
		}
		d.noteConfirmation(l)
		d.noteMoves(l)
		v := l.Annotations[annotationSyncRequested]
		if v == "" || v == seen {
			return
		}
		seen = v
		if !started.Load() { // a request older than this process: the start sync covers it
			return
		}
		var req syncRequest
		_ = json.Unmarshal([]byte(v), &req)
		if d.leading.Load() != nil || d.shard != nil { // sharded: every replica takes the revision
			d.trigger("forwarded " + req.Reason)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, obj any) { handle(obj) },
	})
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	started.Store(true)
}

// webTrigger is the trigger of the webhooks: a follower also passes the
// request on to the leader.
func (d *daemon) webTrigger(reason string) {
	d.trigger(reason)
	if d.shard != nil || (d.cfg.leaderElect && d.leading.Load() == nil) {
		go d.forward(reason) // sharded: to every other replica
	}
}
