package real

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/chromedp/chromedp"

	"github.com/storeops/storeops/internal/devcluster"
	"github.com/storeops/storeops/internal/reporoot"
	"github.com/storeops/storeops/internal/storeimages"
	"github.com/storeops/storeops/internal/storeopsbin"
	"github.com/storeops/storeops/internal/testcluster"
)

// TestMedusaStore installs a Medusa store from stores.yaml with the storeops
// binary (`storeops sync --once`, which waits until the store is Ready) and
// runs it for real on the real node: the backend and storefront images
// built by internal/storeimages (what `make images` builds), the PostgreSQL
// and Redis stand-ins under the chart's image names. The migrations run in
// the API server's init container, the setup Job creates the admin, region,
// sales channel, publishable key and sample products; then /health answers
// 200, the admin logs in through the API, the Store API lists the products
// with the publishable key, and headless Chromium adds a product to the
// cart in the storefront.
//
// A MutatingAdmissionPolicy puts the store's pods on the real node, as a
// cluster operator's node selector would.
//
// STOREOPS_BINARY runs that binary instead of building cmd/storeops.
func TestMedusaStore(t *testing.T) {
	c := testcluster.Get(t)
	if !c.RealNode {
		t.Skip("the cluster has no real node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	root, err := reporoot.Find()
	if err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	backend, err := storeimages.BuildBackend(ctx, storeimages.Options{Root: root, Cache: cacheDir(t), Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backend image %s in %s", backend.Ref, backend.Took.Round(100*time.Millisecond))
	c.ImportImage(t, backend.Archive)
	storefront, err := storeimages.BuildStorefront(ctx, storeimages.Options{Root: root, Cache: cacheDir(t), Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	c.ImportImage(t, storefront.Archive)
	values := chartImages(t, root)
	c.ImportImage(t, buildStandinAs(t, postgresStandin, values["postgres"]))
	c.ImportImage(t, buildStandinAs(t, redisStandin, values["redis"]))
	t.Logf("images built and imported in %s", time.Since(began).Round(100*time.Millisecond))

	const store, ns = "shop", "store-shop"
	placeOnRealNode(ctx, t, c, ns)

	binary := os.Getenv("STOREOPS_BINARY")
	if binary == "" {
		var cleanup func()
		if binary, cleanup, err = storeopsbin.Build(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cleanup) // after the store's deletion below, which runs the binary

	}
	dir := t.TempDir()
	file := filepath.Join(dir, "stores.yaml")
	if err := os.WriteFile(file, []byte(`defaults:
  baseDomain: stores.localhost
  storageClass: `+devcluster.RealStorageClass+`
stores:
  - name: `+store+`
    type: medusa
    options:
      title: Real Shop
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Delete the store as storeops does for a store no longer
		// declared, so its pods leave the real node before it stops.
		empty := filepath.Join(dir, "empty.yaml")
		_ = os.WriteFile(empty, []byte("stores: []\n"), 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		code, out, err := storeopsbin.Run(ctx, binary, append(os.Environ(), "KUBECONFIG="+c.Kubeconfig),
			"sync", "--once", "-f", empty, "--max-delete-share", "1")
		if code != 0 || err != nil {
			t.Logf("deleting the store: exit %d, %v\n%s", code, err, out)
		}
	})
	synced := time.Now()
	code, out, err := storeopsbin.Run(ctx, binary, append(os.Environ(), "KUBECONFIG="+c.Kubeconfig),
		"sync", "--once", "-f", file)
	if err != nil || code != 0 {
		dumpStore(ctx, t, c, ns)
		t.Fatalf("storeops sync --once: exit %d, %v\n%s", code, err, out)
	}
	t.Logf("storeops sync --once: the store is Ready after %s", time.Since(synced).Round(100*time.Millisecond))

	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		component := p.Labels["app.kubernetes.io/component"]
		if p.Spec.NodeName != devcluster.RealNodeName {
			t.Errorf("pod %s (%s) ran on %s", p.Name, component, p.Spec.NodeName)
		}
		t.Logf("pod %s (%s) on %s: %s", p.Name, component, p.Spec.NodeName, p.Status.Phase)
	}

	secret, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "store-credentials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.Client.CoreV1().Services(ns).Get(ctx, store+"-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	api := "http://" + svc.Spec.ClusterIP + ":9000"
	if code, body := call(t, http.MethodGet, api+"/health", nil, nil); code != http.StatusOK {
		t.Fatalf("/health: %d %s", code, body)
	}
	t.Logf("commit to healthy: /health answers 200 %s after storeops sync started", time.Since(synced).Round(100*time.Millisecond))

	// The admin logs in with the password of the store's Secret.
	login, _ := json.Marshal(map[string]string{"email": "admin@shop.stores.localhost", "password": string(secret.Data["admin-password"])})
	code, body := call(t, http.MethodPost, api+"/auth/user/emailpass", bytes.NewReader(login), map[string]string{"Content-Type": "application/json"})
	var auth struct{ Token string }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &auth) != nil || auth.Token == "" {
		t.Fatalf("admin login: %d %s", code, body)
	}
	code, body = call(t, http.MethodGet, api+"/admin/users/me", nil, map[string]string{"Authorization": "Bearer " + auth.Token})
	if code != http.StatusOK || !strings.Contains(body, "admin@shop.stores.localhost") {
		t.Errorf("/admin/users/me with the admin's token: %d %s", code, body)
	}
	// A wrong password is refused.
	bad, _ := json.Marshal(map[string]string{"email": "admin@shop.stores.localhost", "password": "wrong"})
	if code, body := call(t, http.MethodPost, api+"/auth/user/emailpass", bytes.NewReader(bad), map[string]string{"Content-Type": "application/json"}); code != http.StatusUnauthorized {
		t.Errorf("admin login with a wrong password: %d %s", code, body)
	}

	// The Store API lists the sample products with the publishable key,
	// and refuses without it.
	key := map[string]string{"x-publishable-api-key": string(secret.Data["publishable-key"])}
	code, body = call(t, http.MethodGet, api+"/store/products", nil, key)
	var products struct {
		Products []struct{ Handle string }
		Count    int
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &products) != nil || products.Count == 0 {
		t.Fatalf("/store/products: %d %s", code, body)
	}
	var handles []string
	for _, p := range products.Products {
		handles = append(handles, p.Handle)
	}
	t.Logf("/store/products lists %d products: %s", products.Count, strings.Join(handles, ", "))
	if code, body := call(t, http.MethodGet, api+"/store/products", nil, nil); code == http.StatusOK {
		t.Errorf("/store/products without a publishable key: %d %s", code, body)
	}
	code, body = call(t, http.MethodGet, api+"/store/regions", nil, key)
	if code != http.StatusOK || !strings.Contains(body, `"iso_2":"dk"`) {
		t.Errorf("/store/regions: %d %s", code, body)
	}
	code, body = call(t, http.MethodGet, api+"/app", nil, nil)
	if code != http.StatusOK || !strings.Contains(body, "<div id=\"medusa\"") {
		t.Errorf("/app (the admin): %d %.300s", code, body)
	}

	// The storefront: its health follows the API server's, it lists the
	// products, and a browser adds one to the cart.
	front, err := c.Client.CoreV1().Services(ns).Get(ctx, store+"-storefront", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	shop := "http://" + front.Spec.ClusterIP + ":8000"
	if code, body := call(t, http.MethodGet, shop+"/api/storeops-health", nil, nil); code != http.StatusOK {
		t.Errorf("storefront /api/storeops-health: %d %s", code, body)
	}
	code, body = call(t, http.MethodGet, shop+"/", nil, nil)
	if code != http.StatusOK || !strings.Contains(body, `href="/products/t-shirt"`) {
		t.Fatalf("storefront /: %d %s", code, body)
	}
	addToCart(ctx, t, shop)
	logNodeMemory(t, c)

	drainKeepsTheShop(ctx, t, c, binary, file, ns, api, auth.Token)
}

// drainKeepsTheShop is the "never lose a shop" case for real: a product is
// created through the admin API; the node is cordoned and the database pod
// deleted (a drain); storeops plans nothing for the store while it is
// down (no reinstall, no rollback: it was Ready); once the node takes pods
// again, the database comes back on the same volume and the product, the
// credentials and the volume claims are the same.
func drainKeepsTheShop(ctx context.Context, t *testing.T, c *testcluster.Cluster, binary, file, ns, api, token string) {
	admin := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
	product := `{"title":"Survivor","status":"published","options":[{"title":"Size","values":["One"]}],` +
		`"variants":[{"title":"One","options":{"Size":"One"},"prices":[{"currency_code":"eur","amount":10}]}]}`
	if code, body := call(t, http.MethodPost, api+"/admin/products", strings.NewReader(product), admin); code != http.StatusOK {
		t.Fatalf("create a product through the admin API: %d %s", code, body)
	}
	listed := func() bool {
		code, body := call(t, http.MethodGet, api+"/admin/products?q=Survivor", nil, admin)
		return code == http.StatusOK && strings.Contains(body, `"title":"Survivor"`)
	}
	if !listed() {
		t.Fatal("the product just created is not listed")
	}
	before, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "store-credentials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claims := func() map[string]string {
		list, err := c.Client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, p := range list.Items {
			out[p.Name] = string(p.UID)
		}
		return out
	}
	claimsBefore := claims()

	cordon := func(on bool) {
		patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, on)
		if _, err := c.Client.CoreV1().Nodes().Patch(ctx, devcluster.RealNodeName, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cordon(true)
	defer cordon(false)
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=postgres"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("the database pod: %v (%d pods)", err, len(pods.Items))
	}
	db, oldUID := pods.Items[0].Name, pods.Items[0].UID
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, db, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The StatefulSet makes a new pod of the same name, which the cordoned
	// node does not take: the database is down.
	waitPod(ctx, t, c.Client, ns, db, func(p *corev1.Pod) bool { return p.UID != oldUID && !podReady(p) })

	// storeops looks at the store while its database is down: nothing to do.
	env := append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	code, out, err := storeopsbin.Run(ctx, binary, env, "plan", "-f", file)
	if err != nil || code != 0 {
		t.Fatalf("storeops plan during the drain: exit %d (0: no changes), %v\n%s", code, err, out)
	}
	code, out, err = storeopsbin.Run(ctx, binary, env, "sync", "--once", "--wait=false", "-f", file)
	if err != nil || code != 0 {
		t.Fatalf("storeops sync --once during the drain: exit %d, %v\n%s", code, err, out)
	}
	for _, kind := range []string{"install", "reinstall", "rollback", "upgrade", "delete"} {
		if strings.Contains(out, kind+" shop:") {
			t.Fatalf("storeops acted on the drained store (%s):\n%s", kind, out)
		}
	}
	t.Logf("during the drain, storeops sync --once:\n%s", out)

	cordon(false)
	waitPod(ctx, t, c.Client, ns, db, podReady)
	deadline := time.Now().Add(5 * time.Minute)
	for !listed() {
		if time.Now().After(deadline) {
			t.Fatal("the product is gone, or the store did not come back, after the drain")
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(2 * time.Second): // the server reconnects to its database
		}
	}
	after, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "store-credentials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after.Data) != fmt.Sprint(before.Data) || after.UID != before.UID {
		t.Error("the credentials changed across the drain")
	}
	if got := claims(); fmt.Sprint(got) != fmt.Sprint(claimsBefore) {
		t.Errorf("volume claims changed across the drain: %v, were %v", got, claimsBefore)
	}
	t.Log("after the drain, the product, the credentials and the volume claims are the same")
}

// addToCart opens the storefront in headless Chromium, opens the first
// product, adds it to the cart and checks the cart shows it.
func addToCart(ctx context.Context, t *testing.T, shop string) {
	t.Helper()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Log("no chromium (apt-get install chromium; make test installs it): the browser check is left out")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.UserDataDir(t.TempDir()), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelTab()
	began := time.Now()
	if err := chromedp.Do(tab,
		chromedp.Navigate(shop+"/"),
		chromedp.WaitVisible(chromedp.CSS(`li.product a`)),
		chromedp.Click(chromedp.CSS(`li.product a`)),
		chromedp.WaitVisible(chromedp.ID("add-to-cart")),
	); err != nil {
		t.Fatalf("open a product in the storefront: %v", err)
	}
	title, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab,
		chromedp.Click(chromedp.ID("add-to-cart")),
		chromedp.WaitVisible(chromedp.ID("cart-items")),
	); err != nil {
		t.Fatalf("add %q to the cart: %v", title, err)
	}
	items, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("cart-items")))
	if err != nil {
		t.Fatal(err)
	}
	total, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("cart-total")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(items, title) || !strings.Contains(items, "1") {
		t.Errorf("the cart shows %q, want one %q", items, title)
	}
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err == nil {
		if root, err := reporoot.Find(); err == nil {
			dir := filepath.Join(root, "test", "artifacts")
			if os.MkdirAll(dir, 0o755) == nil {
				_ = os.WriteFile(filepath.Join(dir, "medusa-storefront-cart.png"), png, 0o644)
			}
		}
	}
	t.Logf("Chromium added %q to the cart in %s: %q, total %s", title, time.Since(began).Round(100*time.Millisecond), strings.Join(strings.Fields(items), " "), total)
}

// chartImages returns the images of the medusa chart's postgres and redis.
func chartImages(t *testing.T, root string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "charts", "medusa", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]json.RawMessage
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	images := map[string]string{}
	for _, name := range []string{"postgres", "redis"} {
		var c struct {
			Image struct{ Repository, Tag string }
		}
		if err := json.Unmarshal(v[name], &c); err != nil {
			t.Fatal(err)
		}
		images[name] = c.Image.Repository + ":" + c.Image.Tag
	}
	return images
}

// placeOnRealNode makes the API server put every pod of namespace ns on
// the real node (its node selector and toleration), and waits until it
// does.
func placeOnRealNode(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns string) {
	t.Helper()
	probeNS := c.Namespace(t, "placement-probe")
	adm := c.Client.AdmissionregistrationV1()
	fail := admissionv1.Fail
	policy, err := adm.MutatingAdmissionPolicies().Create(ctx, &admissionv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "storeops-test-real-node-"},
		Spec: admissionv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionv1.MatchResources{
				ResourceRules: []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				}}},
			},
			FailurePolicy:      &fail,
			ReinvocationPolicy: admissionv1.NeverReinvocationPolicy,
			// JSON patches: nodeSelector and tolerations are atomic, which
			// an apply configuration may not change.
			Mutations: []admissionv1.Mutation{{
				PatchType: admissionv1.PatchTypeJSONPatch,
				JSONPatch: &admissionv1.JSONPatch{Expression: strings.NewReplacer("LABEL", devcluster.RealNodeLabel, "TAINT", devcluster.RealNodeTaint).Replace(`[
					has(object.spec.nodeSelector) ?
						JSONPatch{op: "add", path: "/spec/nodeSelector/" + jsonpatch.escapeKey("LABEL"), value: "true"} :
						JSONPatch{op: "add", path: "/spec/nodeSelector", value: {"LABEL": "true"}},
					has(object.spec.tolerations) ?
						JSONPatch{op: "add", path: "/spec/tolerations/-", value: Object.spec.tolerations{key: "TAINT", operator: "Equal", value: "true", effect: "NoSchedule"}} :
						JSONPatch{op: "add", path: "/spec/tolerations", value: [Object.spec.tolerations{key: "TAINT", operator: "Equal", value: "true", effect: "NoSchedule"}]}
				]`)},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = adm.MutatingAdmissionPolicies().Delete(context.Background(), policy.Name, metav1.DeleteOptions{})
	})
	if _, err := adm.MutatingAdmissionPolicyBindings().Create(ctx, &admissionv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec: admissionv1.MutatingAdmissionPolicyBindingSpec{
			PolicyName: policy.Name,
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: []string{ns, probeNS},
			}}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = adm.MutatingAdmissionPolicyBindings().Delete(context.Background(), policy.Name, metav1.DeleteOptions{})
	})
	// The policy takes effect once the API server has loaded it: a dry-run
	// pod gets the node selector.
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "storeops.invalid/probe:never-runs"}}},
	}
	for {
		p, err := c.Client.CoreV1().Pods(probeNS).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil && p.Spec.NodeSelector[devcluster.RealNodeLabel] == "true" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the placement policy never took effect: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func call(t *testing.T, method, url string, body io.Reader, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// dumpStore logs the store's pods, their containers' states and the tail
// of their logs.
func dumpStore(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns string) {
	t.Helper()
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("pods of %s: %v", ns, err)
		return
	}
	tail := int64(40)
	for _, p := range pods.Items {
		t.Logf("pod %s on %s: %s %+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.ContainerStatuses)
		for _, ct := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			b, err := c.Client.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: ct.Name, TailLines: &tail}).DoRaw(ctx)
			if err == nil {
				t.Logf("logs of %s/%s:\n%s", p.Name, ct.Name, b)
			}
		}
	}
	events, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, e := range events.Items {
			if e.Type != corev1.EventTypeNormal {
				t.Logf("event %s %s: %s", e.InvolvedObject.Name, e.Reason, e.Message)
			}
		}
	}
}

// logNodeMemory logs the resident memory of the real node's pods (every
// process in its cgroups) and of the node's own programs.
func logNodeMemory(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	rss := func(pid string) int64 {
		b, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			return 0
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				return kb << 10
			}
		}
		return 0
	}
	var pods int64
	_ = filepath.WalkDir("/sys/fs/cgroup/memory/storeops-real", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, pid := range strings.Fields(string(b)) {
			pods += rss(pid)
		}
		return nil
	})
	var node []string
	if b, err := os.ReadFile(filepath.Join(c.StateDir, "pids")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && slices.Contains([]string{"containerd", "kubelet", "kube-proxy", devcluster.ClusterDNS}, f[0]) {
				node = append(node, fmt.Sprintf("%s %d MiB", f[0], rss(f[1])>>20))
			}
		}
	}
	t.Logf("node memory with the store: pods %d MiB resident; %s", pods>>20, strings.Join(node, ", "))
}
