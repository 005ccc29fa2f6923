package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/storeops/storeops/render"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StoreRole is the role storeops binds to its own ServiceAccount in each
// store namespace, right after creating it, so that its write permissions
// (Helm's and its own) and its reads of Secrets (the observer's
// per-namespace Secret informers, Helm's release records) hold in store
// namespaces only. storeops' chart grants the rest cluster-wide:
// namespaces, reads of the other informers, and creating this one
// RoleBinding (bind limited to ClusterRole).
type StoreRole struct {
	// ClusterRole is the namespaced role's name (a ClusterRole bound by a
	// RoleBinding).
	ClusterRole string
	// Namespace and ServiceAccount name the subject: storeops itself.
	Namespace, ServiceAccount string
}

// storeRoleBindingName is the RoleBinding of an instance in a store
// namespace.
func storeRoleBindingName(instance string) string { return "storeops-" + instance }

// bindStoreRole creates the RoleBinding of c.StoreRole in namespace ns
// unless it exists. After creating it, it waits until the API server's
// authorizer grants what it binds (it learns of bindings asynchronously),
// so that the requests that follow are not refused. Without a StoreRole
// (tests without storeops' chart, a cluster-wide role) it does nothing.
func (c *ClusterApplier) bindStoreRole(ctx context.Context, ns string) error {
	r := c.StoreRole
	if r == nil || r.ClusterRole == "" {
		return nil
	}
	labels := map[string]string{render.LabelManagedBy: render.ManagedBy, LabelInstance: c.Instance.Name}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: storeRoleBindingName(c.Instance.Name), Namespace: ns, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r.ClusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: r.ServiceAccount, Namespace: r.Namespace}},
	}
	_, err := c.client.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		c.bound(ns)
		return nil
	}
	if err != nil {
		return fmt.Errorf("bind %s in namespace %s: %w", r.ClusterRole, ns, err)
	}
	// A read only the store role grants: NotFound or success means the
	// binding is in effect.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.client.CoreV1().Secrets(ns).Get(ctx, render.CredentialsSecret, metav1.GetOptions{})
		if err == nil || !apierrors.IsForbidden(err) {
			c.bound(ns)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("RoleBinding %s/%s not in effect after 30s: %w", ns, rb.Name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// bound tells OnBound that the store role holds in ns.
func (c *ClusterApplier) bound(ns string) {
	if c.OnBound != nil {
		c.OnBound(ns)
	}
}

// bindObserved binds the store role in the namespace of a store that
// exists, for actions that do not go through ensureIsolation: namespaces
// made before storeops had a StoreRole get their RoleBinding on their
// next action.
func (c *ClusterApplier) bindObserved(ctx context.Context, a Action) error {
	switch a.Kind {
	case ActReinstall, ActRollback, ActUnlock, ActDelete:
	default:
		return nil
	}
	o := a.Observed
	if o == nil || o.Namespace == nil || o.Namespace.DeletionTimestamp != nil || !c.Instance.Owns(o.Namespace) {
		return nil // owned() refuses what is not ours; a namespace being deleted takes no binding
	}
	return c.bindStoreRole(ctx, o.Namespace.Name)
}
