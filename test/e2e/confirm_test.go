package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDeletionsConfirmedOutsideTheRepository: a commit removing most
// stores is refused by the mass-deletion guard even when its own message
// says "Storeops-Confirm-Deletions: yes" (whoever writes the destructive
// commit must not confirm it); `storeops confirm-deletions` of another
// revision changes nothing; of that revision, with the operator's
// credentials, it lifts the guard for it: the leader deletes the stores.
func TestDeletionsConfirmedOutsideTheRepository(t *testing.T) {
	c := testcluster.Get(t)
	names := []string{"e2e-del-a", "e2e-del-b", "e2e-del-c"}
	cleanupStores(t, names...)
	all := "stores:\n"
	for _, n := range names {
		all += "  - name: " + n + "\n    type: woocommerce\n"
	}
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "config", map[string]string{"stores.yaml": all})
	const lease = "e2e-confirm"
	d := startDaemon(t, repo.URL(), fastLease(lease)...)
	for _, n := range names {
		d.waitPhase(n, reconcile.PhaseReady)
	}

	empty := repo.Commit(t, map[string]string{"stores.yaml": "stores: []\n"}, "remove every store\n\nStoreops-Confirm-Deletions: yes\n")
	d.push("main", empty)
	refused := func() bool {
		s := d.status()
		return s.Refused != nil && s.Refused.Reason == "MassDeletion"
	}
	d.waitUntil("the mass-deletion refusal of a self-confirming commit", refused)

	confirm := func(rev string) {
		t.Helper()
		code, out := run(t, "confirm-deletions", "--kubeconfig", c.Kubeconfig, "--leader-election-name", lease, rev)
		if code != 0 {
			t.Fatalf("storeops confirm-deletions %s exited %d:\n%s", rev, code, out)
		}
	}
	// Another revision's confirmation does not carry over.
	confirm("0123456789abcdef")
	time.Sleep(3 * time.Second)
	if !refused() {
		t.Fatalf("a confirmation of another revision lifted the guard: %+v", d.status())
	}
	for _, n := range names {
		if _, err := c.Client.CoreV1().Namespaces().Get(context.Background(), "store-"+n, metav1.GetOptions{}); err != nil {
			t.Fatalf("store %s: %v", n, err)
		}
	}

	confirm(empty[:12])
	d.waitUntil("the confirmed deletions", func() bool {
		for _, n := range names {
			ns, err := c.Client.CoreV1().Namespaces().Get(context.Background(), "store-"+n, metav1.GetOptions{})
			if err == nil && ns.DeletionTimestamp == nil {
				return false
			}
			if err != nil && !apierrors.IsNotFound(err) {
				return false
			}
		}
		return true
	})
	if s := d.status(); s.Refused != nil || !strings.HasPrefix(s.Revision, empty[:12]) {
		t.Errorf("after the confirmation: revision %s refused %+v", s.Revision, s.Refused)
	}
}
