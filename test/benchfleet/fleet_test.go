package benchfleet_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// sizes are the fleet sizes measured; BENCH_FLEET_N overrides them
// ("100,300,1000").
func sizes(b *testing.B) []int {
	spec := os.Getenv("BENCH_FLEET_N")
	if spec == "" {
		spec = "100"
	}
	var out []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("BENCH_FLEET_N=%q: %v", spec, err)
		}
		out = append(out, n)
	}
	return out
}

const workers = 8

// helmCLI is the time the helm CLI loop took, by its number of stores: the
// serve row of the same size reports how many times faster it was.
var helmCLI = map[int]time.Duration{}

// fleet is the stores.yaml of n new stores, half of each type, on the
// small plan.
func fleet(prefix string, n int) (string, []string) {
	var y strings.Builder
	y.WriteString("stores:\n")
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", prefix, i)
		typ := "woocommerce"
		if i%2 == 1 {
			typ = "medusa"
		}
		fmt.Fprintf(&y, "  - {name: %s, type: %s}\n", names[i], typ)
	}
	return y.String(), names
}

// BenchmarkFleet measures, for each size N, on one cluster, one phase a
// row:
//
//   - serve: storeops serve (the daemon, its work queue) with a Git server:
//     from the webhook of the commit declaring N new stores to every one
//     Ready; API requests through a counting proxy, CPU and peak RSS of
//     the process from /proc;
//   - webhook: while those N install, pushes adding one store each
//     (BENCH_FLEET_PROBES, 50), one a second: from the webhook POST to the
//     store's first planned action in the daemon's log;
//   - noop: a webhook for the unchanged revision once all are Ready, through
//     the daemon (its sync record, requests through the proxy, Git
//     requests), and a converged sync in-process (wall time, requests of
//     its applier);
//   - status: the status API under 200 concurrent clients for 10 s;
//   - once: storeops sync --once for N other new stores (BENCH_FLEET_ONCE=0
//     leaves it out);
//   - reference: a plain client-go program creating the objects of N other
//     stores, and the ratios. BENCH_FLEET_REFERENCE=0 leaves out once and
//     reference, and does not wait for the deleted stores to go: for a run
//     of one size.
//
// With BENCH_FLEET_HELM naming a helm binary, a first row installs
// BENCH_FLEET_HELM_N (20) stores with a sequential `helm upgrade --install
// --wait` loop.
//
// At the largest N it writes CPU profiles of the daemon (install, status
// load) and a heap profile to BENCH_FLEET_PROFILE_DIR when set.
//
// First, on a second cluster with the realistic lifecycle profile at time
// scale BENCH_FLEET_TIME_SCALE (0.5) and without its random failures,
// rows of BENCH_FLEET_REALISTIC_N (100; 0 leaves them out) new stores:
// one store alone, storeops serve, the reference (benchRealistic).
func BenchmarkFleet(b *testing.B) {
	c := testcluster.Get(b)
	all := sizes(b)
	if n := envInt("BENCH_FLEET_REALISTIC_N", 100); n > 0 {
		scale := envFloat("BENCH_FLEET_TIME_SCALE", defaultTimeScale)
		b.Run(fmt.Sprintf("profile=realistic,time-scale=%g,failures=0", scale), func(b *testing.B) {
			benchRealistic(b, n, scale)
		})
	}
	profile := fmt.Sprintf("profile=%s", orExternal(string(c.Profile)))
	b.Run(profile, func(b *testing.B) {
		if helm := os.Getenv("BENCH_FLEET_HELM"); helm != "" {
			n := envInt("BENCH_FLEET_HELM_N", 20)
			b.Run(fmt.Sprintf("stores=%d/helm-cli", n), func(b *testing.B) {
				load := loadAverage()
				took := benchHelmCLI(b, c, helm, n)
				helmCLI[n] = took
				b.ReportMetric(load, "load1")
				b.ReportMetric(took.Seconds(), "s-ready")
				b.ReportMetric(took.Seconds()/float64(n), "s/store")
			})
		}
		for _, n := range all {
			b.Run(fmt.Sprintf("stores=%d", n), func(b *testing.B) {
				dir := ""
				if n == all[len(all)-1] {
					dir = os.Getenv("BENCH_FLEET_PROFILE_DIR")
				}
				benchSize(b, c, n, dir)
			})
		}
	})
}

