package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// remediations are the actions that could take a store's data with them.
var remediations = map[reconcile.ActionKind]bool{reconcile.ActReinstall: true, reconcile.ActRollback: true, reconcile.ActDelete: true}

// noRemediation fails when rec holds an action that could lose data.
func noRemediation(t *testing.T, rec reconcile.SyncRecord) {
	t.Helper()
	for _, a := range rec.Actions {
		if remediations[a.Kind] || a.Kind == reconcile.ActInstall {
			t.Fatalf("sync acted on a store that served: %s %s: %s", a.Kind, a.Store, a.Reason)
		}
	}
}

// setUnschedulable cordons (true) or uncordons every node.
func setUnschedulable(t *testing.T, client kubernetes.Interface, on bool) {
	t.Helper()
	nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%v}}`, on)
	for _, n := range nodes.Items {
		if _, err := client.CoreV1().Nodes().Patch(context.Background(), n.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// A Ready store whose database pod is deleted during a drain, long after
// its install, keeps its volumes and credentials: no uninstall, reinstall
// or rollback, whatever the clock says.
func TestDrainKeepsTheShop(t *testing.T) {
	const file = "stores:\n  - {name: dr-shop, type: woocommerce}\n"
	h := newHarness(t, map[string]string{"stores.yaml": file})
	t.Cleanup(func() { h.deleteNamespaces("dr-shop") })
	c := testcluster.Get(t)
	ns := render.NamespacePrefix + "dr-shop"

	h.mustSync()
	h.waitFor("shop Ready", allReady("dr-shop"))
	h.waitMarked("dr-shop")
	volumes, creds := h.volumeUIDs("dr-shop"), h.credentials("dr-shop")
	if len(volumes) == 0 {
		t.Fatal("the store has no volume to keep")
	}

	// The drain: nodes cordoned, the database pod evicted (deleted).
	setUnschedulable(t, c.Client, true)
	t.Cleanup(func() { setUnschedulable(t, c.Client, false) })
	pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=mysql"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("database pod: %v %d", err, len(pods.Items))
	}
	for _, p := range pods.Items {
		if err := c.Client.CoreV1().Pods(ns).Delete(context.Background(), p.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	h.waitFor("shop Degraded", phaseIs("dr-shop", reconcile.PhaseDegraded))

	// Long after the install and past --ready-timeout, syncs leave it be.
	h.shift.Add(int64(24 * time.Hour))
	for range 3 {
		noRemediation(t, h.mustSync())
	}
	setUnschedulable(t, c.Client, false)
	h.waitFor("shop Ready again", allReady("dr-shop"))
	noRemediation(t, h.mustSync())
	if diff := cmp.Diff(volumes, h.volumeUIDs("dr-shop")); diff != "" {
		t.Fatalf("volumes replaced (-before +after):\n%s", diff)
	}
	if fmt.Sprint(creds) != fmt.Sprint(h.credentials("dr-shop")) {
		t.Fatal("credentials changed")
	}
	for _, rec := range h.board.Current().History {
		noRemediation(t, SyncRecordWithoutFirstInstall(rec))
	}
}

// SyncRecordWithoutFirstInstall drops the installs of a sync record, so
// that the history check looks at remediation only.
func SyncRecordWithoutFirstInstall(rec reconcile.SyncRecord) reconcile.SyncRecord {
	var out []reconcile.ActionLog
	for _, a := range rec.Actions {
		if a.Kind != reconcile.ActInstall {
			out = append(out, a)
		}
	}
	rec.Actions = out
	return rec
}

// denyWorkloads makes a store unable to ever become Ready: an admission
// policy refuses its volumes and every pod but the Jobs'.
func denyWorkloads(t *testing.T, client kubernetes.Interface, namespace string) {
	t.Helper()
	name := "deny-" + namespace
	probe := "probe-" + namespace // the policy applies there too: see below
	fail := admissionv1.Deny
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods", "persistentvolumeclaims"}},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: `request.resource.resource == "pods" && has(object.metadata.labels) && "batch.kubernetes.io/job-name" in object.metadata.labels`,
				Message:    "this store may not run (test)",
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{fail},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name",
					Operator: metav1.LabelSelectorOpIn, Values: []string{namespace, probe}}}}},
		},
	}
	ctx := context.Background()
	if _, err := client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctx, name, metav1.DeleteOptions{})
	})
	// The policy takes effect once the API server has loaded it, and
	// before the store's namespace exists: wait until a volume claim is
	// refused in a probe namespace it covers as well. Had the store's
	// install come first, its claims would have been made (and bound: data
	// the store may hold, which no remediation may touch).
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: probe}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(ctx, probe, metav1.DeleteOptions{}) })
	waitUntil(t, "admission policy active", func() bool {
		_, err := client.CoreV1().PersistentVolumeClaims(probe).Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return apierrors.IsInvalid(err) || apierrors.IsForbidden(err)
	})
}

func ptr[T any](v T) *T { return &v }

// An installation that never became Ready, and never held data, is
// remediated with a growing backoff; a Ready store beside it is never
// touched.
func TestNeverReadyInstallIsRemediated(t *testing.T) {
	const file = "stores:\n  - {name: nr-good, type: woocommerce}\n  - {name: nr-bad, type: woocommerce}\n"
	c := testcluster.Get(t)
	denyWorkloads(t, c.Client, render.NamespacePrefix+"nr-bad")
	h := newHarness(t, map[string]string{"stores.yaml": file})
	t.Cleanup(func() { h.deleteNamespaces("nr-good", "nr-bad") })

	_, _ = h.sync(false) // the bad store's install may fail at once: its volume is refused
	h.waitFor("good store Ready", allReady("nr-good"))
	h.waitMarked("nr-good")
	good := h.volumeUIDs("nr-good")

	var last reconcile.Retry
	for i := range 3 {
		h.shift.Add(int64(time.Hour)) // past the ready timeout and any backoff
		rec, _ := h.sync(false)
		var kinds []string
		for _, a := range rec.Actions {
			if a.Store == "nr-good" {
				t.Fatalf("sync %d acted on the Ready store: %s: %s", i, a.Kind, a.Reason)
			}
			kinds = append(kinds, string(a.Kind))
		}
		if len(kinds) != 1 || kinds[0] != string(reconcile.ActReinstall) {
			t.Fatalf("sync %d: want one reinstall of the bad store, got %v: %+v", i, kinds, rec.Actions)
		}
		r := h.rec.Retries()["nr-bad"]
		if r.Failures <= last.Failures || (i > 0 && r.NotBefore.Sub(h.rec.Clock()) <= last.NotBefore.Sub(h.rec.Clock().Add(-time.Hour))) {
			t.Fatalf("sync %d: backoff did not grow: %+v after %+v", i, r, last)
		}
		last = r
	}
	if diff := cmp.Diff(good, h.volumeUIDs("nr-good")); diff != "" {
		t.Fatalf("good store's volumes replaced:\n%s", diff)
	}
}

// A deleted credentials Secret on a running store is not regenerated: the
// store is Blocked and says what to restore.
func TestDeletedCredentialsBlock(t *testing.T) {
	h := newHarness(t, map[string]string{"stores.yaml": "stores:\n  - {name: cr-shop, type: medusa}\n"})
	t.Cleanup(func() { h.deleteNamespaces("cr-shop") })
	h.mustSync()
	h.waitFor("shop Ready", allReady("cr-shop"))
	ns := render.NamespacePrefix + "cr-shop"
	if err := h.client.CoreV1().Secrets(ns).Delete(context.Background(), render.CredentialsSecret, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("credentials gone from the cache", func(s *reconcile.Snapshot) bool {
		st, _ := s.Store("cr-shop")
		return st.Conditions != nil && !condition(st, reconcile.CondIsolated)
	})
	h.shift.Add(int64(time.Hour))
	rec := h.mustSync()
	if len(rec.Actions) != 0 {
		t.Fatalf("sync acted: %+v", rec.Actions)
	}
	h.waitFor("shop Blocked", phaseIs("cr-shop", reconcile.PhaseBlocked))
	st, _ := h.board.Current().Store("cr-shop")
	if !strings.Contains(st.Message, "restore the Secret") {
		t.Errorf("message %q does not say what to do", st.Message)
	}
	if _, err := h.client.CoreV1().Secrets(ns).Get(context.Background(), render.CredentialsSecret, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("credentials regenerated: %v", err)
	}
}

func condition(st reconcile.StoreStatus, typ string) bool {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return false
}

// Two instances over one cluster: each converges on its own stores.yaml;
// neither changes or deletes the other's stores; both guards stay quiet.
func TestTwoInstancesShareACluster(t *testing.T) {
	a := newInstanceHarness(t, map[string]string{"stores.yaml": "stores:\n  - {name: ia-one, type: woocommerce}\n  - {name: ia-two, type: medusa}\n"}, "team-a")
	b := newInstanceHarness(t, map[string]string{"stores.yaml": "stores:\n  - {name: ib-one, type: woocommerce}\n"}, "team-b")
	t.Cleanup(func() { a.deleteNamespaces("ia-one", "ia-two", "ib-one") })
	for range 2 {
		for _, h := range []*harness{a, b} {
			rec := h.mustSync()
			for _, act := range rec.Actions {
				if act.Kind == reconcile.ActDelete || act.Kind == reconcile.ActBlock {
					t.Fatalf("%s: %s", act.Kind, act)
				}
			}
		}
	}
	a.waitFor("a's stores Ready", allReady("ia-one", "ia-two"))
	b.waitFor("b's stores Ready", allReady("ib-one"))
	for _, h := range []*harness{a, b} {
		rec := h.mustSync()
		if len(rec.Actions) != 0 || rec.Refused != nil {
			t.Fatalf("converged instance acted or refused: %+v", rec)
		}
	}
	if got := len(a.board.Current().Stores); got != 2 {
		t.Errorf("instance a sees %d stores, want its 2", got)
	}
	if got := len(b.board.Current().Stores); got != 1 {
		t.Errorf("instance b sees %d stores, want its 1", got)
	}
	// b emptying its file deletes its one store only.
	b.repo.Commit(t, map[string]string{"stores.yaml": "stores: []\n"}, "empty b")
	rec := b.mustSync()
	if len(rec.Actions) != 1 || rec.Actions[0].Store != "ib-one" {
		t.Fatalf("b's delete: %+v", rec.Actions)
	}
	waitUntil(t, "b's store gone", func() bool { return b.namespaceGone("ib-one") })
	if a.namespaceGone("ia-one") || a.namespaceGone("ia-two") {
		t.Fatal("a's stores were deleted")
	}
}

// A namespace store-x made by someone else with storeops' labels copied is
// not adopted (no credentials written there) and not deleted.
func TestSquattedNamespaceIsNotAdopted(t *testing.T) {
	h := newHarness(t, map[string]string{"stores.yaml": "stores:\n  - {name: sq-x, type: woocommerce}\n  - {name: sq-ok, type: woocommerce}\n"})
	t.Cleanup(func() { h.deleteNamespaces("sq-x", "sq-ok") })
	d := desiredOf(t, "stores:\n  - {name: sq-x, type: woocommerce}\n")[0]
	squat := d.Namespace.DeepCopy()
	squat.Labels[reconcile.LabelInstance] = reconcile.DefaultInstance
	squat.Annotations = map[string]string{reconcile.AnnotationOwner: "forged"}
	if _, err := h.client.CoreV1().Namespaces().Create(context.Background(), squat, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("squatted namespace seen", func(s *reconcile.Snapshot) bool { _, ok := s.Store("sq-x"); return ok })
	rec, _ := h.sync(false)
	for _, a := range rec.Actions {
		if a.Store == "sq-x" {
			t.Fatalf("acted on the squatted namespace: %s", a)
		}
	}
	h.waitFor("sq-x Blocked", phaseIs("sq-x", reconcile.PhaseBlocked))
	secrets, err := h.client.CoreV1().Secrets(render.NamespacePrefix+"sq-x").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(secrets.Items) != 0 {
		t.Fatalf("secrets written into the squatted namespace: %v %d", err, len(secrets.Items))
	}
	// Removed from stores.yaml: still not deleted.
	h.repo.Commit(t, map[string]string{"stores.yaml": "stores:\n  - {name: sq-ok, type: woocommerce}\n"}, "drop x")
	rec = h.mustSync()
	for _, a := range rec.Actions {
		if a.Store == "sq-x" {
			t.Fatalf("acted on the squatted namespace: %s", a)
		}
	}
	if h.namespaceGone("sq-x") {
		t.Fatal("squatted namespace deleted")
	}
}

// A fenced applier whose Lease is lost makes no request at all.
func TestFencedApplierStopsWithTheLease(t *testing.T) {
	c := testcluster.Get(t)
	fence := &reconcile.Fence{}
	ctx, lose := context.WithCancel(context.Background())
	fence.Hold(ctx)
	applier := applierWrapped(t, fence.Wrap)
	lose() // the Lease is lost before the action starts
	d := desiredOf(t, "stores:\n  - {name: fe-x, type: woocommerce}\n")[0]
	err := applier.Apply(context.Background(), reconcile.Action{Kind: reconcile.ActInstall, Store: "fe-x", Desired: &d}, "")
	if !errors.Is(err, reconcile.ErrNotLeader) {
		t.Fatalf("Apply after losing the Lease: %v, want ErrNotLeader", err)
	}
	if _, err := c.Client.CoreV1().Namespaces().Get(context.Background(), "store-fe-x", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the fenced applier created the namespace: %v", err)
	}
}

// A store made before instances existed (no instance label, no proof) is
// invisible, and its namespace never adopted by a sync; Adopt hands it
// over, after which the instance sees it converged, with its data.
func TestAdoptHandsAStoreOver(t *testing.T) {
	h := newHarness(t, map[string]string{"stores.yaml": "stores:\n  - {name: ad-old, type: woocommerce}\n"})
	t.Cleanup(func() { h.deleteNamespaces("ad-old") })
	h.mustSync()
	h.waitFor("store Ready", allReady("ad-old"))
	creds := h.credentials("ad-old")
	ctx := context.Background()
	ns := render.NamespacePrefix + "ad-old"

	// Make it look as an older storeops left it.
	strip := []byte(`{"metadata":{"labels":{"` + reconcile.LabelInstance + `":null}}}`)
	c := testcluster.Get(t).Client
	mustPatch := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"`+reconcile.LabelInstance+`":null},"annotations":{"`+reconcile.AnnotationOwner+`":null}}}`), metav1.PatchOptions{})
	mustPatch(err)
	secrets, err := c.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	mustPatch(err)
	for _, s := range secrets.Items {
		_, err := c.CoreV1().Secrets(ns).Patch(ctx, s.Name, types.MergePatchType, strip, metav1.PatchOptions{})
		mustPatch(err)
	}
	for _, name := range []string{render.QuotaName} {
		_, err := c.CoreV1().ResourceQuotas(ns).Patch(ctx, name, types.MergePatchType, strip, metav1.PatchOptions{})
		mustPatch(err)
	}
	_, err = c.CoreV1().LimitRanges(ns).Patch(ctx, render.LimitRangeName, types.MergePatchType, strip, metav1.PatchOptions{})
	mustPatch(err)
	_, err = c.NetworkingV1().NetworkPolicies(ns).Patch(ctx, render.NetworkPolicyName, types.MergePatchType, strip, metav1.PatchOptions{})
	mustPatch(err)
	h.waitFor("store invisible", func(s *reconcile.Snapshot) bool {
		st, ok := s.Store("ad-old")
		return ok && st.Phase != reconcile.PhaseReady
	})

	// A sync does not take it: the namespace exists and is not proven ours.
	rec, _ := h.sync(false)
	if len(rec.Actions) != 1 || !strings.Contains(rec.Actions[0].Error, "not created by this storeops instance") {
		t.Fatalf("sync over a pre-instance namespace: %+v", rec.Actions)
	}
	if fmt.Sprint(creds) != fmt.Sprint(h.credentials("ad-old")) {
		t.Fatal("credentials changed")
	}

	inst, err := reconcile.LoadInstanceKey(ctx, c, "default", reconcile.DefaultInstance)
	mustPatch(err)
	if err := reconcile.Adopt(ctx, c, inst, "ad-old"); err != nil {
		t.Fatal(err)
	}
	h.waitFor("adopted store seen", func(s *reconcile.Snapshot) bool {
		st, ok := s.Store("ad-old")
		return ok && st.ReleaseRevision > 0
	})
	rec = h.mustSync()
	if len(rec.Actions) != 0 {
		t.Fatalf("sync after adoption acted: %+v", rec.Actions)
	}
	h.waitFor("store Ready as this instance's", allReady("ad-old"))
	if fmt.Sprint(creds) != fmt.Sprint(h.credentials("ad-old")) {
		t.Fatal("credentials changed")
	}
	if err := reconcile.Adopt(ctx, c, inst, "ad-nope"); err == nil {
		t.Fatal("adopted a namespace that does not exist")
	}
}
