// Package devcluster starts and stops a local Kubernetes control plane made
// of real binaries: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, and kwok, which plays the kubelet of one fake node.
//
// It needs no container runtime, because no container ever runs: kwok only
// moves the status of pods (Running, Ready, Succeeded for Jobs' pods),
// provisions and binds PersistentVolumes, and gives LoadBalancer Services an
// address. Everything the API server does is real: admission, RBAC,
// quotas, garbage collection, namespace deletion, controllers.
//
// The binaries are built from the pinned tools module deploy/devcluster by
// Build; Start runs them on 127.0.0.1 with a state directory, waits until
// the node is Ready and the default ServiceAccount exists, and writes a
// kubeconfig for an admin user.
package devcluster

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kwokStages is kwok's configuration: the stages that make nodes, pods,
// volumes and LoadBalancer Services progress.
//
//go:embed kwok-stages.yaml
var kwokStages []byte

// NodeName is the name of the first fake node kwok manages (the only one
// unless Options.Nodes asks for more; see NodeNames).
const NodeName = "kwok-node-0"

// Options configure Start.
type Options struct {
	// BinDir holds the binaries (see Build and BinDir).
	BinDir string
	// StateDir holds etcd's data, certificates, tokens, logs and the
	// kubeconfig. When empty, a temporary directory is used and removed by
	// Stop.
	StateDir string
	// Keep reuses the state already in StateDir (etcd data, certificates,
	// tokens) instead of starting from an empty one.
	Keep bool
	// BasePort, when set, fixes the ports: etcd client BasePort, etcd peer
	// +1, kube-controller-manager +2, kube-apiserver +3, kube-scheduler +4,
	// kwok +5. When zero, free ports are picked at run time.
	BasePort int
	// Detach lets the processes outlive the calling program (for
	// `make devcluster-up`); stop them with StopState. Otherwise they die
	// with the caller.
	Detach bool
	// Timeout bounds the wait for readiness; 3 minutes when zero.
	Timeout time.Duration
	// Log receives progress lines; nil discards them.
	Log io.Writer

	// Profile is how pods and Jobs behave and how hard the controllers may
	// drive the API server; Instant when empty.
	Profile Profile
	// TimeScale multiplies every delay of the Realistic profile: 1 (or 0)
	// is the pace of a real cluster, 0.1 ten times faster.
	TimeScale float64
	// FailurePercent is the share, in percent, of image pulls, container
	// starts, Ready pods and Job runs that fail (transiently) under the
	// Realistic profile; DefaultFailurePercent when zero, none when
	// negative or with NoFailures.
	FailurePercent int
	// NoFailures leaves out the random failures of the Realistic profile.
	NoFailures bool
	// Nodes is the number of fake nodes (NodeNames); 1 when zero, 12 for
	// the Bench profile.
	Nodes int
	// KubeAPIQPS is the client rate limit of the controller manager and the
	// scheduler (their burst is twice that); when zero, the profile's: 200
	// for the controller manager and the scheduler's default, 1000 for both
	// under Bench.
	KubeAPIQPS int

	// RealNode adds a real node beside the fake ones: a kubelet with
	// containerd and runc (RealNodeName, tainted RealNodeTaint, labelled
	// RealNodeLabel), kube-proxy, and hostPath volumes of
	// RealStorageClass. It needs root and Debian's containerd, runc,
	// containernetworking-plugins and iptables (CheckRealNodeHost), and
	// the binaries of BuildNode in NodeBinDir.
	RealNode bool
	// NodeBinDir holds kubelet, kube-proxy and the pause image (see
	// BuildNode); only read with RealNode.
	NodeBinDir string
}

// WithDefaults returns o with the profile's defaults filled in (Start
// applies them), or an error for an unknown profile or a negative value.
func (o Options) WithDefaults() (Options, error) {
	p, err := ParseProfile(string(o.Profile))
	if err != nil {
		return o, err
	}
	o.Profile = p
	if o.TimeScale < 0 {
		return o, fmt.Errorf("negative time scale %v", o.TimeScale)
	}
	if o.TimeScale == 0 {
		o.TimeScale = 1
	}
	if o.Nodes < 0 {
		return o, fmt.Errorf("negative node count %d", o.Nodes)
	}
	if o.Nodes == 0 {
		o.Nodes = 1
		if p == Bench {
			o.Nodes = 12
		}
	}
	if o.KubeAPIQPS == 0 && p == Bench {
		o.KubeAPIQPS = 1000
	}
	return o, nil
}

// NodeNames returns the names of the first n fake nodes: kwok-node-0, ...
func NodeNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = "kwok-node-" + strconv.Itoa(i)
	}
	return names
}

