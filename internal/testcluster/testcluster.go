// Package testcluster gives tests a real Kubernetes API server: the local
// control plane of package devcluster, started once per test binary from
// TestMain, or the cluster named by $KUBECONFIG.
//
//	func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		c := testcluster.Get(t)
//		ns := c.Namespace(t, "something")
//		...
//	}
//
// Only packages whose TestMain calls Main pay for the cluster. Under
// `go test -short` Main starts nothing and Get skips the test.
//
// The cluster's lifecycle profile (see devcluster.Profile) is chosen for the
// whole binary in TestMain, or per Get; clusters that Get asks for are
// started on first use, shared by the tests that ask for the same options,
// and stopped when Main returns:
//
//	func TestMain(m *testing.M) {
//		os.Exit(testcluster.MainWith(testcluster.WithProfile(devcluster.Realistic), testcluster.WithTimeScale(0.1))(m))
//	}
//
//	c := testcluster.Get(t, testcluster.WithProfile(devcluster.Bench), testcluster.WithNodes(3))
package testcluster

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/storeops/storeops/internal/clusterfault"
	"github.com/storeops/storeops/internal/devcluster"
	"github.com/storeops/storeops/internal/reporoot"
)

// Cluster is the cluster the tests of one binary share.
type Cluster struct {
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig string
	// Config is the admin client configuration; copy it before changing it.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// Profile is the cluster's lifecycle profile; empty for a cluster named
	// by $KUBECONFIG.
	Profile devcluster.Profile
	// TimeScale is the time scale of the Realistic profile (1 is real time).
	TimeScale float64
	// Nodes are the names of the fake nodes; nil for a cluster named by
	// $KUBECONFIG.
	Nodes []string
	// RealNode says whether the cluster has a real node
	// (devcluster.RealNodeName, see WithRealNode).
	RealNode bool
	// StateDir holds the local control plane's data and logs
	// (StateDir/logs/<component>.log); empty for a cluster named by
	// $KUBECONFIG.
	StateDir string

	dc *devcluster.Cluster // nil for a cluster named by $KUBECONFIG
}

