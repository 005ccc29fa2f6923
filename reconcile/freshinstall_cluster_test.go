package reconcile_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// readsOf records the reads (GET) of an applier's client, and runs before
// each request a hook the test may set.
type readsOf struct {
	next   http.RoundTripper
	mu     sync.Mutex
	reads  []string
	writes int
	before func(*http.Request)
}

func (r *readsOf) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	if req.Method == http.MethodGet {
		r.reads = append(r.reads, req.URL.Path+"?"+req.URL.RawQuery)
	} else {
		r.writes++
	}
	before := r.before
	r.mu.Unlock()
	if before != nil {
		before(req)
	}
	return r.next.RoundTrip(req)
}

// take returns the reads recorded since the last take.
func (r *readsOf) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reads
	r.reads = nil
	return out
}

func freshApplier(t *testing.T) (*reconcile.ClusterApplier, *readsOf) {
	t.Helper()
	reads := &readsOf{}
	applier := applierWrapped(t, func(rt http.RoundTripper) http.RoundTripper { reads.next = rt; return reads })
	return applier, reads
}

// applierWrapped returns an applier of the default instance on the test
// cluster whose client's transport goes through wrap.
func applierWrapped(t *testing.T, wrap func(http.RoundTripper) http.RoundTripper) *reconcile.ClusterApplier {
	t.Helper()
	cfg := rest.CopyConfig(testcluster.Get(t).Config)
	cfg.Wrap(wrap)
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := reconcile.LoadInstanceKey(context.Background(), client, "default", reconcile.DefaultInstance)
	if err != nil {
		t.Fatal(err)
	}
	applier, err := reconcile.NewClusterApplier(cfg, client, reconcile.EmbeddedCharts{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	applier.Instance = inst
	return applier
}

func desiredStore(t *testing.T, name, typ string) *render.Desired {
	t.Helper()
	d := desiredOf(t, "stores:\n  - {name: "+name+", type: "+typ+"}\n")[0]
	d.Namespace.Labels[reconcile.LabelInstance] = reconcile.DefaultInstance
	return &d
}

func releaseOf(t *testing.T, client kubernetes.Interface, store string) *release.Release {
	t.Helper()
	rel, err := driver.NewSecrets(client.CoreV1().Secrets(render.NamespacePrefix + store)).Get("sh.helm.release.v1." + store + ".v1")
	if err != nil {
		t.Fatalf("release of %s: %v", store, err)
	}
	return rel
}

// chartReads are the reads of the chart's objects, or of the release
// records, in namespace ns.
func chartReads(reads []string, ns string) []string {
	var out []string
	for _, r := range reads {
		if !strings.Contains(r, "/namespaces/"+ns+"/") {
			continue
		}
		if strings.Contains(r, "/resourcequotas") || strings.Contains(r, "/limitranges") || strings.Contains(r, "/networkpolicies") {
			continue
		}
		out = append(out, r)
	}
	return out
}

// A store whose namespace storeops creates in the same action is installed
// without a read of what the namespace holds (Helm's install reads each of
// the chart's objects and the release records first: 14 to 17 requests,
// one after the other), and the result is what Helm's install makes: the
// same release record, the same objects with Helm's ownership marks, and a
// release Helm upgrades as its own. A store whose namespace exists already
// still goes through Helm's install.
//
// Before installFresh every install read the chart's objects: the first
// check failed with 13 reads.
func TestInstallInAFreshNamespaceReadsNothingAndMatchesHelm(t *testing.T) {
	c := testcluster.Get(t)
	ctx := context.Background()
	applier, reads := freshApplier(t)
	for _, typ := range []string{"woocommerce", "medusa"} {
		t.Run(typ, func(t *testing.T) {
			fresh, helm := "fi-"+typ[:3]+"-new", "fi-"+typ[:3]+"-old"
			t.Cleanup(func() { deleteStoreNamespaces(t, c.Client, fresh, helm) })

			dFresh := desiredStore(t, fresh, typ)
			reads.take()
			if err := applier.Apply(ctx, reconcile.Action{Kind: reconcile.ActInstall, Store: fresh, Desired: dFresh}, "rev1"); err != nil {
				t.Fatalf("install in a fresh namespace: %v", err)
			}
			if got := chartReads(reads.take(), dFresh.Namespace.Name); len(got) > 0 {
				t.Fatalf("the install in a fresh namespace read %d times what it holds: %v", len(got), got)
			}

			// The other store: its namespace made first (a repair makes the
			// namespace, isolation and credentials), then installed by Helm.
			dHelm := desiredStore(t, helm, typ)
			if err := applier.Apply(ctx, reconcile.Action{Kind: reconcile.ActRepair, Store: helm, Desired: dHelm}, "rev1"); err != nil {
				t.Fatal(err)
			}
			ns, err := c.Client.CoreV1().Namespaces().Get(ctx, dHelm.Namespace.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			reads.take()
			observed := &reconcile.ObservedStore{Name: helm, Namespace: ns, Owned: true, Credentials: true}
			if err := applier.Apply(ctx, reconcile.Action{Kind: reconcile.ActInstall, Store: helm, Desired: dHelm, Observed: observed}, "rev1"); err != nil {
				t.Fatalf("helm install: %v", err)
			}
			if got := chartReads(reads.take(), dHelm.Namespace.Name); len(got) < 5 {
				t.Fatalf("Helm's install in an existing namespace read only %v: the check above proves nothing", got)
			}

			a, b := releaseOf(t, c.Client, fresh), releaseOf(t, c.Client, helm)
			same := func(s string) string { return strings.ReplaceAll(s, helm, fresh) }
			if a.Info.Status != release.StatusDeployed || b.Info.Status != release.StatusDeployed {
				t.Fatalf("status %s and %s, want deployed", a.Info.Status, b.Info.Status)
			}
			if a.Info.Description != b.Info.Description || a.Version != b.Version || a.Namespace != same(b.Namespace) ||
				a.Chart.Metadata.Version != b.Chart.Metadata.Version || len(a.Hooks) != len(b.Hooks) {
				t.Fatalf("release records differ:\nfresh %q v%d %s %s hooks %d\nhelm  %q v%d %s %s hooks %d",
					a.Info.Description, a.Version, a.Namespace, a.Chart.Metadata.Version, len(a.Hooks),
					b.Info.Description, b.Version, b.Namespace, b.Chart.Metadata.Version, len(b.Hooks))
			}
			if a.Manifest != same(b.Manifest) {
				t.Fatalf("manifests differ:\n--- fresh\n%s\n--- helm\n%s", a.Manifest, same(b.Manifest))
			}
			ya, _ := yaml.Marshal(a.Config)
			yb, _ := yaml.Marshal(b.Config)
			if string(ya) != same(string(yb)) {
				t.Fatalf("values differ:\n%s\n%s", ya, yb)
			}
			la, lb := releaseLabels(t, c.Client, fresh), releaseLabels(t, c.Client, helm)
			if la != same(lb) {
				t.Fatalf("release record labels differ: %s, %s", la, lb)
			}
			checkOwnedByRelease(t, c.Config, a)

			// Helm upgrades the fresh release as its own (it refuses
			// objects without its ownership marks).
			up := desiredOf(t, "stores:\n  - {name: "+fresh+", type: "+typ+", plan: medium}\n")[0]
			up.Namespace.Labels[reconcile.LabelInstance] = reconcile.DefaultInstance
			live, err := c.Client.CoreV1().Namespaces().Get(ctx, up.Namespace.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			info := &reconcile.ReleaseInfo{Name: fresh, Revision: 1, Status: reconcile.StatusDeployed}
			observed = &reconcile.ObservedStore{Name: fresh, Namespace: live, Owned: true, Credentials: true, Release: info}
			if err := applier.Apply(ctx, reconcile.Action{Kind: reconcile.ActUpgrade, Store: fresh, Desired: &up, Observed: observed}, "rev2"); err != nil {
				t.Fatalf("helm upgrade of the fresh release: %v", err)
			}
			v2, err := driver.NewSecrets(c.Client.CoreV1().Secrets(up.Namespace.Name)).Get("sh.helm.release.v1." + fresh + ".v2")
			if err != nil || v2.Info.Status != release.StatusDeployed {
				t.Fatalf("upgrade: %v %v", v2, err)
			}
		})
	}
}

func releaseLabels(t *testing.T, client kubernetes.Interface, store string) string {
	t.Helper()
	sec, err := client.CoreV1().Secrets(render.NamespacePrefix+store).Get(context.Background(), "sh.helm.release.v1."+store+".v1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := sec.Labels
	delete(l, "modifiedAt") // a time
	return metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: l})
}

// checkOwnedByRelease checks that every object of rel's manifest carries
// Helm's marks of an object of that release.
func checkOwnedByRelease(t *testing.T, cfg *rest.Config, rel *release.Release) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, doc := range strings.Split(rel.Manifest, "\n---") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil || u.Object == nil || u.GetKind() == "" {
			continue
		}
		gvk := u.GroupVersionKind()
		gvr := schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: strings.ToLower(gvk.Kind) + "s"}
		if gvk.Kind == "Ingress" {
			gvr.Resource = "ingresses"
		}
		if gvk.Kind == "NetworkPolicy" {
			gvr.Resource = "networkpolicies"
		}
		live, err := dyn.Resource(gvr).Namespace(rel.Namespace).Get(context.Background(), u.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s %s: %v", gvk.Kind, u.GetName(), err)
		}
		a := live.GetAnnotations()
		if live.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" || a["meta.helm.sh/release-name"] != rel.Name || a["meta.helm.sh/release-namespace"] != rel.Namespace {
			t.Fatalf("%s %s lacks Helm's ownership marks: labels %v annotations %v", gvk.Kind, u.GetName(), live.GetLabels(), a)
		}
		n++
	}
	if n < 5 {
		t.Fatalf("only %d objects checked", n)
	}
}