func orExternal(p string) string {
	if p == "" {
		return "external"
	}
	return p
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

func benchSize(b *testing.B, c *testcluster.Cluster, n int, profileDir string) {
	var (
		sv    serveRun
		names []string
	)
	inst := fmt.Sprintf("bench-serve-%d", n)
	load := loadAverage()
	s := startServe(b, c, n, inst) // lives until the size's last row
	b.Run("serve", func(b *testing.B) {
		s.b = b
		sv, names = runServe(b, s, fmt.Sprintf("sv%d", n), n, 0, profileDir, time.Hour)
		b.ReportMetric(load, "load1")
		b.ReportMetric(sv.ready.Seconds(), "s-ready")
		b.ReportMetric(sv.firstActions.Seconds(), "s-all-acted")
		b.ReportMetric(sv.applied.Seconds(), "s-all-applied")
		b.ReportMetric(sv.marked.Seconds(), "s-all-ready-logged")
		b.ReportMetric(float64(sv.api.total), "api-requests")
		b.ReportMetric(float64(sv.api.mutating), "api-mutating")
		b.ReportMetric(sv.cpu.Seconds(), "s-cpu")
		b.ReportMetric(float64(sv.hwmKiB)/1024, "MiB-peak-rss")
		if h, ok := helmCLI[n]; ok {
			b.ReportMetric(h.Seconds()/sv.ready.Seconds(), "x-faster-than-helm-cli")
		}
	})
	if b.Failed() {
		return
	}
	// Pushes while a fleet installs: another min(N, 300) new stores, and
	// meanwhile a push adding one store a second. Apart from the serve row,
	// whose fleet would otherwise share the cluster with the pushes'
	// stores, which the reference does not.
	if probes := envInt("BENCH_FLEET_PROBES", 50); probes > 0 {
		b.Run("webhook", func(b *testing.B) {
			s.b = b
			m := min(n, 300)
			load := loadAverage()
			sum0, count0 := s.histogram("storeops_git_fetch_duration_seconds")
			wr, more := runServe(b, s, fmt.Sprintf("wf%d", n), m, probes, "", time.Hour)
			names = append(names, more...)
			if sum, count := s.histogram("storeops_git_fetch_duration_seconds"); count > count0 {
				b.ReportMetric((sum-sum0)/(count-count0)*1000, "ms-mean-git-fetch")
			}
			b.ReportMetric(load, "load1")
			b.ReportMetric(float64(m), "stores-installing")
			b.ReportMetric(float64(len(wr.probes)), "pushes")
			b.ReportMetric(ms(percentile(wr.probes, 50)), "ms-p50-first-action")
			b.ReportMetric(ms(percentile(wr.probes, 95)), "ms-p95-first-action")
			b.ReportMetric(ms(wr.probes[len(wr.probes)-1]), "ms-max-first-action")
			b.ReportMetric(ms(percentile(wr.probesFetched, 50)), "ms-p50-fetched")
			b.ReportMetric(ms(percentile(wr.probesAccepted, 50)), "ms-p50-accepted")
		})
		if b.Failed() {
			return
		}
	}
	b.Run("noop", func(b *testing.B) {
		s.b = b
		b.ReportMetric(loadAverage(), "load1")
		wall, rec, api, git := serveNoop(b, s)
		b.ReportMetric(float64(len(names)), "stores")
		b.ReportMetric(ms(wall), "ms-webhook-to-record")
		b.ReportMetric(ms(rec), "ms-record")
		// A watch that ends (the API server closes each after 5 to 10
		// minutes) is started again by its informer whatever storeops
		// does: with one Secret informer per store namespace, about two
		// a second at 1000 stores. They are counted apart.
		b.ReportMetric(float64(api.total-api.watches), "api-requests")
		b.ReportMetric(float64(api.watches), "api-watch-restarts")
		b.ReportMetric(float64(api.mutating), "api-mutating")
		b.ReportMetric(float64(git), "git-requests")
		file := "stores:\n" + strings.Join(s.stores, "")
		noop, requests := benchConverged(b, c, file, inst)
		b.ReportMetric(ms(noop), "ms-in-process")
		b.ReportMetric(float64(requests), "in-process-requests")
	})
	b.Run("status", func(b *testing.B) {
		s.b = b
		b.ReportMetric(loadAverage(), "load1")
		wait := func() {}
		if profileDir != "" {
			wait = s.profile(profileDir, fmt.Sprintf("serve-%d-status.cpu.pprof", n), 10)
		}
		r := statusLoad(s.addr, names, 200, 10*time.Second, false)
		wait()
		r.report(b)
		// The floor of this machine, in the same run: the same clients
		// against a server answering every request with "{}".
		floor := statusLoad(staticServer(b), names, 200, 10*time.Second, false)
		b.ReportMetric(floor.rps, "floor-req/s")
		b.ReportMetric(ms(floor.p99), "floor-ms-p99")
	})
	b.Run("status-revalidating", func(b *testing.B) {
		s.b = b
		b.ReportMetric(loadAverage(), "load1")
		r := statusLoad(s.addr, names, 200, 10*time.Second, true)
		r.report(b)
		b.ReportMetric(float64(r.notModified), "lists-not-modified")
	})
	s.heapProfile(profileDir, fmt.Sprintf("serve-%d.heap.pprof", n))
	if p := readProc(s.cmd.Process.Pid); p.hwmKiB > 0 {
		b.Logf("storeops serve N=%d: peak RSS over the whole run %.0f MiB, CPU %.1f s; mutating requests: %s",
			n, float64(p.hwmKiB)/1024, p.cpu.Seconds(), s.api.verbs())
	}
	s.stop()
	deleteStores(b, c.Client, names)
	if envInt("BENCH_FLEET_REFERENCE", 1) == 0 {
		return // BENCH_FLEET_REFERENCE=0: a run of one size; see BenchmarkFleet
	}
	waitGone(b, c, names, goneLimit(len(names)))

	if envInt("BENCH_FLEET_ONCE", 1) != 0 {
		b.Run("once", func(b *testing.B) {
			load := loadAverage()
			once, _, onceNames := benchStoreops(b, c, n, 0)
			deleteStores(b, c.Client, onceNames)
			b.ReportMetric(load, "load1")
			b.ReportMetric(once.wall.Seconds(), "s-ready")
			b.ReportMetric(once.cpu.Seconds(), "s-cpu")
			b.ReportMetric(float64(once.rssKiB)/1024, "MiB-peak-rss")
			waitGone(b, c, onceNames, goneLimit(len(onceNames)))
		})
	}
	b.Run("reference", func(b *testing.B) {
		load := loadAverage()
		reference := benchReference(b, c, n, 0)
		b.ReportMetric(load, "load1")
		b.ReportMetric(reference.Seconds(), "s-ready")
		b.ReportMetric(sv.ready.Seconds()/reference.Seconds(), "ratio-serve")
	})
}

type run struct {
	wall   time.Duration
	cpu    time.Duration
	rssKiB int64
}

// benchStoreops runs the binary the way an operator would.
func benchStoreops(b *testing.B, c *testcluster.Cluster, n, round int) (run, string, []string) {
	file, names := fleet(fmt.Sprintf("bf%d-%d", n, round), n)
	path := filepath.Join(b.TempDir(), "stores.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(binary, "sync", "--once", "--wait", "-f", path, "--kubeconfig", c.Kubeconfig,
		"--workers", strconv.Itoa(workers), "--timeout", "60m", "--max-stores", strconv.Itoa(n+100),
		"--instance", fmt.Sprintf("bench-once-%d", n), "--leader-election-name", fmt.Sprintf("bench-once-%d", n))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("storeops sync: %v\n%s", err, tail(out.String()))
	}
	r := run{wall: time.Since(start)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rssKiB = ru.Maxrss
		r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return r, file, names
}

func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}

