package chaos_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storeops/storeops/reconcile"
)

// Case 2a: the Git server is down for minutes (at the cluster's time
// scale), during which webhooks arrive and the daemon is killed and
// restarted: the fleet stays as it was (served from the cache), nothing is
// deleted; when Git is back the next change converges.
func TestGitDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "2a git down for minutes", "git", map[string]storeSpec{
		"chaos-g-a": {Type: "woocommerce"}, "chaos-g-b": {Type: "medusa"},
	})
	d := e.start("a")
	rev := e.repo.Head(t, "main")
	e.waitConverged(d, rev)
	outage := e.c.Scale(5 * time.Minute)
	for i := 0; i < iterations(1, 3); i++ {
		e.res.Iterations++
		base := e.log.len()
		e.srv.Stop()
		if code := d.hook(rev); code != http.StatusAccepted {
			t.Fatalf("webhook with Git down: %d", code)
		}
		d.waitUntil("the source error", func() bool {
			s, ok := d.status()
			return ok && s.Refused != nil && s.Refused.Reason == "SourceUnavailable"
		})
		d.kill()
		d = e.start("a")
		d.waitUntil("the cached revision", func() bool {
			s, ok := d.status()
			return ok && s.Revision == rev && s.Leader
		})
		// The outage lasts; the fault's length, not a synchronisation.
		time.Sleep(outage)
		if !e.converged(d, rev) {
			stores, _ := d.stores()
			t.Errorf("with Git down the fleet changed: %+v", stores)
		}
		for _, w := range e.log.writesSince(base) {
			if w.Method == http.MethodDelete && strings.Contains(w.Path, "/namespaces/store-") {
				t.Errorf("with Git down: %s %s", w.Method, w.Path)
			}
		}
		e.srv.Start(t)
		e.declared[fmt.Sprintf("chaos-g-new%d", i)] = storeSpec{Type: "woocommerce"}
		rev = e.commit("after the outage")
		d.hook(rev)
		e.waitConverged(d, rev)
		e.res.Converged++
	}
	t.Logf("outage %s each time", outage)
}

// Case 2b: a node drain of a Ready fleet. The stores go Degraded and come
// back; storeops neither reinstalls, rolls back nor upgrades them (release
// revisions unchanged), and no volume or credential is replaced.
func TestDrainReadyFleet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "2b node drain of a Ready fleet", "drain", map[string]storeSpec{
		"chaos-d-a": {Type: "woocommerce"}, "chaos-d-b": {Type: "medusa"}, "chaos-d-c": {Type: "woocommerce"},
	})
	d := e.start("a")
	rev := e.repo.Head(t, "main")
	e.waitConverged(d, rev)
	ctx := context.Background()
	faults := e.c.Faults()
	for i := 0; i < iterations(1, 4); i++ {
		e.res.Iterations++
		before, _ := d.stores()
		node := e.c.Nodes[i%len(e.c.Nodes)]
		evicted, err := faults.Drain(ctx, node)
		if err != nil {
			t.Fatalf("drain %s: %v", node, err)
		}
		t.Logf("drained %s: %d pods evicted", node, len(evicted))
		// Every store is Ready again, on the other node, as it was.
		d.waitUntil("the fleet Ready after the drain", func() bool {
			stores, ok := d.stores()
			if !ok {
				return false
			}
			for n := range e.declared {
				if stores[n].Phase != reconcile.PhaseReady {
					return false
				}
			}
			return true
		})
		e.check()
		after, _ := d.stores()
		for n, s := range before {
			if after[n].ReleaseRevision != s.ReleaseRevision {
				t.Errorf("store %s: release revision %d -> %d across a drain", n, s.ReleaseRevision, after[n].ReleaseRevision)
			}
		}
		if err := faults.Uncordon(ctx, node); err != nil {
			t.Fatal(err)
		}
		e.res.Converged++
	}
}