// Restart restarts one process of the local control plane ("etcd",
// "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
// SIGTERM, SIGKILL after grace (0: at once), started again with the same
// arguments; it returns once the API server is ready again. It skips the
// test on a cluster named by $KUBECONFIG.
func (c *Cluster) Restart(t testing.TB, component string, grace time.Duration) {
	t.Helper()
	if c.dc == nil {
		t.Skip("restarting a component needs the local control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.dc.Restart(ctx, component, grace); err != nil {
		t.Fatalf("restart %s: %v", component, err)
	}
}

// Pause stops one process of the local control plane (as Restart does)
// until Resume; Pause(t, "kube-apiserver") makes the cluster unreachable.
// It skips the test on a cluster named by $KUBECONFIG.
func (c *Cluster) Pause(t testing.TB, component string) {
	t.Helper()
	if c.dc == nil {
		t.Skip("stopping a component needs the local control plane")
	}
	if err := c.dc.Pause(component, 0); err != nil {
		t.Fatalf("stop %s: %v", component, err)
	}
}

// Resume starts a process stopped by Pause again and returns once the API
// server is ready.
func (c *Cluster) Resume(t testing.TB, component string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.dc.Resume(ctx, component); err != nil {
		t.Fatalf("start %s again: %v", component, err)
	}
}

// Faults returns an injector of faults into this cluster: drain a node,
// delete a pod, make a pod unready, fail the next Job run (package
// clusterfault; the last two need the local control plane's kwok stages).
func (c *Cluster) Faults() *clusterfault.Injector { return clusterfault.New(c.Client) }

// Scale returns d at the cluster's time scale: how long something that
// takes d on a real cluster takes on this one under the Realistic profile.
func (c *Cluster) Scale(d time.Duration) time.Duration { return devcluster.Scale(d, c.TimeScale) }

// Option chooses the kind of local control plane a test binary or a test
// gets (see MainWith and Get).
type Option func(*devcluster.Options)

// WithProfile selects the lifecycle profile (devcluster.Instant when not given).
func WithProfile(p devcluster.Profile) Option {
	return func(o *devcluster.Options) { o.Profile = p }
}

// WithTimeScale multiplies every delay of the Realistic profile: 0.1 runs
// it ten times faster than a real cluster.
func WithTimeScale(scale float64) Option {
	return func(o *devcluster.Options) { o.TimeScale = scale }
}

// WithoutFailures leaves out the random failures of the Realistic profile
// (pull errors, crashes, restart spells, failed Job runs); the faults that
// tests inject (package clusterfault) still work.
func WithoutFailures() Option {
	return func(o *devcluster.Options) { o.NoFailures = true }
}

// WithFailurePercent sets the share, in percent, of image pulls, container
// starts, Ready pods and Job runs that fail under the Realistic profile.
func WithFailurePercent(percent int) Option {
	return func(o *devcluster.Options) { o.FailurePercent = percent }
}

// WithNodes sets the number of fake nodes.
func WithNodes(n int) Option {
	return func(o *devcluster.Options) { o.Nodes = n }
}

// WithKubeAPIQPS sets the client rate limit of the controller manager and
// the scheduler.
func WithKubeAPIQPS(qps int) Option {
	return func(o *devcluster.Options) { o.KubeAPIQPS = qps }
}

// WithRealNode adds a real node (devcluster.RealNodeName: a kubelet with
// containerd and runc, kube-proxy, hostPath volumes of
// devcluster.RealStorageClass) beside the fake ones. Only pods that
// tolerate devcluster.RealNodeTaint and select devcluster.RealNodeLabel
// run there. It needs root and Debian's containerd, runc,
// containernetworking-plugins and iptables (devcluster.CheckRealNodeHost);
// the first start builds the kubelet (a few minutes).
func WithRealNode() Option {
	return func(o *devcluster.Options) { o.RealNode = true }
}

// ImportImage imports an OCI image archive (devcluster.WriteOCIArchive)
// into the real node's containerd; pods run it with imagePullPolicy
// Never. It skips the test when the cluster has no real node of its own.
func (c *Cluster) ImportImage(t testing.TB, archive string) {
	t.Helper()
	if c.dc == nil || !c.RealNode {
		t.Skip("importing an image needs a local control plane with a real node (testcluster.WithRealNode)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.dc.ImportImage(ctx, archive); err != nil {
		t.Fatalf("import %s: %v", archive, err)
	}
}

// started is a local control plane started for a set of options.
type started struct {
	cluster *Cluster
	dc      *devcluster.Cluster
	err     error
}

var (
	mu          sync.Mutex
	current     *Cluster
	mainRan     bool
	skipMsg     string
	external    bool                // current comes from $KUBECONFIG
	defaultOpts []Option            // the options of MainWith
	others      map[string]*started // clusters started by Get with options, by key
	startMu     sync.Mutex          // serialises starts of other clusters
)

// Main is called from TestMain: it starts the local control plane (or reuses
// the cluster named by $KUBECONFIG), runs m, stops what it started, and returns the exit code.
func Main(m *testing.M) int { return MainWith()(m) }

// MainWith returns a Main whose cluster has the given options, e.g.
//
//	os.Exit(testcluster.MainWith(testcluster.WithProfile(devcluster.Realistic))(m))
//	os.Exit(storeopsbin.Main(m, &binary, testcluster.MainWith(testcluster.WithProfile(devcluster.Bench))))
//
// With $KUBECONFIG set the options are ignored: the tests run on that cluster.
func MainWith(opts ...Option) func(*testing.M) int {
	return func(m *testing.M) int { return run(m, opts) }
}

func run(m *testing.M, opts []Option) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	mu.Lock()
	mainRan = true
	defaultOpts = opts
	mu.Unlock()
	if testing.Short() {
		skipMsg = "needs a Kubernetes cluster; skipped under -short"
		return m.Run()
	}
	if os.Getenv("KUBECONFIG") != "" {
		c, err := fromKubeconfig()
		if err != nil {
			fmt.Fprintf(os.Stderr, "testcluster: KUBECONFIG=%s: %v\n", os.Getenv("KUBECONFIG"), err)
			return 1
		}
		current, external = c, true
		return m.Run()
	}
	c, dc, err := start(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
		return 1
	}
	current = c
	// Stop on Ctrl-C or SIGTERM too; a crash or a test timeout kills the
	// processes through Pdeathsig instead.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s, ok := <-sig
		if !ok {
			return
		}
		_ = dc.Stop()
		stopOthers()
		fmt.Fprintf(os.Stderr, "testcluster: stopped the cluster on %v\n", s)
		os.Exit(1)
	}()
	code := m.Run()
	signal.Stop(sig)
	close(sig)
	if err := dc.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: stop: %v\n", err)
	}
	stopOthers()
	return code
}

// stopOthers stops the clusters started by Get with options.
func stopOthers() {
	mu.Lock()
	defer mu.Unlock()
	for key, s := range others {
		if s.dc != nil {
			if err := s.dc.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "testcluster: stop %s: %v\n", key, err)
			}
		}
	}
	others = nil
}

