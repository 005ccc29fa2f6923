package deploytest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/testcluster"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestAdmissionPolicy: the writes storeops' ServiceAccount must never make
// are refused by the real API server, by RBAC and, where RBAC must allow
// the verb (namespaces cannot be selected by label) or where a cluster
// administrator granted more than the chart does, by the chart's
// ValidatingAdmissionPolicy: a Secret in kube-system, a ConfigMap in
// another namespace, a RoleBinding to another role, a Pod Security label
// removed from a store namespace, a namespace storeops does not manage
// changed or deleted. The writes storeops needs still pass.
func TestAdmissionPolicy(t *testing.T) {
	c := testcluster.Get(t)
	inst := install(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sa := inst.client
	other := c.Namespace(t, "storeops-victim")

	// RBAC first: the chart grants none of these.
	secret := func(name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: map[string]string{"k": "v"}}
	}
	configMap := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "storeops-attempt"}, Data: map[string]string{"k": "v"}}
	_, err := sa.CoreV1().Secrets("kube-system").Create(ctx, secret("storeops-attempt"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("create a Secret in kube-system: %v, want Forbidden", err)
	}
	_, err = sa.CoreV1().ConfigMaps(other).Create(ctx, configMap, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("create a ConfigMap in %s: %v, want Forbidden", other, err)
	}

	// An administrator grants storeops more than the chart does (by
	// mistake, or an attacker who got a RoleBinding in): the policy still
	// refuses.
	grant(t, c.Client, "kube-system", inst, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}})
	grant(t, c.Client, other, inst, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create", "update"}})
	_, err = sa.CoreV1().Secrets("kube-system").Create(ctx, secret("storeops-attempt"), metav1.CreateOptions{})
	if !refusedByPolicy(err) {
		t.Errorf("create a Secret in kube-system with RBAC granting it: %v, want refused by the ValidatingAdmissionPolicy", err)
		_ = c.Client.CoreV1().Secrets("kube-system").Delete(ctx, "storeops-attempt", metav1.DeleteOptions{})
	}
	_, err = sa.CoreV1().ConfigMaps(other).Create(ctx, configMap, metav1.CreateOptions{})
	if !refusedByPolicy(err) {
		t.Errorf("create a ConfigMap in %s with RBAC granting it: %v, want refused by the ValidatingAdmissionPolicy", other, err)
	}
	// In its own namespace: its instance key only.
	_, err = sa.CoreV1().Secrets(inst.ns).Create(ctx, secret("not-the-instance-key"), metav1.CreateOptions{})
	if !refusedByPolicy(err) {
		t.Errorf("create another Secret in its own namespace: %v, want refused by the ValidatingAdmissionPolicy", err)
	}
	_, err = sa.CoreV1().Secrets(inst.ns).Create(ctx, secret("storeops-instance-storeops"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Errorf("create its instance key (dry run): %v", err)
	}
	// And the ConfigMap of the dashboard's logouts, no other.
	_, err = sa.CoreV1().ConfigMaps(inst.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "not-the-logouts"}}, metav1.CreateOptions{})
	if !refusedByPolicy(err) {
		t.Errorf("create another ConfigMap in its own namespace: %v, want refused by the ValidatingAdmissionPolicy", err)
	}
	_, err = sa.CoreV1().ConfigMaps(inst.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "storeops-sessions"}},
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Errorf("create the ConfigMap of the logouts (dry run): %v", err)
	}

	// Namespaces: RBAC must grant update and delete cluster-wide.
	victim, err := c.Client.CoreV1().Namespaces().Get(ctx, other, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	victim.Labels["pod-security.kubernetes.io/enforce"] = "privileged"
	if _, err := sa.CoreV1().Namespaces().Update(ctx, victim, metav1.UpdateOptions{}); !refusedByPolicy(err) {
		t.Errorf("update namespace %s, which storeops does not manage: %v, want refused by the ValidatingAdmissionPolicy", other, err)
	}
	victim.Labels["app.kubernetes.io/managed-by"] = "storeops" // claiming it does not help
	if _, err := sa.CoreV1().Namespaces().Update(ctx, victim, metav1.UpdateOptions{}); !refusedByPolicy(err) {
		t.Errorf("label namespace %s as storeops': %v, want refused by the ValidatingAdmissionPolicy", other, err)
	}
	if err := sa.CoreV1().Namespaces().Delete(ctx, other, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); !refusedByPolicy(err) {
		t.Errorf("delete namespace %s: %v, want refused by the ValidatingAdmissionPolicy", other, err)
	}
	if err := sa.CoreV1().Namespaces().Delete(ctx, "kube-system", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); !apierrors.IsForbidden(err) {
		t.Errorf("delete namespace kube-system: %v, want Forbidden", err)
	}
	_, err = sa.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "storeops-unlabelled"}},
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if !refusedByPolicy(err) {
		t.Errorf("create a namespace without storeops' labels: %v, want refused by the ValidatingAdmissionPolicy", err)
	}

	// A store namespace (made here by the admin, labelled as storeops
	// makes them): storeops may change it, but not drop or weaken its Pod
	// Security labels.
	store := "store-policy-" + strings.TrimPrefix(other, "storeops-victim-")
	labels := map[string]string{"app.kubernetes.io/managed-by": "storeops", "storeops.dev/instance": "storeops", "storeops.dev/store": "x",
		"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/audit": "restricted"}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: store, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), store, metav1.DeleteOptions{}) })
	for _, tc := range []struct {
		what   string
		change func(map[string]string)
		ok     bool
	}{
		{"add a label", func(l map[string]string) { l["storeops.dev/plan"] = "small" }, true},
		{"remove the enforce label", func(l map[string]string) { delete(l, "pod-security.kubernetes.io/enforce") }, false},
		{"remove the audit label", func(l map[string]string) { delete(l, "pod-security.kubernetes.io/audit") }, false},
		{"enforce privileged", func(l map[string]string) { l["pod-security.kubernetes.io/enforce"] = "privileged" }, false},
		{"remove the managed-by label", func(l map[string]string) { delete(l, "app.kubernetes.io/managed-by") }, false},
		{"hand it to another instance", func(l map[string]string) { l["storeops.dev/instance"] = "other" }, false},
	} {
		ns, err := c.Client.CoreV1().Namespaces().Get(ctx, store, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tc.change(ns.Labels)
		_, err = sa.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s of store namespace %s: %v, want allowed", tc.what, store, err)
		case !tc.ok && !refusedByPolicy(err):
			t.Errorf("%s of store namespace %s: %v, want refused by the ValidatingAdmissionPolicy", tc.what, store, err)
		}
	}

	// RoleBindings: only the store role, only to storeops, only in store
	// namespaces.
	storeRole := inst.ns + "-storeops-store"
	binding := func(ns, role, subject string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "storeops-attempt", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: subject, Namespace: inst.ns}},
		}
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	if _, err := sa.RbacV1().RoleBindings(store).Create(ctx, binding(store, storeRole, inst.sa), dry); err != nil {
		t.Errorf("bind the store role in a store namespace: %v", err)
	}
	if _, err := sa.RbacV1().RoleBindings(other).Create(ctx, binding(other, storeRole, inst.sa), dry); !refusedByPolicy(err) {
		t.Errorf("bind the store role in %s: %v, want refused by the ValidatingAdmissionPolicy", other, err)
	}
	if _, err := sa.RbacV1().RoleBindings(store).Create(ctx, binding(store, storeRole, "default"), dry); !refusedByPolicy(err) {
		t.Errorf("bind the store role to another ServiceAccount: %v, want refused by the ValidatingAdmissionPolicy", err)
	}
	if _, err := sa.RbacV1().RoleBindings(store).Create(ctx, binding(store, "admin", inst.sa), dry); !apierrors.IsForbidden(err) {
		t.Errorf("bind the admin ClusterRole: %v, want Forbidden", err)
	}
}

// grant gives storeops' ServiceAccount rule in namespace, beyond what the
// chart gives it, until the test ends, and waits until it is in effect.
func grant(t *testing.T, admin kubernetes.Interface, namespace string, inst *installed, rule rbacv1.PolicyRule) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := "storeops-test-extra-" + inst.ns
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Rules: []rbacv1.PolicyRule{rule}}
	if _, err := admin.RbacV1().Roles(namespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: inst.sa, Namespace: inst.ns}},
	}
	if _, err := admin.RbacV1().RoleBindings(namespace).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.RbacV1().RoleBindings(namespace).Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = admin.RbacV1().Roles(namespace).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	waitFor(t, ctx, "the extra grant to take effect", func() (bool, error) {
		r, err := inst.client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: namespace, Verb: rule.Verbs[0], Group: rule.APIGroups[0], Resource: rule.Resources[0]}},
		}, metav1.CreateOptions{})
		return err == nil && r.Status.Allowed, err
	})
}