// An object of the chart that another writer creates in a fresh namespace
// between its creation and the install is neither changed nor adopted:
// the install fails and is recorded failed, as Helm records a failed
// install. (Helm's own install refuses it before it writes a record, with
// another message: this holds before and after installFresh.)
func TestFreshInstallDoesNotAdoptAnObjectMadeMeanwhile(t *testing.T) {
	c := testcluster.Get(t)
	ctx := context.Background()
	applier, reads := freshApplier(t)
	const store = "fi-race"
	t.Cleanup(func() { deleteStoreNamespaces(t, c.Client, store) })
	d := desiredStore(t, store, "medusa")
	rel, err := reconcile.RenderRelease(reconcile.EmbeddedCharts{}, d)
	if err != nil {
		t.Fatal(err)
	}
	var service string
	for _, doc := range strings.Split(rel.Manifest, "\n---") {
		var u unstructured.Unstructured
		if yaml.Unmarshal([]byte(doc), &u.Object) == nil && u.GetKind() == "Service" {
			service = u.GetName()
			break
		}
	}
	if service == "" {
		t.Fatal("the chart renders no Service")
	}
	var once sync.Once
	reads.before = func(r *http.Request) {
		// The first write into the new namespace: another writer is quicker.
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/namespaces/"+d.Namespace.Name+"/") {
			once.Do(func() {
				_, err := c.Client.CoreV1().Services(d.Namespace.Name).Create(ctx, &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: service, Labels: map[string]string{"made-by": "someone-else"}},
					Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 81}}},
				}, metav1.CreateOptions{})
				if err != nil {
					t.Errorf("create the other writer's Service: %v", err)
				}
			})
		}
	}
	err = applier.Apply(ctx, reconcile.Action{Kind: reconcile.ActInstall, Store: store, Desired: d}, "rev1")
	if err == nil {
		t.Fatal("the install over another writer's Service succeeded")
	}
	got, err := driver.NewSecrets(c.Client.CoreV1().Secrets(d.Namespace.Name)).Get("sh.helm.release.v1." + store + ".v1")
	if err == nil && got.Info.Status != release.StatusFailed {
		t.Fatalf("release recorded %s, want failed", got.Info.Status)
	}
	svc, err := c.Client.CoreV1().Services(d.Namespace.Name).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Labels["made-by"] != "someone-else" || svc.Annotations["meta.helm.sh/release-name"] != "" || svc.Spec.Ports[0].Port != 81 {
		t.Fatalf("the other writer's Service was changed: labels %v annotations %v ports %v", svc.Labels, svc.Annotations, svc.Spec.Ports)
	}
}

