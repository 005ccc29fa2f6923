package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Deletions beyond the mass-deletion guard are confirmed from outside the
// repository, for one revision: whoever can push the destructive commit
// must not be able to confirm it. `storeops confirm-deletions REV` writes
// the revision on the sync-request Lease (<lease>-sync, in storeops'
// namespace); the leader reads it through the informer it already has on
// that Lease, and syncs. --confirm-deletions REV does the same for one
// process.
const annotationConfirmDeletions = "storeops.dev/confirm-deletions"

// confirmableRevision is a Git revision (abbreviated to 7 or more hex
// digits) a confirmation may name.
var confirmableRevision = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

func init() {
	commands["confirm-deletions"] = command{"confirm the deletions of one Git revision despite the mass-deletion guard", runConfirmDeletions}
}

func runConfirmDeletions(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("confirm-deletions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f engineFlags
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: storeops confirm-deletions [--kubeconfig FILE] [--context NAME] [--leader-election-namespace NS] [--instance NAME] REVISION

Confirms that the stores removed by Git revision REVISION (7 or more hex
digits) may be deleted although they are more than --max-delete-share of
the stores. It writes the revision on the Lease <lease>-sync in storeops'
namespace, which the leader watches: its next sync of that revision (at
once) deletes them. The confirmation holds for that revision only. Run it
with your own credentials, not storeops'.`)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	rev := strings.ToLower(fs.Arg(0))
	if !confirmableRevision.MatchString(rev) {
		fmt.Fprintf(stderr, "storeops confirm-deletions: %q is not a Git revision (7 to 64 hex digits)\n", fs.Arg(0))
		return exitUsage
	}
	_, client, err := kubeConfig(f.kube)
	if err != nil {
		fmt.Fprintln(stderr, "storeops confirm-deletions:", err)
		return exitFailed
	}
	if err := writeConfirmation(ctx, client, f.lease.namespace, f.syncLeaseName(), rev); err != nil {
		fmt.Fprintln(stderr, "storeops confirm-deletions:", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "Deletions of revision %s confirmed on Lease %s/%s; the leader applies them at its next sync of that revision.\n",
		rev, f.lease.namespace, f.syncLeaseName())
	return exitOK
}

// writeConfirmation records rev as the confirmed revision on the Lease.
func writeConfirmation(ctx context.Context, client kubernetes.Interface, namespace, name, rev string) error {
	leases := client.CoordinationV1().Leases(namespace)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{annotationConfirmDeletions: rev}}})
	_, err := leases.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name,
			Annotations: map[string]string{annotationConfirmDeletions: rev}}}, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("write the confirmation on Lease %s/%s: %w", namespace, name, err)
	}
	return nil
}

// noteConfirmation takes the confirmed revision from the sync-request
// Lease; a new one triggers a sync while leading.
func (d *daemon) noteConfirmation(l *coordinationv1.Lease) {
	rev := l.Annotations[annotationConfirmDeletions]
	if !confirmableRevision.MatchString(rev) {
		rev = ""
	}
	old := d.confirmed.Swap(&rev)
	if rev != "" && (old == nil || *old != rev) && d.leading.Load() != nil {
		d.trigger("deletions confirmed for " + rev)
	}
}

// confirmedRevision is the revision last confirmed on the Lease, or "".
func (d *daemon) confirmedRevision() string {
	if p := d.confirmed.Load(); p != nil {
		return *p
	}
	return ""
}

// leaseConfirmation is the revision confirmed on the sync-request Lease,
// for plan and sync --once; "" when there is none or it cannot be read.
func (e *engine) leaseConfirmation(ctx context.Context) string {
	l, err := e.client.CoordinationV1().Leases(e.flags.lease.namespace).Get(ctx, e.flags.syncLeaseName(), metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return l.Annotations[annotationConfirmDeletions]
}
