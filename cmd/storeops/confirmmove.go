package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

// Moving a store to another target cluster deletes it, with its data,
// from the cluster it lives on. Like deletions beyond the mass-deletion
// guard, a move is confirmed from outside the repository, by a person
// with access to storeops' namespace: `storeops confirm-move STORE --from
// A --to B` records it on the sync-request Lease, as a JSON object of
// store name to "from>to" under this annotation. It confirms exactly that
// move of that store.
const annotationConfirmMoves = "storeops.dev/confirm-moves"

func init() {
	commands["confirm-move"] = command{"confirm moving a store from one target cluster to another (deletes it there)", runConfirmMove}
}

func runConfirmMove(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("confirm-move", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f engineFlags
	f.register(fs)
	var from, to string
	fs.StringVar(&from, "from", "", "cluster the store lives on (local: storeops' own)")
	fs.StringVar(&to, "to", "", "cluster stores.yaml places it on (local: storeops' own)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: storeops confirm-move [--kubeconfig FILE] [--context NAME] [--leader-election-namespace NS] --from CLUSTER --to CLUSTER STORE

Confirms that STORE, which lives on target cluster --from while stores.yaml
places it on --to, may be moved: storeops deletes it from --from, with its
data (database, uploads, credentials), then installs it anew on --to. It
writes the confirmation on the Lease <lease>-sync in storeops' namespace;
the replicas act on it at once. It confirms that move of that store only.
Run it with your own credentials, not storeops'.`)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	store := fs.Arg(0)
	for _, c := range []struct{ what, msg string }{
		{"STORE", render.CheckName(store)},
		{"--from", checkMoveCluster(from)},
		{"--to", checkMoveCluster(to)},
	} {
		if c.msg != "" {
			fmt.Fprintf(stderr, "storeops confirm-move: %s: %s\n", c.what, c.msg)
			return exitUsage
		}
	}
	// Both are valid names, local spelled out: as messages name them.
	if from == to {
		fmt.Fprintf(stderr, "storeops confirm-move: --from and --to are the same cluster (%s)\n", from)
		return exitUsage
	}
	key := reconcile.MoveKey(render.ClusterOf(from), render.ClusterOf(to))
	_, client, err := kubeConfig(f.kube)
	if err != nil {
		fmt.Fprintln(stderr, "storeops confirm-move:", err)
		return exitFailed
	}
	if err := writeMove(ctx, client, f.lease.namespace, f.syncLeaseName(), store, key); err != nil {
		fmt.Fprintln(stderr, "storeops confirm-move:", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "Move of store %s from cluster %s to %s confirmed on Lease %s/%s: it is deleted from %s, with its data, and installed on %s.\n",
		store, from, to, f.lease.namespace, f.syncLeaseName(), from, to)
	return exitOK
}

func checkMoveCluster(c string) string {
	if c == "" {
		return "is required (local for storeops' own cluster)"
	}
	return render.CheckCluster(c)
}

// writeMove adds the confirmed move of store to the Lease's annotation.
func writeMove(ctx context.Context, client kubernetes.Interface, namespace, name, store, key string) error {
	err := editLease(ctx, client, namespace, name, func(l *coordinationv1.Lease) bool {
		moves := parseMoves(l)
		moves[store] = key
		raw, _ := json.Marshal(moves)
		l.Annotations[annotationConfirmMoves] = string(raw)
		return true
	})
	if err != nil {
		return fmt.Errorf("write the confirmation on Lease %s/%s: %w", namespace, name, err)
	}
	return nil
}

// editLease reads the Lease (a new one when there is none), lets edit
// change it (its annotations are never nil) and writes it back when edit
// says it changed it, again from the server's copy on a conflict.
func editLease(ctx context.Context, client kubernetes.Interface, namespace, name string, edit func(*coordinationv1.Lease) bool) error {
	leases := client.CoordinationV1().Leases(namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l, err := leases.Get(ctx, name, metav1.GetOptions{})
		exists := err == nil
		if apierrors.IsNotFound(err) {
			l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name}}
		} else if err != nil {
			return err
		}
		if l.Annotations == nil {
			l.Annotations = map[string]string{}
		}
		if !edit(l) {
			return nil
		}
		if !exists {
			_, err = leases.Create(ctx, l, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(coordinationv1.Resource("leases"), name, err)
			}
			return err
		}
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		return err
	})
}

// parseMoves reads the confirmed moves of a Lease; an annotation that does
// not parse confirms nothing.
func parseMoves(l *coordinationv1.Lease) map[string]string {
	moves := map[string]string{}
	if l == nil {
		return moves
	}
	if v := l.Annotations[annotationConfirmMoves]; v != "" {
		if err := json.Unmarshal([]byte(v), &moves); err != nil {
			return map[string]string{}
		}
	}
	return moves
}

// noteMoves takes the confirmed moves from the sync-request Lease; the
// stores of new ones are looked at again at once.
func (e *engine) noteMoves(l *coordinationv1.Lease) {
	moves := parseMoves(l)
	e.clusters.SetMoves(moves)
	e.rec.EnqueueMatching(func(store string) bool { _, ok := moves[store]; return ok })
}

// leaseMoves loads the confirmed moves for plan and sync --once.
func (e *engine) leaseMoves(ctx context.Context) {
	l, err := e.client.CoordinationV1().Leases(e.flags.lease.namespace).Get(ctx, e.flags.syncLeaseName(), metav1.GetOptions{})
	if err != nil {
		l = nil
	}
	e.clusters.SetMoves(parseMoves(l))
}