// Cluster is a running local control plane.
type Cluster struct {
	stateDir   string
	removeDir  bool
	kubeconfig string
	config     *rest.Config
	procs      []*process
	version    string
	opts       Options
}

// Profile returns the cluster's profile.
func (c *Cluster) Profile() Profile { return c.opts.Profile }

// TimeScale returns the time scale of the Realistic profile (1 is real time).
func (c *Cluster) TimeScale() float64 { return c.opts.TimeScale }

// Nodes returns the names of the fake nodes.
func (c *Cluster) Nodes() []string { return NodeNames(c.opts.Nodes) }

// Kubeconfig returns the path of a kubeconfig with admin rights.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// RESTConfig returns a copy of the admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// StateDir returns the directory with the cluster's data and logs
// (StateDir/logs/<component>.log).
func (c *Cluster) StateDir() string { return c.stateDir }

// Version returns the API server's version, e.g. v1.36.3.
func (c *Cluster) Version() string { return c.version }

// Stop stops the processes this Cluster started (SIGTERM, then SIGKILL)
// and removes a temporary state directory.
func (c *Cluster) Stop() error {
	var errs []error
	if c.opts.RealNode {
		if err := teardownRealNode(c.stateDir, os.Stderr); err != nil {
			errs = append(errs, fmt.Errorf("real node: %w", err))
		}
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(10 * time.Second)
	}
	if len(c.procs) > 0 {
		_ = os.Remove(filepath.Join(c.stateDir, pidFile))
	}
	if c.removeDir && len(errs) == 0 {
		errs = append(errs, os.RemoveAll(c.stateDir))
	}
	return errors.Join(errs...)
}

// Restart stops one process of the cluster (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler or kwok) with SIGTERM, SIGKILL
// after grace (0: at once, as a crash), starts it again with the same
// arguments, and waits until the API server answers /readyz again. It is
// for tests that restart a single component, e.g. the API server or etcd
// in the middle of a sync.
func (c *Cluster) Restart(ctx context.Context, name string, grace time.Duration) error {
	if err := c.Pause(name, grace); err != nil {
		return err
	}
	return c.Resume(ctx, name)
}

// Pause stops one process of the cluster (as Restart does) and leaves it
// stopped until Resume: a component that is down, such as an API server
// storeops cannot reach.
func (c *Cluster) Pause(name string, grace time.Duration) error {
	for _, p := range c.procs {
		if p.name == name {
			p.stop(grace)
			return nil
		}
	}
	return fmt.Errorf("no process %q in this cluster", name)
}

// Resume starts a process stopped by Pause (or one that exited) again with
// the same arguments and waits until the API server answers /readyz.
func (c *Cluster) Resume(ctx context.Context, name string) error {
	if err := c.startAgain(name); err != nil {
		return err
	}
	return waitHTTP(ctx, c.config.Host+"/readyz", c.config.BearerToken, c.procs)
}

// startAgain starts the named process again with the same arguments.
func (c *Cluster) startAgain(name string) error {
	for i, p := range c.procs {
		if p.name != name {
			continue
		}
		np, err := startProcess(p.name, p.bin, p.args, filepath.Dir(p.log), p.detach)
		if err != nil {
			return err
		}
		c.procs[i] = np
		return writePIDs(c.stateDir, c.procs)
	}
	return fmt.Errorf("no process %q in this cluster", name)
}

// exitedProcess returns the named process if it has exited.
func (c *Cluster) exitedProcess(name string) *process {
	for _, p := range c.procs {
		if p.name == name && p.exited() != nil {
			return p
		}
	}
	return nil
}

// tempPrefix names the temporary state directories of Start.
const tempPrefix = "storeops-devcluster-"

