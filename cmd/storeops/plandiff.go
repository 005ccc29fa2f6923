package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/storeops/storeops/charts"
	"github.com/storeops/storeops/internal/manifestdiff"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
)

// The diff of `storeops plan` is a unified diff of the YAML of every
// object an action creates or changes: the store namespace's own objects
// (namespace, quota, limit range, network policy, credentials Secret) and
// its Helm release's, rendered client-side. Live objects are compared on
// the fields the desired object or the deployed release's sets (see
// manifestdiff.Project), which is what applying them changes. Secret
// values never appear: storeops does not read the credentials Secret's,
// and any other Secret's are masked.

// diffKinds are the actions that create or change objects, and which of
// them: the release's too, or only the namespace's own.
var diffKinds = map[reconcile.ActionKind]bool{
	reconcile.ActInstall: true, reconcile.ActReinstall: true, reconcile.ActUpgrade: true,
	reconcile.ActRepair: false,
}

// storeDiff is the diff of an action on one store. previous is the
// deployed release's manifest ("" for none); live reads the release's
// live objects (nil when there are none); the namespace's own objects are
// read from the observation.
func storeDiff(kind reconcile.ActionKind, d *render.Desired, o *reconcile.ObservedStore, previous string, live manifestdiff.LiveFunc) (string, error) {
	withRelease, ok := diffKinds[kind]
	if !ok || d == nil {
		return "", nil
	}
	desired, err := namespaceObjects(d, o)
	if err != nil {
		return "", err
	}
	var prev []manifestdiff.Object
	if withRelease {
		rel, err := reconcile.RenderRelease(reconcile.EmbeddedCharts{}, d)
		if err != nil {
			return "", fmt.Errorf("render the chart: %w", err)
		}
		objs, err := releaseObjects(rel.Manifest, hookManifests(rel.Hooks))
		if err != nil {
			return "", err
		}
		desired = append(desired, objs...)
		if prev, err = releaseObjects(previous, nil); err != nil {
			return "", fmt.Errorf("deployed release: %w", err)
		}
	}
	observedLive := func(id manifestdiff.ID) (manifestdiff.Object, bool, error) {
		if obj, handled := namespaceLive(id, d, o); handled {
			return obj, obj != nil, nil
		}
		if live == nil || o == nil || o.Namespace == nil {
			return nil, false, nil
		}
		return live(id)
	}
	changes, err := manifestdiff.Changes(d.Namespace.Name, desired, prev, observedLive)
	if err != nil {
		return "", err
	}
	return manifestdiff.Diff(changes)
}

func hookManifests(hooks []*release.Hook) []string {
	out := make([]string, 0, len(hooks))
	for _, h := range hooks {
		out = append(out, h.Manifest)
	}
	return out
}