// benchReference creates the objects of n stores (namespace, quota, limit
// range, policy, credentials, and the charts' manifests rendered with the
// same values) with the same parallelism, then waits until every
// Deployment, StatefulSet and Job is ready.
func benchReference(b *testing.B, c *testcluster.Cluster, n, round int) time.Duration {
	ready, created := benchReferenceTimes(b, c, n, round)
	b.ReportMetric(created.Seconds(), "s-all-created")
	return ready
}

// benchReferenceTimes is benchReference's: the time to every store Ready,
// and to the last object created.
func benchReferenceTimes(b *testing.B, c *testcluster.Cluster, n, round int) (ready, created time.Duration) {
	file, names := fleet(fmt.Sprintf("rf%d-%d", n, round), n)
	cfg, err := render.Parse("stores.yaml", []byte(file), render.Limits{MaxStores: 100000})
	if err != nil {
		b.Fatal(err)
	}
	desired := render.Render(cfg)
	// Rendering is not what is measured: do it first.
	objects := make([][]*unstructured.Unstructured, len(desired))
	for i := range desired {
		objects[i] = renderStore(b, &desired[i])
	}
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		b.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	cfg2 := *c.Config
	cfg2.QPS, cfg2.Burst = 50, 100 // what storeops' client uses
	dyn, err := dynamic.NewForConfig(&cfg2)
	if err != nil {
		b.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(&cfg2)
	if err != nil {
		b.Fatal(err)
	}
	// The next row starts on a cluster that has finished deleting these:
	// deleting 1000 stores keeps it busy for minutes.
	b.Cleanup(func() { deleteStores(b, c.Client, names); waitGone(b, c, names, goneLimit(len(names))) })

	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, len(desired))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := createStore(client, dyn, mapper, &desired[i], objects[i]); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range desired {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	created = time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for _, d := range desired {
		if err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			return namespaceReady(ctx, c.Client, d.Namespace.Name)
		}); err != nil {
			b.Fatalf("reference store %s not Ready: %v", d.Store.Name, err)
		}
	}
	return time.Since(start), created
}