// options applies opts to the defaults.
func options(opts []Option) devcluster.Options {
	var o devcluster.Options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// key identifies the cluster the options ask for.
func key(o devcluster.Options) string {
	if d, err := o.WithDefaults(); err == nil {
		o = d
	}
	return fmt.Sprintf("profile=%s scale=%g failures=%d/%t nodes=%d qps=%d real=%t", o.Profile, o.TimeScale, o.FailurePercent, o.NoFailures, o.Nodes, o.KubeAPIQPS, o.RealNode)
}

// start builds the binaries if needed and starts a cluster in a temporary
// directory.
func start(opts []Option) (*Cluster, *devcluster.Cluster, error) {
	root, err := reporoot.Find()
	if err != nil {
		return nil, nil, err
	}
	cacheDir := os.Getenv("CACHE_DIR")
	if cacheDir == "" {
		cacheDir = filepath.Join(root, ".cache")
	}
	ctx := context.Background()
	// The build (minutes, once per pinned version) reports on stderr so
	// that a first run does not look hung.
	build := devcluster.BuildOptions{
		ModuleDir: filepath.Join(root, devcluster.ToolsModule),
		CacheDir:  cacheDir,
		Go:        os.Getenv("GO"),
		Log:       os.Stderr,
	}
	binDir, err := devcluster.Build(ctx, build)
	if err != nil {
		return nil, nil, fmt.Errorf("build the local control plane: %w", err)
	}
	o := options(opts)
	if o.RealNode {
		if err := devcluster.CheckRealNodeHost(); err != nil {
			return nil, nil, err
		}
		if o.NodeBinDir, err = devcluster.BuildNode(ctx, build); err != nil {
			return nil, nil, fmt.Errorf("build the real node: %w", err)
		}
	}
	o.BinDir, o.Timeout = binDir, 5*time.Minute
	var log bytes.Buffer
	o.Log = &log
	began := time.Now()
	dc, err := devcluster.Start(ctx, o)
	if err != nil {
		return nil, nil, fmt.Errorf("start the local control plane: %w\n%s", err, log.String())
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "testcluster: %s (%s) ready in %s (%s)\n", dc.Version(), devcluster.ReadProfile(dc.StateDir()),
			time.Since(began).Round(100*time.Millisecond), dc.StateDir())
	}
	client, err := kubernetes.NewForConfig(dc.RESTConfig())
	if err != nil {
		_ = dc.Stop()
		return nil, nil, err
	}
	return &Cluster{
		Kubeconfig: dc.Kubeconfig(), Config: dc.RESTConfig(), Client: client,
		Profile: dc.Profile(), TimeScale: dc.TimeScale(), Nodes: dc.Nodes(), StateDir: dc.StateDir(), dc: dc,
		RealNode: o.RealNode,
	}, dc, nil
}

func fromKubeconfig() (*Cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := client.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("cannot reach the cluster: %w", err)
	}
	kubeconfig := rules.GetLoadingPrecedence()[0]
	return &Cluster{Kubeconfig: kubeconfig, Config: cfg, Client: client, TimeScale: 1}, nil
}

// Get returns the cluster started by Main; it fails the test if Main did not run.
//
// With options, it returns a cluster with those options instead: Main's own
// when they ask for the same, otherwise one started at the first Get that
// asks for them (tests that ask for the same options share it), stopped when
// Main returns. With $KUBECONFIG set, a test that asks for other options
// than Main's is skipped.
func Get(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	mu.Lock()
	if !mainRan {
		mu.Unlock()
		t.Fatal("testcluster.Get: the package's TestMain must call testcluster.Main")
	}
	if skipMsg != "" {
		mu.Unlock()
		t.Skip(skipMsg)
	}
	if current == nil {
		mu.Unlock()
		t.Fatal("testcluster.Get: no cluster (see the error printed by testcluster.Main)")
	}
	want := key(options(append(append([]Option{}, defaultOpts...), opts...)))
	if len(opts) == 0 || want == key(options(defaultOpts)) {
		c := current
		mu.Unlock()
		return c
	}
	if external {
		mu.Unlock()
		t.Skipf("needs a local control plane with %s; $KUBECONFIG names another cluster", want)
	}
	mu.Unlock()

	startMu.Lock()
	defer startMu.Unlock()
	mu.Lock()
	s, ok := others[want]
	mu.Unlock()
	if !ok {
		c, dc, err := start(append(append([]Option{}, defaultOpts...), opts...))
		s = &started{cluster: c, dc: dc, err: err}
		mu.Lock()
		if others == nil {
			others = map[string]*started{}
		}
		others[want] = s
		mu.Unlock()
	}
	if s.err != nil {
		t.Fatalf("testcluster.Get(%s): %v", want, s.err)
	}
	return s.cluster
}

// Namespace creates a fresh uniquely named namespace for the test and deletes it at cleanup.
func (c *Cluster) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: strings.TrimSuffix(prefix, "-") + "-",
			Labels:       map[string]string{"storeops.dev/test": "true"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s-*: %v", prefix, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := c.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}