func releaseObjects(manifest string, hooks []string) ([]manifestdiff.Object, error) {
	var out []manifestdiff.Object
	for _, m := range append([]string{manifest}, hooks...) {
		objs, err := manifestdiff.Parse(m)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// namespaceObjects are the objects storeops makes in and for the store's
// namespace itself. The credentials Secret, created once and never
// changed, is among them only while it is missing; its values are made
// when it is created, so only its keys are shown.
func namespaceObjects(d *render.Desired, o *reconcile.ObservedStore) ([]manifestdiff.Object, error) {
	var out []manifestdiff.Object
	for _, obj := range []struct {
		kind, apiVersion string
		obj              runtime.Object
	}{
		{"Namespace", "v1", d.Namespace},
		{"ResourceQuota", "v1", d.Quota},
		{"LimitRange", "v1", d.LimitRange},
		{"NetworkPolicy", "networking.k8s.io/v1", d.NetworkPolicy},
	} {
		u, err := unstructuredOf(obj.obj, obj.apiVersion, obj.kind)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if o == nil || !o.Credentials {
		labels := map[string]any{}
		for k, v := range render.StoreLabels(d.Store) {
			labels[k] = v
		}
		if inst := d.Namespace.Labels[reconcile.LabelInstance]; inst != "" {
			labels[reconcile.LabelInstance] = inst
		}
		data := map[string]any{}
		for _, spec := range charts.SecretKeySpecs(string(d.Store.Type)) {
			data[spec.Key] = manifestdiff.Masked // made at creation
		}
		out = append(out, manifestdiff.Object{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
			"metadata": map[string]any{"name": render.CredentialsSecret, "namespace": d.Namespace.Name, "labels": labels},
			"data":     data})
	}
	return out, nil
}

// namespaceLive answers for the namespace's own objects from the
// observation; handled is false for other objects.
func namespaceLive(id manifestdiff.ID, d *render.Desired, o *reconcile.ObservedStore) (obj manifestdiff.Object, handled bool) {
	var live runtime.Object
	var apiVersion string
	switch {
	case id.Kind == "Namespace" && id.APIVersion == "v1" && id.Name == d.Namespace.Name:
		apiVersion = "v1"
		if o != nil && o.Namespace != nil {
			live = o.Namespace
		}
	case id.Namespace != d.Namespace.Name:
		return nil, false
	case id.Kind == "ResourceQuota" && id.Name == render.QuotaName:
		apiVersion = "v1"
		if o != nil && o.Quota != nil {
			live = o.Quota
		}
	case id.Kind == "LimitRange" && id.Name == render.LimitRangeName:
		apiVersion = "v1"
		if o != nil && o.LimitRange != nil {
			live = o.LimitRange
		}
	case id.Kind == "NetworkPolicy" && id.Name == render.NetworkPolicyName:
		apiVersion = "networking.k8s.io/v1"
		if o != nil && o.NetworkPolicy != nil {
			live = o.NetworkPolicy
		}
	case id.Kind == "Secret" && id.Name == render.CredentialsSecret:
		// Present or not, its values are never read.
		return nil, true
	default:
		return nil, false
	}
	if live == nil {
		return nil, true
	}
	u, err := unstructuredOf(live, apiVersion, id.Kind)
	if err != nil {
		return nil, true
	}
	return u, true
}

// unstructuredOf is obj's JSON form, with its apiVersion and kind (typed
// objects from informers have none).
func unstructuredOf(obj runtime.Object, apiVersion, kind string) (manifestdiff.Object, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u["apiVersion"], u["kind"] = apiVersion, kind
	return u, nil
}

// clusterDiffs computes the diff of every action, reading what it needs
// from the cluster: each upgraded release's deployed manifest (its Helm
// record) and its live objects. A store whose diff cannot be made gets a
// note saying why instead.
func (e *engine) clusterDiffs(ctx context.Context, actions []reconcile.Action) map[string]string {
	out := map[string]string{}
	// The clients of each target cluster, made when a store there needs
	// them.
	type clients struct {
		mapper meta.RESTMapper
		dyn    dynamic.Interface
		client kubernetes.Interface
		err    error
	}
	byCluster := map[string]*clients{}
	setup := func(cluster string) *clients {
		if c := byCluster[cluster]; c != nil {
			return c
		}
		c := &clients{}
		byCluster[cluster] = c
		m := e.clusters.Member(cluster)
		if m == nil {
			c.err = errors.New(e.clusters.Down(cluster))
			return c
		}
		dc, err := discovery.NewDiscoveryClientForConfig(m.Config)
		if err != nil {
			c.err = err
			return c
		}
		c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
		c.dyn, c.err = dynamic.NewForConfig(m.Config)
		c.client = m.Client
		return c
	}
	for _, a := range actions {
		if _, ok := diffKinds[a.Kind]; !ok || a.Desired == nil {
			continue
		}
		var previous string
		var live manifestdiff.LiveFunc
		o := a.Observed
		if o != nil && o.Namespace != nil && o.Release != nil {
			c := setup(o.Cluster)
			if c.err != nil {
				out[a.Store] = "(no diff: " + c.err.Error() + ")\n"
				continue
			}
			ns := o.Namespace.Name
			rel, err := driver.NewSecrets(c.client.CoreV1().Secrets(ns)).Get(fmt.Sprintf("sh.helm.release.v1.%s.v%d", o.Release.Name, o.Release.Revision))
			if err == nil {
				previous = rel.Manifest
				for _, h := range rel.Hooks {
					previous += "\n---\n" + h.Manifest
				}
			}
			live = func(id manifestdiff.ID) (manifestdiff.Object, bool, error) {
				return getLive(ctx, c.mapper, c.dyn, id)
			}
		}
		d, err := storeDiff(a.Kind, a.Desired, o, previous, live)
		if err != nil {
			d = "(no diff: " + err.Error() + ")\n"
		}
		out[a.Store] = d
	}
	return out
}

// getLive reads one object from the cluster.
func getLive(ctx context.Context, mapper meta.RESTMapper, dyn dynamic.Interface, id manifestdiff.ID) (manifestdiff.Object, bool, error) {
	gv, err := schema.ParseGroupVersion(id.APIVersion)
	if err != nil {
		return nil, false, err
	}
	m, err := mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: id.Kind}, gv.Version)
	if meta.IsNoMatchError(err) {
		return nil, false, nil // a kind the cluster does not serve: none exists
	}
	if err != nil {
		return nil, false, err
	}
	var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = dyn.Resource(m.Resource).Namespace(id.Namespace)
	}
	u, err := ri.Get(ctx, id.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return u.Object, true, nil
}