func renderStore(b *testing.B, d *render.Desired) []*unstructured.Unstructured {
	rel, err := reconcile.RenderRelease(reconcile.EmbeddedCharts{}, d)
	if err != nil {
		b.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(rel.Manifest, "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil || m == nil || m["kind"] == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetNamespace(d.Namespace.Name)
		out = append(out, u)
	}
	return out
}

func createStore(client kubernetes.Interface, dyn dynamic.Interface, mapper meta.RESTMapper, d *render.Desired, objs []*unstructured.Unstructured) error {
	ctx := context.Background()
	ns := d.Namespace.Name
	if err := retry(func() error {
		_, err := client.CoreV1().Namespaces().Create(ctx, d.Namespace, metav1.CreateOptions{})
		return err
	}); err != nil {
		return err
	}
	if err := retry(func() error {
		_, err := client.CoreV1().ResourceQuotas(ns).Create(ctx, d.Quota, metav1.CreateOptions{})
		return err
	}); err != nil {
		return err
	}
	if err := retry(func() error {
		_, err := client.CoreV1().LimitRanges(ns).Create(ctx, d.LimitRange, metav1.CreateOptions{})
		return err
	}); err != nil {
		return err
	}
	if err := retry(func() error {
		_, err := client.NetworkingV1().NetworkPolicies(ns).Create(ctx, d.NetworkPolicy, metav1.CreateOptions{})
		return err
	}); err != nil {
		return err
	}
	creds, err := reconcile.EmbeddedCharts{}.NewCredentials(d.Store.Type)
	if err != nil {
		return err
	}
	if err := retry(func() error {
		_, err := client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: render.CredentialsSecret}, Data: creds}, metav1.CreateOptions{})
		return err
	}); err != nil {
		return err
	}
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return err
		}
		if err := retry(func() error {
			_, err := dyn.Resource(m.Resource).Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
			return err
		}); err != nil {
			return fmt.Errorf("%s %s/%s: %w", gvk.Kind, ns, u.GetName(), err)
		}
	}
	return nil
}