// removeStaleTempDirs removes temporary state directories left behind by
// programs that were killed (their processes died with them): those whose
// recorded processes all exited, or without a pid file for over an hour.
func removeStaleTempDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, dir := range dirs {
		fi, err := os.Stat(filepath.Join(dir, pidFile))
		switch {
		case err == nil && len(Running(dir)) == 0 && time.Since(fi.ModTime()) > time.Minute:
		case err != nil && os.IsNotExist(err) && olderThan(dir, time.Hour):
		default:
			continue
		}
		// A real node of a killed program left mounts and host state.
		if teardownRealNode(dir, io.Discard) != nil {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

func olderThan(path string, d time.Duration) bool {
	fi, err := os.Stat(path)
	return err == nil && time.Since(fi.ModTime()) > d
}

// ports of one cluster.
type ports struct {
	etcd, etcdPeer, controllerManager, apiserver, scheduler, kwok int
}

func choosePorts(base int) (ports, error) {
	if base > 0 {
		p := ports{base, base + 1, base + 2, base + 3, base + 4, base + 5}
		for name, port := range map[string]int{
			"etcd": p.etcd, "etcd peer": p.etcdPeer, "kube-controller-manager": p.controllerManager,
			"kube-apiserver": p.apiserver, "kube-scheduler": p.scheduler, "kwok": p.kwok,
		} {
			if err := checkPortFree(name, port); err != nil {
				return p, err
			}
		}
		return p, nil
	}
	f, err := freePorts(6)
	if err != nil {
		return ports{}, err
	}
	return ports{f[0], f[1], f[2], f[3], f[4], f[5]}, nil
}

// Start starts the control plane and returns once the fake node is Ready,
// the default StorageClass exists and the default namespace has its
// ServiceAccount. On error, whatever was started is stopped again.
//
// With free ports (BasePort 0) a start that loses a port to another
// program between the pick and the bind is retried with new ports.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	for attempt := 1; ; attempt++ {
		c, err := start(ctx, o)
		if err == nil || o.BasePort != 0 || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return c, err
		}
		if o.Log != nil {
			fmt.Fprintf(o.Log, "devcluster: a port was taken meanwhile, retrying: %v\n", err)
		}
	}
}

func start(ctx context.Context, o Options) (_ *Cluster, err error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	if o, err = o.WithDefaults(); err != nil {
		return nil, err
	}
	kwokYAML, err := kwokConfig(o)
	if err != nil {
		return nil, fmt.Errorf("kwok stages of profile %s: %w", o.Profile, err)
	}
	binDir, err := filepath.Abs(o.BinDir)
	if err != nil {
		return nil, err
	}
	if !HaveBinaries(binDir) {
		return nil, fmt.Errorf("binaries missing in %q: run `make devcluster-bin`", o.BinDir)
	}
	c := &Cluster{stateDir: o.StateDir, opts: o}
	if c.stateDir == "" {
		removeStaleTempDirs()
		if c.stateDir, err = os.MkdirTemp("", tempPrefix); err != nil {
			return nil, err
		}
		c.removeDir = true
	} else if c.stateDir, err = filepath.Abs(c.stateDir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	if running := Running(c.stateDir); len(running) > 0 {
		return nil, fmt.Errorf("a cluster already runs from %s: %v (stop it with `make devcluster-down`)", c.stateDir, running)
	}
	if !c.removeDir {
		// What a real node of an earlier run left (a killed launcher).
		if err := teardownRealNode(c.stateDir, log); err != nil {
			return nil, fmt.Errorf("clean up the last real node of %s: %w", c.stateDir, err)
		}
	}
	if !o.Keep && !c.removeDir {
		if err := os.RemoveAll(c.stateDir); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"logs", "etcd"} {
		if err := os.MkdirAll(filepath.Join(c.stateDir, d), 0o700); err != nil {
			return nil, err
		}
	}
	p, err := choosePorts(o.BasePort)
	if err != nil {
		return nil, err
	}
	tokens, err := ensurePKI(c.stateDir)
	if err != nil {
		return nil, fmt.Errorf("write certificates: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.stateDir, "kwok.yaml"), kwokYAML, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(c.stateDir, profileFile), []byte(describe(o)+"\n"), 0o644); err != nil {
		return nil, err
	}
	if o.RealNode {
		if err := CheckRealNodeHost(); err != nil {
			return nil, err
		}
		if err := ensureKubeletClientCert(c.stateDir); err != nil {
			return nil, fmt.Errorf("write certificates: %w", err)
		}
	}
	server := "https://127.0.0.1:" + strconv.Itoa(p.apiserver)
	for _, user := range tokenUsers {
		if err := writeKubeconfig(c.stateDir, user, server, tokens[user]); err != nil {
			return nil, err
		}
	}
	c.kubeconfig = filepath.Join(c.stateDir, "kubeconfig")
	if c.config, err = clientcmd.BuildConfigFromFlags("", c.kubeconfig); err != nil {
		return nil, err
	}
	c.config.QPS, c.config.Burst = 50, 100

	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	began := time.Now()
	startBin := func(name, bin string, args ...string) (*process, error) {
		proc, err := startProcess(name, bin, args, filepath.Join(c.stateDir, "logs"), o.Detach)
		if err != nil {
			return nil, err
		}
		c.procs = append(c.procs, proc)
		return proc, writePIDs(c.stateDir, c.procs)
	}
	start := func(name string, args ...string) (*process, error) {
		return startBin(name, filepath.Join(binDir, name), args...)
	}
	fmt.Fprintf(log, "devcluster: starting in %s (%s)\n", c.stateDir, describe(o))
	etcd, err := start("etcd", etcdArgs(c.stateDir, p)...)
	if err != nil {
		return nil, err
	}
	etcdHealth := fmt.Sprintf("http://127.0.0.1:%d/health", p.etcd)
	if err := waitHTTP(ctx, etcdHealth, "", []*process{etcd}); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	apiserver, err := start("kube-apiserver", apiserverArgs(c.stateDir, p, o)...)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, server+"/readyz", tokens["admin"], []*process{etcd, apiserver}); err != nil {
		return nil, fmt.Errorf("kube-apiserver: %w", err)
	}
	fmt.Fprintf(log, "devcluster: kube-apiserver ready at %s after %s\n", server, time.Since(began).Round(100*time.Millisecond))
	for _, s := range []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", controllerManagerArgs(c.stateDir, p, o)},
		{"kube-scheduler", schedulerArgs(c.stateDir, p, o)},
		{"kwok", kwokArgs(c.stateDir, p)},
	} {
		if _, err := start(s.name, s.args...); err != nil {
			return nil, err
		}
	}
	client, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if c.version, err = bootstrap(ctx, client, c.procs, NodeNames(o.Nodes)); err == nil {
			break
		}
		// kwok has been seen to panic at start inside its CEL library,
		// about once in ten starts on a busy machine, and to start
		// cleanly the next time: once, it is started again.
		if p := c.exitedProcess("kwok"); attempt == 0 && p != nil {
			fmt.Fprintf(log, "devcluster: %v\ndevcluster: starting kwok again\n", p.exited())
			if err := c.startAgain("kwok"); err != nil {
				return nil, err
			}
			continue
		}
		return nil, err
	}
	for _, port := range []int{p.controllerManager, p.scheduler} {
		if err := waitHTTP(ctx, fmt.Sprintf("https://127.0.0.1:%d/healthz", port), "", c.procs); err != nil {
			return nil, err
		}
	}
	if o.RealNode {
		if err := c.startRealNode(ctx, o, client, o.BasePort, log, startBin); err != nil {
			return nil, fmt.Errorf("real node: %w", err)
		}
	}
	fmt.Fprintf(log, "devcluster: %s ready after %s, kubeconfig %s\n", c.version, time.Since(began).Round(100*time.Millisecond), c.kubeconfig)
	return c, nil
}