func deleteStoreNamespaces(t *testing.T, client kubernetes.Interface, stores ...string) {
	for _, s := range stores {
		err := client.CoreV1().Namespaces().Delete(context.Background(), render.NamespacePrefix+s, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Logf("delete namespace of %s: %v", s, err)
		}
	}
}

// Warm asks ahead what a first install would: after it, the first install
// asks the cluster nothing of its version, resource lists or OpenAPI
// documents; Warm itself writes nothing. (Without Warm the same install
// reads them: the test's second half.)
func TestWarmLeavesTheFirstInstallNothingToAsk(t *testing.T) {
	c := testcluster.Get(t)
	ctx := context.Background()
	clusterQuestions := func(reads []string) []string {
		var out []string
		for _, r := range reads {
			if strings.HasPrefix(r, "/version") || strings.HasPrefix(r, "/api?") || strings.HasPrefix(r, "/apis") || strings.HasPrefix(r, "/openapi") {
				out = append(out, r)
			}
		}
		return out
	}
	for _, warm := range []bool{true, false} {
		applier, reads := freshApplier(t)
		store := fmt.Sprintf("fi-warm-%t", warm)
		t.Cleanup(func() { deleteStoreNamespaces(t, c.Client, store) })
		if warm {
			applier.Warm()
			reads.mu.Lock()
			writes := reads.writes
			reads.mu.Unlock()
			if writes != 0 {
				t.Fatalf("Warm made %d writes", writes)
			}
		}
		reads.take()
		if err := applier.Apply(ctx, reconcile.Action{Kind: reconcile.ActInstall, Store: store, Desired: desiredStore(t, store, "medusa")}, "rev1"); err != nil {
			t.Fatal(err)
		}
		asked := clusterQuestions(reads.take())
		switch {
		case warm && len(asked) > 0:
			t.Errorf("after Warm the first install asked %v", asked)
		case !warm && len(asked) == 0:
			t.Errorf("without Warm the first install asked nothing: the check above proves nothing")
		}
	}
}
