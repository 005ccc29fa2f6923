package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func init() {
	commands["reconcile"] = command{"ask the running daemon to sync now (--wait: until its stores settle)", runReconcile}
	examples["reconcile"] = `  # Sync now, as a push webhook would
  storeops reconcile
  # Sync now and wait until every store is Ready (exit 1 if one fails)
  storeops reconcile --wait --server https://storeops.example.com --token-file ~/.storeops-token
  # Another instance, in its own namespace, in the cluster of kubeconfig context prod
  storeops reconcile --context prod --instance shop-eu --leader-election-namespace storeops-eu`
}

// runReconcile asks the leader of a running storeops serve to sync at
// once, as `flux reconcile` does: it writes a sync request on the
// sync-request Lease (<lease>-sync) the leader watches, with the caller's
// own Kubernetes credentials. With --wait it then follows the sync and
// the stores through the daemon's status API.
func runReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var e engineFlags
	e.kube.register(fs)
	fs.StringVar(&e.instance, "instance", reconcile.DefaultInstance, "the storeops instance to sync")
	fs.StringVar(&e.lease.namespace, "leader-election-namespace", envOr("POD_NAMESPACE", "default"), "storeops' own namespace, where its Leases live")
	fs.StringVar(&e.lease.name, "leader-election-name", "", "name of the leader Lease (default storeops-leader, or <instance>-leader)")
	var api apiFlags
	api.register(fs)
	wait := fs.Bool("wait", false, "wait for the sync, then until no store is Pending, Provisioning or Deleting; exit 1 unless every store is Ready or Suspended")
	waitTimeout := fs.Duration("wait-timeout", 15*time.Minute, "give up waiting after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: storeops reconcile [--wait] [flags]\n\nAsks the leader of a running storeops serve (with --leader-elect) to sync now.\nExit status: 0 requested (with --wait: synced and every store Ready), 1 otherwise.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "storeops reconcile: takes no arguments")
		return exitUsage
	}
	if err := reconcile.CheckInstanceName(e.instance); err != nil {
		fmt.Fprintln(stderr, "storeops reconcile: -instance:", err)
		return exitUsage
	}
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	reason := "reconcile " + hex.EncodeToString(id)
	if err := requestSync(ctx, &e, reason); err != nil {
		fmt.Fprintln(stderr, "storeops reconcile:", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "sync requested (%s)\n", reason)
	if !*wait {
		return exitOK
	}
	ctx, cancel := context.WithTimeout(ctx, *waitTimeout)
	defer cancel()
	rec, err := waitForSync(ctx, &api, "forwarded "+reason)
	if err != nil {
		fmt.Fprintln(stderr, "storeops reconcile:", err)
		return exitFailed
	}
	switch {
	case rec.Refused != nil:
		fmt.Fprintf(stdout, "revision %s refused: %s\n", short(rec.Revision), rec.Refused.Message)
		return exitFailed
	default:
		fmt.Fprintf(stdout, "synced revision %s: %d action(s), %d failed\n", short(rec.Revision), len(rec.Actions), len(rec.Errors))
	}
	list, err := waitForStores(ctx, &api)
	if err != nil {
		fmt.Fprintln(stderr, "storeops reconcile:", err)
		return exitFailed
	}
	code := exitOK
	for _, s := range list.Stores {
		if s.Phase != reconcile.PhaseReady && s.Phase != reconcile.PhaseSuspended {
			fmt.Fprintf(stdout, "%s: %s: %s\n", s.Name, s.Phase, s.Message)
			code = exitFailed
		}
	}
	if code == exitOK {
		fmt.Fprintf(stdout, "%d store(s) Ready\n", len(list.Stores))
	}
	return code
}

// requestSync writes a sync request on the sync-request Lease, as a
// follower passes a webhook on (see forward.go).
func requestSync(ctx context.Context, e *engineFlags, reason string) error {
	_, client, err := kubeConfig(e.kube)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	value, _ := json.Marshal(syncRequest{At: time.Now().UTC(), Reason: reason})
	leases := client.CoordinationV1().Leases(e.lease.namespace)
	name := e.syncLeaseName()
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{annotationSyncRequested: string(value)}}})
	_, err = leases.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name,
			Annotations: map[string]string{annotationSyncRequested: string(value)}}}, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("write the sync request on Lease %s/%s: %w", e.lease.namespace, name, err)
	}
	return nil
}

// pollEvery is how often --wait asks the daemon; its API has no watch.
const pollEvery = time.Second

// waitForSync waits until the daemon's history holds the sync trigger
// started, done with every store it queued, and returns it.
func waitForSync(ctx context.Context, api *apiFlags, trigger string) (reconcile.SyncRecord, error) {
	for {
		var list web.SyncList
		err := api.get(ctx, "/api/v1/syncs?limit=50", &list)
		if err == nil {
			for _, s := range list.Syncs {
				if strings.HasPrefix(s.Trigger, trigger) && !s.Running {
					return s, nil // every store it queued was looked at
				}
			}
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return reconcile.SyncRecord{}, err
			}
			return reconcile.SyncRecord{}, errors.New("the daemon did not run the requested sync in time (is it running with --leader-elect, and --server its address?)")
		case <-time.After(pollEvery):
		}
	}
}

// waitForStores waits until no store is on its way (Pending,
// Provisioning, Deleting) and returns them.
func waitForStores(ctx context.Context, api *apiFlags) (web.StoreList, error) {
	for {
		var list web.StoreList
		err := api.get(ctx, "/api/v1/stores", &list)
		if err == nil {
			settled := true
			for _, s := range list.Stores {
				switch s.Phase {
				case reconcile.PhasePending, reconcile.PhaseProvisioning, reconcile.PhaseDeleting:
					settled = false
				}
			}
			if settled {
				return list, nil
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("the stores did not settle in time")
			}
			return list, err
		case <-time.After(pollEvery):
		}
	}
}
