package real

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/storeops/storeops/internal/devcluster"
	"github.com/storeops/storeops/internal/reporoot"
	"github.com/storeops/storeops/internal/storeopsbin"
	"github.com/storeops/storeops/internal/testcluster"
)

// TestWooCommerceWordPress installs a WooCommerce store from stores.yaml
// with the storeops binary (`storeops sync --once --wait=false`: the store
// cannot become Ready here, see below) and runs the chart's WordPress,
// database and setup Job for real on the real node, with the stand-ins of
// standin_wordpress_test.go under the chart's own image names. It checks,
// in this order:
//
//  1. while the database runs and WordPress is not installed (the setup
//     Job's image is held back), the site answers on its Service but its
//     web installer does not: install.php answers 403 (setup-config.php
//     409: WordPress refuses it while wp-config.php
//     exists), a POST of the install form installs nothing;
//  2. with the database stopped, the setup script waits for it (and does
//     not fail) once it starts;
//  3. with the database back, the script installs WordPress from the
//     credentials files (wp-config.php reads the database password, keys
//     and salts from the Secret's files; the admin password from a file on
//     stdin) and the Job's next attempt finds it installed and does not
//     install again;
//  4. the site answers on its Service with the store's title, the admin
//     logs in with the Secret's password, and the installer stays shut.
//
// The setup script stops at its first WooCommerce step: the wp in the
// setup image is a test shim (testdata/wp-test-shim.php) that implements
// only `core is-installed`, `core install` and `core update-db`, because
// WP-CLI and the WooCommerce plugin cannot be downloaded here. So the Job
// fails after the WordPress steps and the store is never Ready; what that
// leaves untested is listed in deploy/devcluster/README.md.
func TestWooCommerceWordPress(t *testing.T) {
	c := testcluster.Get(t)
	if !c.RealNode {
		t.Skip("the cluster has no real node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	root, err := reporoot.Find()
	if err != nil {
		t.Fatal(err)
	}
	images := wooImages(t, root)
	began := time.Now()
	wordpress := buildStandinAs(t, wordpressStandin, images["wordpress"])
	cli := buildStandinAs(t, wordpressCLIStandin(t), images["setup"])
	mariadb := buildStandinAs(t, mariadbStandin, images["mysql"])
	t.Logf("stand-in images built in %s", time.Since(began).Round(100*time.Millisecond))
	// The setup Job's image is held back until the installer has been
	// tried: its pod waits for it (the chart's IfNotPresent finds no
	// registry and backs off).
	imported := time.Now()
	c.ImportImage(t, wordpress)
	c.ImportImage(t, mariadb)
	t.Logf("WordPress and database images imported in %s", time.Since(imported).Round(100*time.Millisecond))

	const store, ns = "wp", "store-wp"
	placeOnRealNode(ctx, t, c, ns)
	binary := os.Getenv("STOREOPS_BINARY")
	if binary == "" {
		var cleanup func()
		if binary, cleanup, err = storeopsbin.Build(); err != nil {
			t.Fatal(err)
		}
		// Registered before the store's deletion, so it runs after it.
		t.Cleanup(cleanup)
	}
	env := append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	dir := t.TempDir()
	file := filepath.Join(dir, "stores.yaml")
	if err := os.WriteFile(file, []byte(`defaults:
  baseDomain: stores.localhost
  storageClass: `+devcluster.RealStorageClass+`
stores:
  - name: `+store+`
    type: woocommerce
    options:
      title: Real WordPress
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		empty := filepath.Join(dir, "empty.yaml")
		_ = os.WriteFile(empty, []byte("stores: []\n"), 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		code, out, err := storeopsbin.Run(ctx, binary, env, "sync", "--once", "-f", empty, "--max-delete-share", "1")
		if code != 0 || err != nil {
			t.Logf("deleting the store: exit %d, %v\n%s", code, err, out)
		}
	})
	synced := time.Now()
	if code, out, err := storeopsbin.Run(ctx, binary, env, "sync", "--once", "--wait=false", "-f", file); err != nil || code != 0 {
		t.Fatalf("storeops sync --once: exit %d, %v\n%s", code, err, out)
	}
	defer func() {
		if t.Failed() {
			dumpStore(context.Background(), t, c, ns)
		}
	}()

	// 1. The database and WordPress run; WordPress is not installed.
	db := waitComponent(ctx, t, c, ns, "mysql", podReady)
	if logs := podLogs(ctx, t, c.Client, ns, db.Name); !strings.Contains(logs, "database initialised") {
		t.Errorf("database logs: %s", logs)
	}
	wp := waitComponent(ctx, t, c, ns, "wordpress", podReady)
	t.Logf("database and WordPress Ready %s after storeops sync started", time.Since(synced).Round(100*time.Millisecond))
	setup := waitComponent(ctx, t, c, ns, "setup", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			strings.Contains(p.Status.ContainerStatuses[0].State.Waiting.Reason, "Image")
	})
	t.Logf("setup pod %s waits for its image: %s", setup.Name, setup.Status.ContainerStatuses[0].State.Waiting.Reason)
	for _, p := range []*corev1.Pod{db, wp, setup} {
		if p.Spec.NodeName != devcluster.RealNodeName {
			t.Errorf("pod %s ran on %s", p.Name, p.Spec.NodeName)
		}
	}
	svc, err := c.Client.CoreV1().Services(ns).Get(ctx, store+"-wordpress", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	site := "http://" + svc.Spec.ClusterIP
	notInstalled := func(when string) {
		t.Helper()
		code, h, _ := fetch(t, http.MethodGet, site+"/", nil, nil)
		if code != http.StatusFound || !strings.HasSuffix(h.Get("Location"), "/wp-admin/install.php") {
			t.Fatalf("%s: GET / answered %d to %q, want WordPress's redirect to its installer (not installed)", when, code, h.Get("Location"))
		}
	}
	notInstalled("before the setup")
	installerShut := func(when string) {
		t.Helper()
		for _, path := range []string{"/wp-admin/install.php", "/wp-admin/install.php?step=1"} {
			if code, _, body := fetch(t, http.MethodGet, site+path, nil, nil); code != http.StatusForbidden || !strings.Contains(body, "installed by storeops") {
				t.Errorf("%s: GET %s: %d %.200q, want 403", when, path, code, body)
			}
		}
		// setup-config.php never loads wp-config.php, so the chart's guard
		// does not run there: WordPress itself refuses to write a
		// configuration while wp-config.php exists (409).
		if code, _, body := fetch(t, http.MethodGet, site+"/wp-admin/setup-config.php", nil, nil); code != http.StatusConflict || !strings.Contains(body, "already exists") {
			t.Errorf("%s: GET /wp-admin/setup-config.php: %d %.300q, want 409 (wp-config.php already exists)", when, code, body)
		}
		form := url.Values{"weblog_title": {"Claimed"}, "user_name": {"intruder"}, "admin_password": {"Intruder-0123456789"},
			"admin_password2": {"Intruder-0123456789"}, "admin_email": {"intruder@example.com"}, "blog_public": {"1"}}
		if code, _, body := fetch(t, http.MethodPost, site+"/wp-admin/install.php?step=2", form, nil); code != http.StatusForbidden {
			t.Errorf("%s: POST install.php?step=2: %d %.200q, want 403", when, code, body)
		}
	}
	installerShut("before the setup")
	notInstalled("after trying the installer")
	t.Log("before the setup: the site answers (redirecting to its installer), the installer answers 403 and setup-config.php 409; a POST of the install form installed nothing")

	// 2. The database stops; the setup starts and waits for it.
	scaleDB(ctx, t, c, ns, store, 0)
	waitGone(ctx, t, c.Client, ns, db.Name)
	c.ImportImage(t, cli)
	waitLog(ctx, t, c, ns, setup.Name, "setup: waiting for the database at "+store+"-mysql")
	if p, err := c.Client.CoreV1().Pods(ns).Get(ctx, setup.Name, metav1.GetOptions{}); err != nil || p.Status.ContainerStatuses[0].State.Running == nil {
		t.Fatalf("the setup should be running, waiting for the database: %v %+v", err, p.Status.ContainerStatuses)
	}
	t.Log("the setup runs and waits for the stopped database")

	// 3. The database is back: the setup installs WordPress, then stops at
	// its first WooCommerce step (the shim); the Job's next attempt finds
	// WordPress installed.
	restarted := time.Now()
	scaleDB(ctx, t, c, ns, store, 1)
	waitLog(ctx, t, c, ns, setup.Name, "setup: WordPress installed")
	t.Logf("WordPress installed %s after the database was started again", time.Since(restarted).Round(100*time.Millisecond))
	code, _, body := fetch(t, http.MethodGet, site+"/", nil, nil)
	if code != http.StatusOK || !strings.Contains(body, "Real WordPress") {
		t.Fatalf("GET / once installed: %d %.300q", code, body)
	}
	t.Logf("the site answers 200 with its title %s after storeops sync started (%s after the database was started again)",
		time.Since(synced).Round(100*time.Millisecond), time.Since(restarted).Round(100*time.Millisecond))
	first := finishedLogs(ctx, t, c, ns, setup.Name)
	if !strings.Contains(first, "Success: WordPress installed successfully.") || !strings.Contains(first, "'plugin install woocommerce") ||
		strings.Contains(first, "PHP Warning") {
		t.Errorf("first setup run:\n%s", first)
	}
	t.Logf("first setup run:\n%s", first)
	again := waitJobPod(ctx, t, c, ns, setup.Name)
	second := finishedLogs(ctx, t, c, ns, again)
	if !strings.Contains(second, "setup: WordPress is installed") || strings.Contains(second, "setup: WordPress installed") ||
		!strings.Contains(second, "already at latest db version") {
		t.Errorf("second setup run (%s) installed again or did not check:\n%s", again, second)
	}
	t.Logf("second setup run (%s):\n%s", again, second)

	// 4. The site answers on its Service, as installed by the setup.
	installerShut("after the setup")
	secret, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "store-credentials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	login := func(password string) (int, *http.Header) {
		form := url.Values{"log": {"admin"}, "pwd": {password}, "wp-submit": {"Log In"}, "testcookie": {"1"}}
		code, h, _ := fetch(t, http.MethodPost, site+"/wp-login.php", form, map[string]string{"Cookie": "wordpress_test_cookie=WP%20Cookie%20check"})
		return code, &h
	}
	if code, h := login(string(secret.Data["admin-password"])); code != http.StatusFound || !strings.Contains(strings.Join(h.Values("Set-Cookie"), "\n"), "wordpress_logged_in_") {
		t.Errorf("admin login with the Secret's password: %d %v", code, h.Values("Set-Cookie"))
	}
	if code, h := login("wrong-password"); code == http.StatusFound || strings.Contains(strings.Join(h.Values("Set-Cookie"), "\n"), "wordpress_logged_in_") {
		t.Errorf("admin login with a wrong password: %d %v", code, h.Values("Set-Cookie"))
	}
	t.Log("the admin logs in with the Secret's password; a wrong one is refused")
	logNodeMemory(t, c)
}

// wooImages returns the images of the woocommerce chart's wordpress,
// mysql and setup containers.
func wooImages(t *testing.T, root string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "charts", "woocommerce", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]json.RawMessage
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	images := map[string]string{}
	for _, name := range []string{"wordpress", "mysql", "setup"} {
		var c struct {
			Image struct{ Repository, Tag string }
		}
		if err := json.Unmarshal(v[name], &c); err != nil || c.Image.Repository == "" {
			t.Fatalf("values.yaml has no %s.image: %v", name, err)
		}
		images[name] = c.Image.Repository + ":" + c.Image.Tag
	}
	return images
}

// waitComponent waits for a pod of the chart's component in ns that cond
// accepts, and returns it.
func waitComponent(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns, component string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	for {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=" + component})
		if err == nil {
			for i := range pods.Items {
				if p := &pods.Items[i]; p.DeletionTimestamp == nil && cond(p) {
					return p
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no %s pod in %s: %v", component, ns, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// waitLog waits until the logs of pod contain s and returns them.
func waitLog(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns, pod, s string) string {
	t.Helper()
	for {
		b, err := c.Client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err == nil && strings.Contains(string(b), s) {
			return string(b)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("logs of %s never had %q: %v\n%s", pod, s, ctx.Err(), b)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// finishedLogs waits until the first container of pod has ended and
// returns its logs.
func finishedLogs(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns, pod string) string {
	t.Helper()
	waitPod(ctx, t, c.Client, ns, pod, func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Terminated != nil
	})
	return podLogs(ctx, t, c.Client, ns, pod)
}

// waitJobPod waits for another pod of the Job that made pod (its next
// attempt) and returns its name.
func waitJobPod(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns, pod string) string {
	t.Helper()
	p, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job := p.Labels["job-name"]
	for {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
		if err == nil {
			for _, q := range pods.Items {
				if q.Name != pod && len(q.Status.ContainerStatuses) > 0 && q.Status.ContainerStatuses[0].State.Waiting == nil {
					return q.Name
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no second attempt of Job %s: %v", job, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// scaleDB sets the replicas of the store's database StatefulSet.
func scaleDB(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns, store string, n int32) {
	t.Helper()
	sts := c.Client.AppsV1().StatefulSets(ns)
	s, err := sts.GetScale(ctx, store+"-mysql", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Spec.Replicas = n
	if _, err := sts.UpdateScale(ctx, store+"-mysql", s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// fetch makes a request without following redirects and returns the
// status, headers and body. A Service whose pod has just become Ready may
// not be in kube-proxy's rules yet (its address then refuses
// connections): a request that gets no answer is made again, for up to a
// minute.
func fetch(t *testing.T, method, u string, form url.Values, header map[string]string) (int, http.Header, string) {
	t.Helper()
	hc := &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, u, body)
		if err != nil {
			t.Fatal(err)
		}
		// The store's host: WordPress redirects any other to it.
		req.Host = "wp.stores.localhost"
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("%s %s: %v", method, u, err)
			}
			time.Sleep(300 * time.Millisecond) // polling for kube-proxy's rules
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header, fmt.Sprint(string(b))
	}
}
