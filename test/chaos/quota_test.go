package chaos_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

// Case 8: quotas too small for a store's release. Every plan fits both
// charts with every replica and Job at once (charts' TestFitsSmallPlan),
// so no stores.yaml asks for a quota too small: it is made so by hand.
//
//   - storeops' own ResourceQuota of a Ready store shrunk by hand to zero
//     pods: storeops puts it back (a repair, no release revision), the
//     store stays Ready, nothing replaced;
//   - a ResourceQuota of someone else's (zero pods) in a new store's
//     namespace before its workloads exist (the proxy holds them until it
//     is there): the API server's quota admission refuses every pod;
//     storeops shows the store not Ready with the refusal ("exceeded
//     quota"), deletes nothing and uninstalls nothing meanwhile, and the
//     store converges once the quota is removed, with the other store
//     untouched.
func TestQuotaTooSmall(t *testing.T) {
	t.Parallel()
	const ready = "chaos-q-a"
	e := newEnv(t, "8 quota too small for the release", "quota", map[string]storeSpec{ready: {Type: "woocommerce"}})
	d := e.start("a")
	rev := e.repo.Head(t, "main")
	e.waitConverged(d, rev)
	ctx := context.Background()
	cs := e.c.Client.CoreV1()
	for i := 0; i < iterations(1, 2); i++ {
		e.res.Iterations++

		// storeops' own quota shrunk by hand.
		before, _ := d.stores()
		quotas := cs.ResourceQuotas("store-" + ready)
		var want resource.Quantity
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			q, err := quotas.Get(ctx, render.QuotaName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			want = q.Spec.Hard[corev1.ResourcePods]
			q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("0")
			_, err = quotas.Update(ctx, q, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatalf("shrink the quota: %v", err)
		}
		d.hook(rev) // a sync now, whatever the quota's own event does
		d.waitUntil("the quota put back", func() bool {
			q, err := quotas.Get(ctx, render.QuotaName, metav1.GetOptions{})
			pods := q.Spec.Hard[corev1.ResourcePods]
			return err == nil && pods.Cmp(want) == 0
		})
		d.waitUntil(ready+" Ready", func() bool {
			stores, ok := d.stores()
			return ok && stores[ready].Phase == reconcile.PhaseReady
		})
		after, _ := d.stores()
		if after[ready].ReleaseRevision != before[ready].ReleaseRevision {
			t.Errorf("release revision %d -> %d after a quota repair", before[ready].ReleaseRevision, after[ready].ReleaseRevision)
		}
		e.check()

		// A quota of someone else's that no pod of a new store fits.
		fresh := fmt.Sprintf("chaos-q-new%d", i)
		base := e.log.len()
		release := e.log.stallWrites(workloadWrites(fresh))
		e.declared[fresh] = storeSpec{Type: "woocommerce"}
		rev = e.commit("a new store in a namespace with a quota too small")
		d.hook(rev)
		d.waitUntil("store-"+fresh+" created", func() bool {
			_, err := cs.Namespaces().Get(ctx, "store-"+fresh, metav1.GetOptions{})
			return err == nil
		})
		tight := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "tight"},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}},
		}
		if _, err := cs.ResourceQuotas("store-"+fresh).Create(ctx, tight, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create the tight quota: %v", err)
		}
		// The quota admission knows it once its status is filled in.
		d.waitUntil("the tight quota in force", func() bool {
			q, err := cs.ResourceQuotas("store-"+fresh).Get(ctx, "tight", metav1.GetOptions{})
			return err == nil && q.Status.Hard != nil
		})
		release()
		var shown string
		d.waitUntil(fresh+" showing the refusal", func() bool {
			stores, ok := d.stores()
			s := stores[fresh]
			shown = string(s.Phase) + ": " + s.Message
			return ok && s.Phase != reconcile.PhaseReady && strings.Contains(s.Message, "exceeded quota")
		})
		t.Logf("iteration %d: %s", i, shown)
		for _, w := range e.log.writesSince(base) {
			if w.Method == http.MethodDelete && (isNamespacePath(w.Path) || strings.Contains(w.Path, "/persistentvolumeclaims") ||
				strings.Contains(w.Path, "/statefulsets") || strings.Contains(w.Path, "/deployments") ||
				strings.HasSuffix(w.Path, "/secrets/"+render.CredentialsSecret)) {
				t.Errorf("while pods were refused: %s %s", w.Method, w.Path)
			}
		}
		// The person who made the quota removes it.
		if err := cs.ResourceQuotas("store-"+fresh).Delete(ctx, "tight", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		e.waitConverged(d, rev)
		e.res.Converged++
	}
}
