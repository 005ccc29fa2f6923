package reconcile_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// chartRBAC renders the RBAC of storeops' own chart (deploy/chart) for a
// release in namespace ns, creates it as the cluster admin with the
// ServiceAccount it names, and returns the configuration and a client that
// authenticate as that ServiceAccount only, and the store role to bind.
func chartRBAC(t *testing.T, c *testcluster.Cluster, ns, instance string) (*rest.Config, kubernetes.Interface, *reconcile.StoreRole) {
	t.Helper()
	ctx := context.Background()
	ch, err := loader.Load(filepath.Join("..", "deploy", "chart"))
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{"instance": instance, "git": map[string]any{"url": "https://git.example/config.git"},
		"dashboard": map[string]any{"anonymousReads": true}, "admissionPolicy": map[string]any{"enabled": false}}
	merged, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "storeops", Namespace: ns, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, merged)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "storeops"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var role *reconcile.StoreRole
	for _, name := range []string{"storeops/templates/clusterrole.yaml", "storeops/templates/role.yaml"} {
		for _, doc := range strings.Split(files[name], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			rbac := c.Client.RbacV1()
			switch o := obj.(type) {
			case *rbacv1.ClusterRole:
				if strings.HasSuffix(o.Name, "-store") {
					role = &reconcile.StoreRole{ClusterRole: o.Name, Namespace: ns, ServiceAccount: "storeops"}
				}
				_, err = rbac.ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
				t.Cleanup(func() { _ = rbac.ClusterRoles().Delete(context.Background(), o.Name, metav1.DeleteOptions{}) })
			case *rbacv1.ClusterRoleBinding:
				_, err = rbac.ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
				t.Cleanup(func() { _ = rbac.ClusterRoleBindings().Delete(context.Background(), o.Name, metav1.DeleteOptions{}) })
			case *rbacv1.Role:
				_, err = rbac.Roles(ns).Create(ctx, o, metav1.CreateOptions{})
			case *rbacv1.RoleBinding:
				_, err = rbac.RoleBindings(ns).Create(ctx, o, metav1.CreateOptions{})
			default:
				t.Fatalf("%s: unexpected %T", name, obj)
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	if role == nil {
		t.Fatal("the chart has no store role")
	}
	exp := int64(3600)
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "storeops", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(c.Config)
	cfg.BearerToken = tr.Status.Token
	cfg.QPS, cfg.Burst = 100, 200
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The authorizer learns of new bindings asynchronously.
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		_, err := client.CoreV1().Namespaces().List(waitCtx, metav1.ListOptions{Limit: 1})
		if err == nil {
			break
		}
		if !apierrors.IsForbidden(err) || waitCtx.Err() != nil {
			t.Fatalf("the chart's ClusterRoleBinding not in effect: %v", err)
		}
		select {
		case <-waitCtx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return cfg, client, role
}

// TestStoresConvergeWithSecretsReadPerNamespace runs the observer and the
// applier as a ServiceAccount with only the RBAC of storeops' chart, which
// grants no Secret outside store namespaces and storeops' own: the
// observer reads each store namespace's Secrets through the store role
// bound there. A store converges; a store namespace whose RoleBinding is
// missing (a crash between creating and binding) is not planned from
// Secrets it cannot see but gets its binding, then converges; a Secret
// event wakes the reconciler with its store's name.
func TestStoresConvergeWithSecretsReadPerNamespace(t *testing.T) {
	c := testcluster.Get(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	own := c.Namespace(t, "storeops-secrets")
	cfg, client, role := chartRBAC(t, c, own, "sectest")
	// Names of their own: a namespace of an earlier run may still be
	// going away.
	suffix := own[strings.LastIndexByte(own, '-')+1:]
	woo, lateName := "sec-woo-"+suffix, "sec-late-"+suffix
	stores := []string{woo, lateName}
	t.Cleanup(func() {
		for _, s := range stores {
			_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), render.NamespacePrefix+s, metav1.DeleteOptions{})
		}
	})

	inst, err := reconcile.LoadInstanceKey(ctx, client, own, "sectest")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var woken []string
	wake := make(chan struct{}, 1)
	observer := reconcile.NewObserver(client, inst, func(store string) {
		mu.Lock()
		woken = append(woken, store)
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if !observer.Start(ctx.Done()) {
		t.Fatal("informers did not sync")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	applier, err := reconcile.NewClusterApplier(cfg, client, reconcile.EmbeddedCharts{}, log)
	if err != nil {
		t.Fatal(err)
	}
	applier.Instance, applier.StoreRole, applier.OnBound, applier.Timeout = inst, role, observer.Rewatch, 3*time.Minute
	rec := reconcile.New(observer, applier, reconcile.NewBoard(), log)
	rec.Instance = inst.Name
	versions, err := reconcile.EmbeddedCharts{}.ChartVersions()
	if err != nil {
		t.Fatal(err)
	}
	desiredOf := func(yaml string) []render.Desired {
		cfg, err := render.Parse("stores.yaml", []byte(yaml), render.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return rec.Render(cfg)
	}
	plan := func(desired []render.Desired) ([]reconcile.Action, reconcile.Observed) {
		t.Helper()
		p := reconcile.DefaultPolicy()
		p.Now, p.ChartVersions, p.Instance = time.Now(), versions, inst.Name
		obs := observer.Observe()
		actions, err := reconcile.Plan(desired, obs, p)
		if err != nil {
			t.Fatal(err)
		}
		return actions, obs
	}
	waitWake := func(deadline <-chan time.Time, what string) {
		t.Helper()
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	// converge plans and applies, on every change the observer reports,
	// until nothing is left to do and every store is Ready; it returns the
	// actions applied per store.
	converge := func(desired []render.Desired) map[string][]string {
		t.Helper()
		done := map[string][]string{}
		failures := 0
		deadline := time.After(5 * time.Minute)
		for {
			actions, obs := plan(desired)
			ready := true
			for _, d := range desired {
				o := obs.Stores[d.Store.Name]
				ready = ready && o != nil && !o.Unsynced && o.AllReady()
			}
			if len(actions) == 0 && ready {
				t.Logf("converged: %v", done)
				return done
			}
			for _, a := range actions {
				if a.Kind == reconcile.ActBlock {
					t.Fatalf("blocked: %s", a)
				}
				done[a.Store] = append(done[a.Store], string(a.Kind))
				if err := applier.Apply(ctx, a, "test"); err != nil {
					if failures++; failures > 5 {
						t.Fatalf("%s: %v", a, err)
					}
					t.Logf("%s: %v (retried)", a, err)
				}
			}
			if len(actions) == 0 {
				waitWake(deadline, "the stores to converge")
			}
		}
	}

	// A store, from nothing to Ready, with no Secret read outside its
	// namespace.
	one := desiredOf("stores:\n  - {name: " + woo + ", type: woocommerce}\n")
	if got := converge(one)[woo]; len(got) == 0 || got[0] != string(reconcile.ActInstall) {
		t.Fatalf("sec-woo: actions %v, want an install first", got)
	}
	if !observer.Synced(woo) {
		t.Fatal("sec-woo converged with its Secrets unsynced")
	}
	if o := observer.Observe().Stores[woo]; !o.Credentials || o.Release == nil || o.Release.Status != reconcile.StatusDeployed {
		t.Fatalf("sec-woo observed without its credentials or release: %+v", o)
	}

	// A store namespace made and sealed by this instance whose RoleBinding
	// was never made: its Secrets are refused, so it is not planned from
	// them (it would look new) but bound, then observed and converged.
	both := desiredOf("stores:\n  - {name: " + woo + ", type: woocommerce}\n  - {name: " + lateName + ", type: woocommerce}\n")
	var late *corev1.Namespace
	for _, d := range both {
		if d.Store.Name == lateName {
			late = d.Namespace.DeepCopy()
		}
	}
	late, err = c.Client.CoreV1().Namespaces().Create(ctx, late, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	late.Annotations = map[string]string{reconcile.AnnotationOwner: inst.Seal(late)}
	if _, err := c.Client.CoreV1().Namespaces().Update(ctx, late, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(2 * time.Minute)
	for {
		o := observer.Observe().Stores[lateName]
		if o != nil && o.Owned && o.SecretsRefused {
			if !o.Unsynced || observer.Synced(lateName) {
				t.Fatalf("refused store reported synced: %+v", o)
			}
			break
		}
		waitWake(deadline, "sec-late's Secrets to be refused")
	}
	actions, _ := plan(both)
	var kinds []string
	for _, a := range actions {
		kinds = append(kinds, a.String())
	}
	if len(actions) != 1 || actions[0].Store != lateName || actions[0].Kind != reconcile.ActRepair || !strings.Contains(actions[0].Reason, "bind") {
		t.Fatalf("plan with sec-late unreadable: %v, want only a repair that binds the store role", kinds)
	}
	got := converge(both)[lateName]
	if len(got) < 2 || got[0] != string(reconcile.ActRepair) || got[1] != string(reconcile.ActInstall) {
		t.Fatalf("sec-late: actions %v, want the binding, then the install", got)
	}
	if _, err := c.Client.RbacV1().RoleBindings(render.NamespacePrefix+lateName).Get(ctx, "storeops-sectest", metav1.GetOptions{}); err != nil {
		t.Fatalf("sec-late's RoleBinding: %v", err)
	}

	// A Secret event names its store: the credentials deleted by hand are
	// seen, and the store is blocked, not given new passwords.
	mu.Lock()
	woken = nil
	mu.Unlock()
	if err := c.Client.CoreV1().Secrets(render.NamespacePrefix+woo).Delete(ctx, render.CredentialsSecret, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline = time.After(2 * time.Minute)
	for observer.Observe().Stores[woo].Credentials {
		waitWake(deadline, "the deletion of sec-woo's credentials to be observed")
	}
	mu.Lock()
	names := append([]string(nil), woken...)
	mu.Unlock()
	sort.Strings(names)
	if i := sort.SearchStrings(names, woo); i == len(names) || names[i] != woo {
		t.Fatalf("the Secret's deletion woke the reconciler for %v, not for sec-woo", names)
	}
	actions, _ = plan(both)
	if len(actions) != 1 || actions[0].Kind != reconcile.ActBlock || actions[0].Store != woo {
		t.Fatalf("plan without sec-woo's credentials: %v, want sec-woo blocked", actions)
	}
}
