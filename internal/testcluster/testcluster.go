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
}

var (
	mu      sync.Mutex
	current *Cluster
	mainRan bool
	skipMsg string
)

// Main is called from TestMain: it starts the local control plane (or reuses
// the cluster named by $KUBECONFIG), runs m, stops what it started, and returns the exit code.
func Main(m *testing.M) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	mu.Lock()
	mainRan = true
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
		current = c
		return m.Run()
	}
	dc, err := start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
		return 1
	}
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
		fmt.Fprintf(os.Stderr, "testcluster: stopped the cluster on %v\n", s)
		os.Exit(1)
	}()
	code := m.Run()
	signal.Stop(sig)
	close(sig)
	if err := dc.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: stop: %v\n", err)
	}
	return code
}

// start builds the binaries if needed and starts a cluster in a temporary
// directory.
func start() (*devcluster.Cluster, error) {
	root, err := reporoot.Find()
	if err != nil {
		return nil, err
	}
	cacheDir := os.Getenv("CACHE_DIR")
	if cacheDir == "" {
		cacheDir = filepath.Join(root, ".cache")
	}
	ctx := context.Background()
	// The build (minutes, once per pinned version) reports on stderr so
	// that a first run does not look hung.
	binDir, err := devcluster.Build(ctx, devcluster.BuildOptions{
		ModuleDir: filepath.Join(root, devcluster.ToolsModule),
		CacheDir:  cacheDir,
		Go:        os.Getenv("GO"),
		Log:       os.Stderr,
	})
	if err != nil {
		return nil, fmt.Errorf("build the local control plane: %w", err)
	}
	var log bytes.Buffer
	began := time.Now()
	dc, err := devcluster.Start(ctx, devcluster.Options{BinDir: binDir, Timeout: 5 * time.Minute, Log: &log})
	if err != nil {
		return nil, fmt.Errorf("start the local control plane: %w\n%s", err, log.String())
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "testcluster: %s ready in %s (%s)\n", dc.Version(), time.Since(began).Round(100*time.Millisecond), dc.StateDir())
	}
	client, err := kubernetes.NewForConfig(dc.RESTConfig())
	if err != nil {
		_ = dc.Stop()
		return nil, err
	}
	current = &Cluster{Kubeconfig: dc.Kubeconfig(), Config: dc.RESTConfig(), Client: client}
	return dc, nil
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
	return &Cluster{Kubeconfig: kubeconfig, Config: cfg, Client: client}, nil
}

// Get returns the cluster started by Main; it fails the test if Main did not run.
func Get(t testing.TB) *Cluster {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if !mainRan {
		t.Fatal("testcluster.Get: the package's TestMain must call testcluster.Main")
	}
	if skipMsg != "" {
		t.Skip(skipMsg)
	}
	if current == nil {
		t.Fatal("testcluster.Get: no cluster (see the error printed by testcluster.Main)")
	}
	return current
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
