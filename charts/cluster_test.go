package charts_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/storeops/storeops/charts"
	"github.com/storeops/storeops/internal/testcluster"
	storeopsrender "github.com/storeops/storeops/render"
)

// restGetter hands Helm's kube client a fixed rest.Config and namespace.
type restGetter struct {
	config    *rest.Config
	namespace string
}

var _ genericclioptions.RESTClientGetter = restGetter{}

func (g restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.config), nil }

func (g restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(g.config)
	if err != nil {
		return nil, err
	}
	return memory.NewMemCacheClient(dc), nil
}

func (g restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	return restmapper.NewDeferredDiscoveryRESTMapper(dc), nil
}

func (g restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(), &clientcmd.ConfigOverrides{
		Context: clientcmdapi.Context{Namespace: g.namespace},
	})
}

// helmConfig returns an action configuration for the namespace that keeps
// releases in Secrets, as storeops does.
func helmConfig(t *testing.T, c *testcluster.Cluster, ns string) *action.Configuration {
	t.Helper()
	cfg := new(action.Configuration)
	if err := cfg.Init(restGetter{config: c.Config, namespace: ns}, ns, "secret", func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// storeNamespace creates a namespace the way storeops prepares one for the
// small plan: Pod Security labels, ResourceQuota, LimitRange and the
// credentials Secret for the store type. It returns the namespace.
func storeNamespace(t *testing.T, c *testcluster.Cluster, storeType, name string) string {
	t.Helper()
	ctx := context.Background()
	ns := c.Namespace(t, "store-"+name)
	nsObj, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if nsObj.Labels == nil {
		nsObj.Labels = map[string]string{}
	}
	maps.Copy(nsObj.Labels, map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	})
	if _, err := c.Client.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "store-quota"},
		Spec:       corev1.ResourceQuotaSpec{Hard: smallQuota},
	}
	if _, err := c.Client.CoreV1().ResourceQuotas(ns).Create(ctx, quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lr := &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "store-limits"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
			Max:            smallMax,
		}}},
	}
	if _, err := c.Client.CoreV1().LimitRanges(ns).Create(ctx, lr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-credentials"},
		StringData: map[string]string{},
	}
	for _, spec := range charts.SecretKeySpecs(storeType) {
		v, err := spec.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		secret.StringData[spec.Key] = v
	}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ns
}