// Case 2c: a crash-looping store (its WordPress image cannot be pulled)
// beside healthy ones: the healthy ones keep converging through creates
// and upgrades; the broken one keeps its data and credentials, and
// recovers once its image pulls again.
func TestCrashLoopingStoreBesideHealthy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "2c crash-looping store beside healthy", "crash", map[string]storeSpec{
		"chaos-c-ok1": {Type: "woocommerce"}, "chaos-c-ok2": {Type: "medusa"},
	})
	e.extra = []string{"--ready-timeout", e.c.Scale(10 * time.Minute).Round(time.Second).String()}
	d := e.start("a")
	rev := e.repo.Head(t, "main")
	e.waitConverged(d, rev)

	const broken = "chaos-c-broken"
	removePolicy := badImageFor(t, e, "store-"+broken)
	e.declared[broken] = storeSpec{Type: "woocommerce"}
	rev = e.commit("a store whose image does not exist")
	d.hook(rev)
	for i := 0; i < iterations(1, 5); i++ {
		e.res.Iterations++
		name := fmt.Sprintf("chaos-c-new%d", i)
		e.declared[name] = storeSpec{Type: []string{"woocommerce", "medusa"}[i%2]}
		e.declared["chaos-c-ok1"] = storeSpec{Type: "woocommerce", Title: fmt.Sprintf("OK %d", i)}
		rev = e.commit("healthy changes beside the broken store")
		d.hook(rev)
		d.waitUntil("the healthy stores converged", func() bool { return e.convergedExcept(d, rev, broken) })
		stores, _ := d.stores()
		if s := stores[broken]; s.Phase == reconcile.PhaseReady {
			t.Fatalf("the broken store is Ready: %+v", s)
		} else {
			t.Logf("iteration %d: healthy stores converged; %s is %s: %s", i, broken, s.Phase, s.Message)
		}
		e.res.Converged++
	}
	// The image pulls again: the broken store recovers, nothing lost.
	removePolicy()
	pods, err := e.c.Client.CoreV1().Pods("store-"+broken).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=wordpress"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if _, err := e.c.Faults().DeletePod(context.Background(), p.Namespace, p.Name); err != nil {
			t.Fatal(err)
		}
	}
	e.waitConverged(d, rev)
}

// badImageFor makes every WordPress pod created in namespace ns use an
// image that does not exist (the realistic profile keeps such a pod in
// ImagePullBackOff), with a MutatingAdmissionPolicy. It returns once the
// API server applies it, and a function that removes it.
func badImageFor(t *testing.T, e *env, ns string) func() {
	t.Helper()
	ctx := context.Background()
	probeNS := e.c.Namespace(t, "chaos-probe")
	adm := e.c.Client.AdmissionregistrationV1()
	fail := admissionv1.Fail
	name := "chaos-bad-image-" + randomHex(4)
	selector := map[string]string{"app.kubernetes.io/component": "wordpress"}
	_, err := adm.MutatingAdmissionPolicies().Create(ctx, &admissionv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionv1.MatchResources{
				ResourceRules: []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				}}},
			},
			FailurePolicy:      &fail,
			ReinvocationPolicy: admissionv1.NeverReinvocationPolicy,
			Mutations: []admissionv1.Mutation{{
				PatchType: admissionv1.PatchTypeJSONPatch,
				JSONPatch: &admissionv1.JSONPatch{
					Expression: `[JSONPatch{op: "replace", path: "/spec/containers/0/image", value: "storeops.invalid/wordpress:does-not-exist"}]`,
				},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create the admission policy: %v", err)
	}
	remove := func() {
		for _, err := range []error{
			adm.MutatingAdmissionPolicyBindings().Delete(ctx, name, metav1.DeleteOptions{}),
			adm.MutatingAdmissionPolicies().Delete(ctx, name, metav1.DeleteOptions{}),
		} {
			if err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("remove the admission policy: %v", err)
			}
		}
		// Wait until the API server no longer applies it.
		waitPolicy(t, e, probeNS, selector, false)
	}
	t.Cleanup(func() {
		_ = adm.MutatingAdmissionPolicyBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = adm.MutatingAdmissionPolicies().Delete(ctx, name, metav1.DeleteOptions{})
	})
	_, err = adm.MutatingAdmissionPolicyBindings().Create(ctx, &admissionv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.MutatingAdmissionPolicyBindingSpec{
			PolicyName: name,
			MatchResources: &admissionv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: []string{ns, probeNS},
				}}},
				ObjectSelector: &metav1.LabelSelector{MatchLabels: selector},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create the admission policy binding: %v", err)
	}
	waitPolicy(t, e, probeNS, selector, true)
	return remove
}

// waitPolicy waits until a dry-run pod in probeNS gets (or no longer gets)
// the bad image.
func waitPolicy(t *testing.T, e *env, probeNS string, labels map[string]string, active bool) {
	t.Helper()
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: probeNS, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "storeops.invalid/probe:never-runs"}}},
	}
	deadline := time.Now().Add(waitFor)
	for {
		got, err := e.c.Client.CoreV1().Pods(probeNS).Create(context.Background(), probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil && strings.HasSuffix(got.Spec.Containers[0].Image, ":does-not-exist") == active {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policy did not become active=%v: %v", active, err)
		}
		time.Sleep(200 * time.Millisecond) // the next poll of the API server
	}
}
