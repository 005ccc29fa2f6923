package reconcile

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/storeops/storeops/render"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Adopt hands a store's namespace over to inst. It is a person's explicit
// act (`storeops adopt`), never the reconciler's: for stores made before
// instances existed, or moved between instances. The namespace must carry
// storeops' managed-by label. Adopt labels the namespace and every object
// storeops made in it (quota, limit range, policy, credentials, Helm
// release records) with the instance, then seals the namespace with the
// instance's proof of creation. Running it again changes nothing.
func Adopt(ctx context.Context, client kubernetes.Interface, inst Instance, store string) error {
	if len(inst.Key) == 0 {
		return fmt.Errorf("adopt %s: instance %s has no key", store, inst.Name)
	}
	name := render.NamespacePrefix + store
	ns, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("adopt %s: %w", store, err)
	}
	if ns.Labels[render.LabelManagedBy] != render.ManagedBy || ns.Labels[render.LabelStore] != store {
		return fmt.Errorf("adopt %s: namespace %s was not made by storeops for this store (no %s=%s, %s=%s labels)",
			store, name, render.LabelManagedBy, render.ManagedBy, render.LabelStore, store)
	}
	if ns.DeletionTimestamp != nil {
		return fmt.Errorf("adopt %s: namespace %s is being deleted", store, name)
	}
	labels, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{LabelInstance: inst.Name}}})
	if err != nil {
		return err
	}
	patch := func(what, objName string, do func(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) error) error {
		if err := do(ctx, objName, types.MergePatchType, labels, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("adopt %s: label %s %s: %w", store, what, objName, err)
		}
		return nil
	}
	managed := metav1.ListOptions{LabelSelector: render.LabelManagedBy + "=" + render.ManagedBy}
	core, netv1 := client.CoreV1(), client.NetworkingV1()
	quotas, err := core.ResourceQuotas(name).List(ctx, managed)
	if err != nil {
		return fmt.Errorf("adopt %s: %w", store, err)
	}
	for _, q := range quotas.Items {
		if err := patch("ResourceQuota", q.Name, ignore(core.ResourceQuotas(name).Patch)); err != nil {
			return err
		}
	}
	limits, err := core.LimitRanges(name).List(ctx, managed)
	if err != nil {
		return fmt.Errorf("adopt %s: %w", store, err)
	}
	for _, l := range limits.Items {
		if err := patch("LimitRange", l.Name, ignore(core.LimitRanges(name).Patch)); err != nil {
			return err
		}
	}
	policies, err := netv1.NetworkPolicies(name).List(ctx, managed)
	if err != nil {
		return fmt.Errorf("adopt %s: %w", store, err)
	}
	for _, p := range policies.Items {
		if err := patch("NetworkPolicy", p.Name, ignore(netv1.NetworkPolicies(name).Patch)); err != nil {
			return err
		}
	}
	for _, sel := range []string{managed.LabelSelector, "owner=helm,name=" + store} {
		secrets, err := core.Secrets(name).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return fmt.Errorf("adopt %s: %w", store, err)
		}
		for _, s := range secrets.Items {
			if err := patch("Secret", s.Name, ignore(core.Secrets(name).Patch)); err != nil {
				return err
			}
		}
	}
	// Seal last: a namespace is only ever seen as this instance's once
	// everything in it is.
	ns, err = client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("adopt %s: %w", store, err)
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	if ns.Annotations == nil {
		ns.Annotations = map[string]string{}
	}
	ns.Labels[LabelInstance] = inst.Name
	ns.Annotations[AnnotationOwner] = inst.Seal(ns)
	if _, err := client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("adopt %s: seal namespace: %w", store, err)
	}
	return nil
}

// ignore adapts a typed client's Patch to one that returns the error only.
func ignore[T any](p func(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) (T, error)) func(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) error {
	return func(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, sub ...string) error {
		_, err := p(ctx, name, pt, data, opts, sub...)
		return err
	}
}