// TestServerDryRun sends every rendered object, and a Pod for every pod
// template, to the API server as a server-side dry-run in a namespace with
// the small plan's quota and limits and the restricted Pod Security level.
func TestServerDryRun(t *testing.T) {
	c := testcluster.Get(t)
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := restGetter{config: c.Config}.ToRESTMapper()
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range charts.Types() {
		t.Run(typ, func(t *testing.T) {
			ns := storeNamespace(t, c, typ, "shop")
			objs := objects(t, render(t, typ, "shop", storeValues("shop")))
			ws, _ := workloads(t, objs)
			for _, w := range ws {
				pod := map[string]any{
					"apiVersion": "v1",
					"kind":       "Pod",
					"metadata":   map[string]any{"name": strings.ToLower(strings.ReplaceAll(w.name, "/", "-"))},
				}
				data, err := yaml.Marshal(w.pod)
				if err != nil {
					t.Fatal(err)
				}
				var spec map[string]any
				if err := yaml.Unmarshal(data, &spec); err != nil {
					t.Fatal(err)
				}
				pod["spec"] = spec
				objs = append(objs, pod)
			}
			for _, o := range objs {
				u := &unstructured.Unstructured{Object: o}
				gvk := u.GroupVersionKind()
				m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				if err != nil {
					t.Fatalf("%s: %v", gvk, err)
				}
				_, err = dyn.Resource(m.Resource).Namespace(ns).Create(context.Background(), u,
					metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
				if err != nil {
					t.Errorf("%s %s refused: %v", gvk.Kind, u.GetName(), err)
				}
			}
		})
	}
}

// TestInstallUpgradeUninstall installs each store type for real and waits for
// it (Jobs included), upgrades it with a changed value, checks that no
// credential changed, and uninstalls it.
func TestInstallUpgradeUninstall(t *testing.T) {
	c := testcluster.Get(t)
	for _, typ := range charts.Types() {
		t.Run(typ, func(t *testing.T) {
			ctx := context.Background()
			name := "shop"
			ns := storeNamespace(t, c, typ, name)
			cfg := helmConfig(t, c, ns)
			chrt, err := charts.Load(typ)
			if err != nil {
				t.Fatal(err)
			}
			vals := storeValues(name)

			install := action.NewInstall(cfg)
			install.ReleaseName, install.Namespace = name, ns
			install.Wait, install.WaitForJobs, install.Timeout = true, true, 3*time.Minute
			rel, err := install.RunWithContext(ctx, chrt, vals)
			if err != nil {
				t.Fatalf("install: %v", err)
			}
			if rel.Info.Status != release.StatusDeployed {
				t.Fatalf("install: status %s", rel.Info.Status)
			}
			waitClaimsBound(t, c, ns)
			before := secrets(t, c, ns)

			vals = storeValues(name)
			vals["store"].(map[string]any)["title"] = "Renamed shop"
			upgrade := action.NewUpgrade(cfg)
			upgrade.Namespace = ns
			upgrade.Wait, upgrade.WaitForJobs, upgrade.Timeout = true, true, 3*time.Minute
			rel, err = upgrade.RunWithContext(ctx, name, chrt, vals)
			if err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			if rel.Info.Status != release.StatusDeployed || rel.Version != 2 {
				t.Fatalf("upgrade: status %s, revision %d", rel.Info.Status, rel.Version)
			}
			if !strings.Contains(rel.Manifest+hookManifests(rel), "Renamed shop") {
				t.Error("upgrade did not apply the changed title")
			}
			after := secrets(t, c, ns)
			if len(after) != len(before) {
				t.Errorf("non-release Secrets before upgrade %v, after %v", keysOf(before), keysOf(after))
			}
			for n, s := range before {
				a, ok := after[n]
				if !ok || a.ResourceVersion != s.ResourceVersion || !maps.EqualFunc(a.Data, s.Data, func(x, y []byte) bool { return string(x) == string(y) }) {
					t.Errorf("Secret %s changed by the upgrade", n)
				}
			}

			uninstall := action.NewUninstall(cfg)
			uninstall.Wait, uninstall.Timeout = true, 2*time.Minute
			if _, err := uninstall.Run(name); err != nil {
				t.Fatalf("uninstall: %v", err)
			}
			waitGone(t, c, ns, name)
		})
	}
}

// hookManifests joins the manifests of a release's hooks.
func hookManifests(rel *release.Release) string {
	var b strings.Builder
	for _, h := range rel.Hooks {
		b.WriteString(h.Manifest)
	}
	return b.String()
}

// secrets returns the namespace's Secrets except Helm's release records.
func secrets(t *testing.T, c *testcluster.Cluster, ns string) map[string]corev1.Secret {
	t.Helper()
	list, err := c.Client.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.Secret{}
	for _, s := range list.Items {
		if s.Type != "helm.sh/release.v1" {
			out[s.Name] = s
		}
	}
	return out
}

func keysOf(m map[string]corev1.Secret) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// waitClaimsBound waits until every claim in the namespace is Bound.
func waitClaimsBound(t *testing.T, c *testcluster.Cluster, ns string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := c.Client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, pvc := range list.Items {
			if pvc.Status.Phase != corev1.ClaimBound {
				return false, nil
			}
		}
		return len(list.Items) > 0, nil
	})
	if err != nil {
		t.Fatalf("claims not bound: %v", err)
	}
}