// retry runs create again, a few times, when the API server timed out or
// asked to slow down, as a client program would; a create that timed out
// but was done answers AlreadyExists the next time, which is success.
func retry(create func() error) error {
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		err = create()
		switch {
		case err == nil:
			return nil
		case attempt > 1 && apierrors.IsAlreadyExists(err):
			return nil
		case apierrors.IsTimeout(err), apierrors.IsServerTimeout(err), apierrors.IsTooManyRequests(err):
			time.Sleep(time.Duration(attempt) * time.Second)
		default:
			return err
		}
	}
	return err
}

// namespaceReady reports whether every Deployment, StatefulSet and Job of
// ns is ready, with reconcile's own health rules.
func namespaceReady(ctx context.Context, client kubernetes.Interface, ns string) (bool, error) {
	deps, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, nil
	}
	sts, err := client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, nil
	}
	jobs, err := client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, nil
	}
	if len(deps.Items)+len(sts.Items) == 0 {
		return false, nil
	}
	for i := range deps.Items {
		if !reconcile.DeploymentHealth(&deps.Items[i]).Ready {
			return false, nil
		}
	}
	for i := range sts.Items {
		if !reconcile.StatefulSetHealth(&sts.Items[i]).Ready {
			return false, nil
		}
	}
	for i := range jobs.Items {
		if !reconcile.JobHealth(&jobs.Items[i]).Ready {
			return false, nil
		}
	}
	return true, nil
}

// benchConverged syncs the converged fleet of file once in-process, as
// a running daemon would on a schedule tick, and counts the requests of
// the applier's client (the informers have their own).
func benchConverged(b *testing.B, c *testcluster.Cluster, file, instance string) (time.Duration, int64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, err := render.Parse("stores.yaml", []byte(file), render.Limits{MaxStores: 100000})
	if err != nil {
		b.Fatal(err)
	}
	inst, err := reconcile.LoadInstanceKey(ctx, c.Client, "default", instance)
	if err != nil {
		b.Fatal(err)
	}
	obs := reconcile.NewObserver(c.Client, inst, nil)
	if !obs.Start(ctx.Done()) {
		b.Fatal("informers did not sync")
	}
	counted := rest.CopyConfig(c.Config)
	var requests atomic.Int64
	counted.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) { requests.Add(1); return rt.RoundTrip(r) })
	})
	client, err := kubernetes.NewForConfig(counted)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	applier, err := reconcile.NewClusterApplier(counted, client, reconcile.EmbeddedCharts{}, log)
	if err != nil {
		b.Fatal(err)
	}
	applier.Instance = inst
	rec := reconcile.New(obs, applier, reconcile.NewBoard(), log)
	rec.Instance = inst.Name
	if rec.ChartVersions, err = (reconcile.EmbeddedCharts{}).ChartVersions(); err != nil {
		b.Fatal(err)
	}
	requests.Store(0)
	start := time.Now()
	out, err := rec.Sync(ctx, reconcile.SyncInput{Config: cfg, Revision: "bench", Trigger: "bench"})
	took := time.Since(start)
	if err != nil || len(out.Actions) != 0 {
		b.Fatalf("converged sync: %v, %d actions: %+v", err, len(out.Actions), out.Actions)
	}
	return took, requests.Load()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func deleteStores(b *testing.B, client kubernetes.Interface, names []string) {
	for _, n := range names {
		err := client.CoreV1().Namespaces().Delete(context.Background(), render.NamespacePrefix+n, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			b.Logf("delete %s: %v", n, err)
		}
	}
}

// waitGone waits, at most limit, until the namespaces of names are gone,
// so that the next row does not share the API server with their deletion.
// goneLimit is how long waitGone waits for n stores to be deleted: 1,050
// stores were not gone after 5 minutes in earlier runs.
func goneLimit(n int) time.Duration { return 5*time.Minute + time.Duration(n)*time.Second }

func waitGone(b *testing.B, c *testcluster.Cluster, names []string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for _, n := range names {
		for {
			_, err := c.Client.CoreV1().Namespaces().Get(context.Background(), render.NamespacePrefix+n, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				b.Logf("namespaces still being deleted after %s", limit)
				return
			}
			time.Sleep(time.Second)
		}
	}
}