// profileFile, in the state directory, describes the profile of the
// cluster that runs from it (see ReadProfile).
const profileFile = "profile"

// describe is the one-line description of o's profile.
func describe(o Options) string {
	s := fmt.Sprintf("profile %s, %d node(s)", o.Profile, o.Nodes)
	if o.Profile == Realistic {
		s += fmt.Sprintf(", time scale %g", o.TimeScale)
		if o.NoFailures || o.FailurePercent < 0 {
			s += ", no failures"
		} else if o.FailurePercent > 0 {
			s += fmt.Sprintf(", %d%% failures", o.FailurePercent)
		}
	}
	if o.KubeAPIQPS > 0 {
		s += fmt.Sprintf(", controllers' QPS %d", o.KubeAPIQPS)
	}
	if o.RealNode {
		s += ", real node " + RealNodeName
	}
	return s
}

// ReadProfile returns the description of the profile of the cluster last
// started from stateDir, or "" when there is none.
func ReadProfile(stateDir string) string {
	b, err := os.ReadFile(filepath.Join(stateDir, profileFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// writeKubeconfig writes the kubeconfig of user: "kubeconfig" for the
// admin, "<user>.kubeconfig" for the components.
func writeKubeconfig(stateDir, user, server, token string) error {
	ca, err := os.ReadFile(filepath.Join(stateDir, caCertFile))
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["storeops-dev"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["storeops-dev"] = &clientcmdapi.Context{Cluster: "storeops-dev", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "storeops-dev"
	name := user + ".kubeconfig"
	if user == "admin" {
		name = "kubeconfig"
	}
	return clientcmd.WriteToFile(*cfg, filepath.Join(stateDir, name))
}

// waitHTTP polls url until it answers 200, a process in procs exits, or
// ctx ends. Certificates are not verified: this only asks "are you up?".
func waitHTTP(ctx context.Context, url, token string, procs []*process) error {
	hc := &http.Client{
		Timeout:   5 * time.Second,
		Transport: insecureTransport(),
	}
	var last string
	for {
		for _, p := range procs {
			if err := p.exited(); err != nil {
				return err
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %v (last answer: %s)", url, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