// waitGone waits until no object of the release is left in the namespace,
// the StatefulSets' claims included.
func waitGone(t *testing.T, c *testcluster.Cluster, ns, release string) {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release}
	var left []string
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		left = nil
		core := c.Client.CoreV1()
		apps := c.Client.AppsV1()
		pods, err := core.Pods(ns).List(ctx, sel)
		if err != nil {
			return false, err
		}
		for _, o := range pods.Items {
			left = append(left, "Pod/"+o.Name)
		}
		pvcs, err := core.PersistentVolumeClaims(ns).List(ctx, sel)
		if err != nil {
			return false, err
		}
		for _, o := range pvcs.Items {
			left = append(left, "PersistentVolumeClaim/"+o.Name)
		}
		svcs, err := core.Services(ns).List(ctx, sel)
		if err != nil {
			return false, err
		}
		for _, o := range svcs.Items {
			left = append(left, "Service/"+o.Name)
		}
		deps, err := apps.Deployments(ns).List(ctx, sel)
		if err != nil {
			return false, err
		}
		for _, o := range deps.Items {
			left = append(left, "Deployment/"+o.Name)
		}
		sts, err := apps.StatefulSets(ns).List(ctx, sel)
		if err != nil {
			return false, err
		}
		for _, o := range sts.Items {
			left = append(left, "StatefulSet/"+o.Name)
		}
		jobs, err := c.Client.BatchV1().Jobs(ns).List(ctx, sel)
		if err != nil {
			return false, err
		}
		for _, o := range jobs.Items {
			left = append(left, "Job/"+o.Name)
		}
		return len(left) == 0, nil
	})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("left after uninstall: %v (%v)", left, err)
	}
}

// TestIngressHostsOnAPIServer sends an Ingress for every host of
// render/testdata/hosts.tsv to the API server (server-side dry-run) and
// checks that it accepts exactly the hosts the table says, the table that
// render.CheckIngressHost and render.CheckDomain are tested against.
func TestIngressHostsOnAPIServer(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t, "store-hosts")
	data, err := os.ReadFile(filepath.Join("..", "render", "testdata", "hosts.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		host, want := f[0], f[1] == "accept"
		prefix := networkingv1.PathTypePrefix
		ing := &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("host-%d", n)},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
				Host: host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
						Service: &networkingv1.IngressServiceBackend{Name: "shop", Port: networkingv1.ServiceBackendPort{Number: 80}},
					}}},
				}},
			}}},
		}
		n++
		_, err := c.Client.NetworkingV1().Ingresses(ns).Create(context.Background(), ing, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if got := err == nil; got != want {
			t.Errorf("host %q: API server accepted=%v, hosts.tsv says %v (%v)", host, got, want, err)
		}
		if err != nil && !apierrors.IsInvalid(err) {
			t.Errorf("host %q: %v", host, err)
		}
	}
	if n < 30 {
		t.Fatalf("only %d hosts", n)
	}
}

// TestRenderedIsolationOnAPIServer sends the namespace, quota, limit range
// and NetworkPolicy storeops renders for every store of the example and of
// render's full fixture to the API server (server-side dry-run, strict field
// validation): whatever render produces, the API server accepts.
func TestRenderedIsolationOnAPIServer(t *testing.T) {
	c := testcluster.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t, "store-isolation")
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}
	for _, path := range []string{"../stores.example.yaml", "../render/testdata/valid/full.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := storeopsrender.Parse(filepath.Base(path), data, storeopsrender.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range storeopsrender.Render(cfg) {
			if _, err := c.Client.CoreV1().Namespaces().Create(ctx, d.Namespace.DeepCopy(), dry); err != nil {
				t.Errorf("%s: Namespace refused: %v", d.Store.Name, err)
			}
			q := d.Quota.DeepCopy()
			q.Namespace = ns
			if _, err := c.Client.CoreV1().ResourceQuotas(ns).Create(ctx, q, dry); err != nil {
				t.Errorf("%s: ResourceQuota refused: %v", d.Store.Name, err)
			}
			lr := d.LimitRange.DeepCopy()
			lr.Namespace = ns
			if _, err := c.Client.CoreV1().LimitRanges(ns).Create(ctx, lr, dry); err != nil {
				t.Errorf("%s: LimitRange refused: %v", d.Store.Name, err)
			}
			np := d.NetworkPolicy.DeepCopy()
			np.Namespace = ns
			if _, err := c.Client.NetworkingV1().NetworkPolicies(ns).Create(ctx, np, dry); err != nil {
				t.Errorf("%s: NetworkPolicy refused: %v", d.Store.Name, err)
			}
		}
	}
}
