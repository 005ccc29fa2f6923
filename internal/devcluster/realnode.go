package devcluster

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// The real node (Options.RealNode): a kubelet with containerd and runc
// beside the kwok nodes. Only pods that tolerate RealNodeTaint and select
// RealNodeLabel run there; everything else stays on the fake nodes.
const (
	RealNodeName = "real-node-0"
	// RealNodeLabel is set to "true" on the real node.
	RealNodeLabel = "storeops.dev/real-node"
	// RealNodeTaint (value "true", NoSchedule) keeps pods that do not
	// ask for the real node off it.
	RealNodeTaint = "storeops.dev/real-node"
	// RealStorageClass offers hostPath volumes under the state directory
	// on the real node.
	RealStorageClass = "real-local"
	// RealNodeIP is the real node's address: the CNI bridge's, on this
	// machine only. Pods get addresses from RealPodCIDR.
	RealNodeIP  = "10.89.0.1"
	RealPodCIDR = "10.89.0.0/24"
	// realBridge is the CNI bridge, created before the kubelet starts so
	// that the node has its address from the start.
	realBridge = "storeops0"
	// realCgroup is the kubelet's cgroup root in every cgroup v1
	// hierarchy, removed at teardown.
	realCgroup = "storeops-real"
	// realVolumes is the number of hostPath PersistentVolumes of
	// RealStorageClass made at start.
	realVolumes = 8
	// hostRecord names the state directory of the real node that runs on
	// this machine: the bridge, the iptables rules of kube-proxy and the
	// sysctls are the machine's, so there is one real node at a time.
	hostRecord = "/run/storeops-realnode"
	// realRecord, in the state directory, says what teardown must undo.
	realRecord = "realnode.json"
)

// realNodeHostTools are the programs of the host the real node runs.
var realNodeHostTools = []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "ip", "iptables", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback"}

// sysctls the kubelet (kernel tunables) and the node's service routing
// change; their values before the start are restored at teardown.
var realSysctls = []string{"net/ipv4/ip_forward", "vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"}

// CheckRealNodeHost says why this machine cannot run a real node, or nil:
// it needs root, cgroups, and containerd, runc, the CNI plugins and
// iptables (Debian: containerd runc containernetworking-plugins iptables).
func CheckRealNodeHost() error {
	if os.Geteuid() != 0 {
		return errors.New("a real node needs root (containerd, runc, network namespaces)")
	}
	var missing []string
	for _, t := range realNodeHostTools {
		if strings.HasPrefix(t, "/") {
			if _, err := os.Stat(t); err != nil {
				missing = append(missing, t)
			}
		} else if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("a real node needs %s (apt-get install containerd runc containernetworking-plugins iptables)", strings.Join(missing, ", "))
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		return errors.New("a real node needs cgroup v1 hierarchies under /sys/fs/cgroup (not tried on cgroup v2)")
	}
	return nil
}

// realNodePorts are the kubelet's and kube-proxy's ports.
type realNodePorts struct{ kubelet, kubeletHealthz, proxyHealthz, proxyMetrics int }

func chooseRealNodePorts(base int) (realNodePorts, error) {
	if base > 0 {
		p := realNodePorts{base + 6, base + 7, base + 8, base + 9}
		for _, port := range []int{p.kubelet, p.kubeletHealthz, p.proxyHealthz, p.proxyMetrics} {
			if err := checkPortFree("the real node", port); err != nil {
				return p, err
			}
		}
		return p, nil
	}
	f, err := freePorts(4)
	if err != nil {
		return realNodePorts{}, err
	}
	return realNodePorts{f[0], f[1], f[2], f[3]}, nil
}

// record is what teardown reads: written before the host is changed.
type record struct {
	StateDir  string            `json:"stateDir"`
	Socket    string            `json:"containerdSocket"`
	KubeProxy string            `json:"kubeProxy"`
	Sysctls   map[string]string `json:"sysctls"`
	// KubeChainsBefore: the machine had iptables chains of a kubelet
	// before the start (another Kubernetes node): leave them at teardown.
	KubeChainsBefore bool `json:"kubeChainsBefore"`
	// NftTablesBefore are the nftables tables before the start (nft list
	// tables); iptables-nft tables made since and left empty are removed.
	NftTablesBefore []string `json:"nftTablesBefore"`
}

func realDir(stateDir string) string { return filepath.Join(stateDir, "realnode") }

// claimHost makes stateDir the one real node of this machine, tearing down
// what a real node whose programs died (a killed test) left behind.
func claimHost(stateDir string, log io.Writer) error {
	lock, err := os.OpenFile(hostRecord+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if b, err := os.ReadFile(hostRecord); err == nil {
		other := strings.TrimSpace(string(b))
		if other != stateDir {
			for _, r := range Running(other) {
				if strings.HasPrefix(r, "kubelet ") || strings.HasPrefix(r, "containerd ") {
					return fmt.Errorf("a real node already runs on this machine, from %s (one at a time: stop it with `make devcluster-down` or end its test)", other)
				}
			}
		}
		fmt.Fprintf(log, "devcluster: cleaning up after the real node of %s\n", other)
		if err := teardownRealNode(other, log); err != nil {
			return fmt.Errorf("clean up after the real node of %s: %w", other, err)
		}
	}
	// A record of a state directory that is gone: undo what is host-wide.
	_ = exec.Command("ip", "link", "del", realBridge).Run()
	return os.WriteFile(hostRecord, []byte(stateDir+"\n"), 0o644)
}

// startRealNode starts containerd, the kubelet and kube-proxy of the real
// node and waits until the node is Ready.
func (c *Cluster) startRealNode(ctx context.Context, o Options, client kubernetes.Interface, basePort int, log io.Writer,
	start func(name, bin string, args ...string) (*process, error)) error {
	if err := CheckRealNodeHost(); err != nil {
		return err
	}
	nodeBin, err := filepath.Abs(o.NodeBinDir)
	if err != nil {
		return err
	}
	if !HaveNodeBinaries(nodeBin) {
		return fmt.Errorf("real node binaries missing in %q: run `make devcluster-up NODE=real` or devcluster.BuildNode", o.NodeBinDir)
	}
	began := time.Now()
	p, err := chooseRealNodePorts(basePort)
	if err != nil {
		return err
	}
	if err := claimHost(c.stateDir, log); err != nil {
		return err
	}
	dir := realDir(c.stateDir)
	rec := record{
		StateDir:  c.stateDir,
		Socket:    filepath.Join(dir, "containerd", "containerd.sock"),
		KubeProxy: filepath.Join(nodeBin, "kube-proxy"),
		Sysctls:   map[string]string{},
	}
	for _, s := range realSysctls {
		b, err := os.ReadFile("/proc/sys/" + s)
		if err != nil {
			return err
		}
		rec.Sysctls[s] = strings.TrimSpace(string(b))
	}
	rec.KubeChainsBefore = exec.Command("iptables", "-t", "mangle", "-S", "KUBE-IPTABLES-HINT").Run() == nil
	rec.NftTablesBefore = nftTables()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	recJSON, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.WriteFile(filepath.Join(c.stateDir, realRecord), recJSON, 0o644); err != nil {
		return err
	}
	for _, d := range []string{"containerd/root", "containerd/state", "cni/net.d", "cni/ipam", "kubelet", "pod-logs", "volumes"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	// The bridge first: the node's address.
	for _, args := range [][]string{
		{"link", "add", realBridge, "type", "bridge"},
		{"addr", "add", RealNodeIP + "/24", "dev", realBridge},
		{"link", "set", realBridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	// Service traffic from a pod is routed by this machine to the pod
	// behind the Service.
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return err
	}
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hierarchies {
		if filepath.Base(h) == "unified" {
			continue
		}
		if err := os.MkdirAll(filepath.Join(h, realCgroup), 0o755); err != nil {
			return fmt.Errorf("cgroup root: %w", err)
		}
	}
	files := map[string]string{
		"containerd/config.toml":         containerdConfig(dir, rec.Socket),
		"cni/net.d/10-storeops.conflist": cniConfig(dir),
		"kubelet.yaml":                   kubeletConfig(c.stateDir, dir, rec.Socket, p),
		"kube-proxy.yaml":                kubeProxyConfig(c.kubeconfig, p),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	// The cluster DNS on the bridge's address, before any pod asks it.
	tokenPath := filepath.Join(dir, "cluster-dns.token")
	if err := os.WriteFile(tokenPath, []byte(c.config.BearerToken), 0o600); err != nil {
		return err
	}
	dnsAddr := net.JoinHostPort(RealNodeIP, "53")
	dns, err := start(ClusterDNS, filepath.Join(nodeBin, ClusterDNS), "-listen", dnsAddr, "-server", c.config.Host,
		"-ca", filepath.Join(c.stateDir, caCertFile), "-token-file", tokenPath, "-domain", ClusterDomain)
	if err != nil {
		return err
	}
	if err := poll(ctx, []*process{dns}, ClusterDNS, func() (bool, error) {
		conn, err := net.DialTimeout("tcp", dnsAddr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil, nil
	}); err != nil {
		return err
	}
	containerdBin, _ := exec.LookPath("containerd")
	containerd, err := start("containerd", containerdBin, "--config", filepath.Join(dir, "containerd/config.toml"))
	if err != nil {
		return err
	}
	if err := poll(ctx, []*process{containerd}, "containerd", func() (bool, error) {
		return ctr(ctx, rec.Socket, "version") == nil, nil
	}); err != nil {
		return err
	}
	if err := ctr(ctx, rec.Socket, "images", "import", filepath.Join(nodeBin, PauseArchive)); err != nil {
		return fmt.Errorf("import the pause image: %w", err)
	}
	kubelet, err := start("kubelet", filepath.Join(nodeBin, "kubelet"),
		"--config="+filepath.Join(dir, "kubelet.yaml"),
		"--kubeconfig="+c.kubeconfig,
		"--root-dir="+filepath.Join(dir, "kubelet"),
		"--hostname-override="+RealNodeName,
		"--node-ip="+RealNodeIP,
		"--node-labels="+RealNodeLabel+"=true",
		"--v=1")
	if err != nil {
		return err
	}
	if err := poll(ctx, []*process{containerd, kubelet}, "node "+RealNodeName+" Ready", func() (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, RealNodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	fmt.Fprintf(log, "devcluster: real node %s Ready after %s\n", RealNodeName, time.Since(began).Round(100*time.Millisecond))
	proxy, err := start("kube-proxy", filepath.Join(nodeBin, "kube-proxy"), "--config="+filepath.Join(dir, "kube-proxy.yaml"))
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", p.proxyHealthz), "", []*process{containerd, kubelet, proxy}); err != nil {
		return fmt.Errorf("kube-proxy: %w", err)
	}
	return ensureRealVolumes(ctx, client, dir)
}

// ensureRealVolumes creates RealStorageClass and a pool of hostPath
// PersistentVolumes under the state directory, bound to claims on the real
// node as they come (WaitForFirstConsumer): a local-path style store for
// tests, without a provisioner process.
func ensureRealVolumes(ctx context.Context, client kubernetes.Interface, dir string) error {
	binding := storagev1.VolumeBindingWaitForFirstConsumer
	reclaim := corev1.PersistentVolumeReclaimRetain
	if err := ensure(ctx, func() error {
		_, err := client.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
			ObjectMeta:        metav1.ObjectMeta{Name: RealStorageClass},
			Provisioner:       "kubernetes.io/no-provisioner",
			ReclaimPolicy:     &reclaim,
			VolumeBindingMode: &binding,
		}, metav1.CreateOptions{})
		return err
	}); err != nil {
		return err
	}
	hostPathType := corev1.HostPathDirectoryOrCreate
	for i := 0; i < realVolumes; i++ {
		name := fmt.Sprintf("real-local-%d", i)
		// World-writable, as local-path-provisioner makes its volumes
		// (mkdir -m 0777): hostPath volumes get no fsGroup ownership, and
		// the store charts' pods run as non-root users (PostgreSQL 999,
		// Medusa 1000) that must write there.
		volDir := filepath.Join(dir, "volumes", name)
		if err := os.MkdirAll(volDir, 0o777); err != nil {
			return err
		}
		if err := os.Chmod(volDir, 0o777); err != nil {
			return err
		}
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{RealNodeLabel: "true"}},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: reclaim,
				StorageClassName:              RealStorageClass,
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: volDir, Type: &hostPathType,
				}},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{RealNodeName}}},
				}}}},
			},
		}
		if err := ensure(ctx, func() error {
			_, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// ctr runs containerd's client against the real node's containerd, in
// the namespace of the CRI plugin.
func ctr(ctx context.Context, socket string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", socket, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func ctrOutput(socket string, args ...string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", socket, "--namespace", "k8s.io"}, args...)...).Output()
	return strings.Fields(string(out)), err
}

// ImportImage imports an OCI image archive (see WriteOCIArchive) into the
// real node's containerd, so pods with imagePullPolicy Never (or
// IfNotPresent) run it.
func (c *Cluster) ImportImage(ctx context.Context, archive string) error {
	if !c.opts.RealNode {
		return errors.New("this cluster has no real node")
	}
	return ImportImage(ctx, c.stateDir, archive)
}

// ImportImage imports an OCI image archive into the containerd of the real
// node that runs from stateDir.
func ImportImage(ctx context.Context, stateDir, archive string) error {
	rec, err := readRecord(stateDir)
	if err != nil {
		return err
	}
	return ctr(ctx, rec.Socket, "images", "import", archive)
}

// RunningRealNode returns the state directory of the real node that runs
// on this machine (its containerd answers), or "".
func RunningRealNode() string {
	b, err := os.ReadFile(hostRecord)
	if err != nil {
		return ""
	}
	stateDir := strings.TrimSpace(string(b))
	rec, err := readRecord(stateDir)
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ctr(ctx, rec.Socket, "version") != nil {
		return ""
	}
	return stateDir
}

func readRecord(stateDir string) (record, error) {
	var rec record
	b, err := os.ReadFile(filepath.Join(stateDir, realRecord))
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(b, &rec)
}

// teardownRealNode stops the real node of stateDir and undoes what it did
// to the machine: the pods (through the kubelet, so that the CNI plugin
// releases their addresses), kube-proxy and the kubelet, the containers
// left in containerd, containerd and its shims, kube-proxy's iptables
// rules, the mounts under the state directory, the bridge, the cgroups,
// the log links and the sysctls. Safe to call again.
func teardownRealNode(stateDir string, log io.Writer) error {
	rec, err := readRecord(stateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	dir := realDir(stateDir)
	recs, _ := readPIDs(stateDir)
	alive := func(name string) *recorded {
		for i := range recs {
			if recs[i].name == name && recs[i].alive() {
				return &recs[i]
			}
		}
		return nil
	}
	if alive("kubelet") != nil && alive("kube-apiserver") != nil {
		if err := drainRealNode(stateDir); err != nil {
			fmt.Fprintf(log, "devcluster: real node: deleting its pods: %v\n", err)
		}
	}
	for _, name := range []string{"kube-proxy", "kubelet", ClusterDNS} {
		if r := alive(name); r != nil {
			r.terminate(10 * time.Second)
		}
	}
	var errs []error
	if alive("containerd") != nil {
		tasks, _ := ctrOutput(rec.Socket, "tasks", "ls", "-q")
		for _, t := range tasks {
			_, _ = ctrOutput(rec.Socket, "tasks", "kill", "-s", "SIGKILL", t)
		}
		for _, t := range tasks {
			for i := 0; i < 50; i++ {
				if _, err := ctrOutput(rec.Socket, "tasks", "delete", t); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		containers, _ := ctrOutput(rec.Socket, "containers", "ls", "-q")
		for _, id := range containers {
			_, _ = ctrOutput(rec.Socket, "containers", "delete", id)
		}
		alive("containerd").terminate(10 * time.Second)
	}
	// Shims outlive containerd; ours name its socket.
	killShims(rec.Socket)
	if rec.KubeProxy != "" {
		if out, err := exec.Command(rec.KubeProxy, "--cleanup").CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("kube-proxy --cleanup: %v: %s", err, lastLine(out)))
		}
	}
	if !rec.KubeChainsBefore {
		removeKubeletChains()
		removeEmptyNftTables(rec.NftTablesBefore)
	}
	if err := unmountUnder(dir); err != nil {
		errs = append(errs, err)
	}
	if out, err := exec.Command("ip", "link", "del", realBridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
		errs = append(errs, fmt.Errorf("ip link del %s: %v: %s", realBridge, err, out))
	}
	// Containers whose shim died (a killed run) still run in the node's
	// cgroups: kill exactly those.
	killCgroupProcs(filepath.Join("/sys/fs/cgroup/pids", realCgroup))
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*/" + realCgroup)
	for _, h := range hierarchies {
		if err := removeCgroup(h); err != nil {
			errs = append(errs, err)
		}
	}
	if links, _ := filepath.Glob("/var/log/containers/*.log"); len(links) > 0 {
		for _, l := range links {
			if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, dir+"/") {
				_ = os.Remove(l)
			}
		}
	}
	for name, value := range rec.Sysctls {
		if err := os.WriteFile("/proc/sys/"+name, []byte(value), 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if b, err := os.ReadFile(hostRecord); err == nil && strings.TrimSpace(string(b)) == stateDir {
		_ = os.Remove(hostRecord)
	}
	return os.Remove(filepath.Join(stateDir, realRecord))
}

// drainRealNode deletes the pods on the real node and waits (up to 30 s)
// until the kubelet has stopped them and they are gone.
func drainRealNode(stateDir string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(stateDir, "kubeconfig"))
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sel := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", RealNodeName).String()}
	pods, err := client.CoreV1().Pods("").List(ctx, sel)
	if err != nil {
		return err
	}
	grace := int64(1)
	for _, pod := range pods.Items {
		_ = client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	}
	for {
		pods, err := client.CoreV1().Pods("").List(ctx, sel)
		if err == nil && len(pods.Items) == 0 {
			// The kubelet stops the sandboxes just after; give it a moment.
			time.Sleep(time.Second)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pods still on %s: %w", RealNodeName, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// terminate sends SIGTERM to a recorded process, SIGKILL after grace.
func (r recorded) terminate(grace time.Duration) {
	_ = syscall.Kill(r.pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for r.alive() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if r.alive() {
		_ = syscall.Kill(r.pid, syscall.SIGKILL)
		for i := 0; i < 50 && r.alive(); i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// killShims kills the containerd-shim-runc-v2 processes started by the
// containerd listening on socket (their command line names it).
func killShims(socket string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || filepath.Base(args[0]) != "containerd-shim-runc-v2" {
			continue
		}
		for i, a := range args {
			if a == "-address" && i+1 < len(args) && args[i+1] == socket {
				if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
}

// removeKubeletChains removes the iptables chains and rules the kubelet
// makes (KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY, KUBE-FIREWALL) for IPv4
// and IPv6; kube-proxy --cleanup leaves them.
func removeKubeletChains() {
	for _, bin := range []string{"iptables", "ip6tables"} {
		run := func(args ...string) { _ = exec.Command(bin, append([]string{"-w", "5"}, args...)...).Run() }
		for _, chain := range []string{"INPUT", "OUTPUT"} {
			for exec.Command(bin, "-w", "5", "-t", "filter", "-C", chain, "-j", "KUBE-FIREWALL").Run() == nil {
				run("-t", "filter", "-D", chain, "-j", "KUBE-FIREWALL")
			}
		}
		run("-t", "filter", "-F", "KUBE-FIREWALL")
		run("-t", "filter", "-X", "KUBE-FIREWALL")
		for _, table := range []string{"mangle", "nat", "filter"} {
			run("-t", table, "-F", "KUBE-KUBELET-CANARY")
			run("-t", table, "-X", "KUBE-KUBELET-CANARY")
		}
		run("-t", "mangle", "-X", "KUBE-IPTABLES-HINT")
	}
}

// nftTables lists the nftables tables ("ip nat", ...); nil without nft.
func nftTables() []string {
	out, err := exec.Command("nft", "list", "tables").Output()
	if err != nil {
		return nil
	}
	var tables []string
	for _, line := range strings.Split(string(out), "\n") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(line), "table "); ok {
			tables = append(tables, t)
		}
	}
	return tables
}

// removeEmptyNftTables removes the iptables-nft tables (filter, nat,
// mangle) that were not there before and hold no rule and no chain of
// their own now: what iptables-nft made for the kubelet and kube-proxy.
func removeEmptyNftTables(before []string) {
	had := map[string]bool{}
	for _, t := range before {
		had[t] = true
	}
	for _, t := range nftTables() {
		family, table, _ := strings.Cut(t, " ")
		if had[t] || (family != "ip" && family != "ip6") || (table != "filter" && table != "nat" && table != "mangle") {
			continue
		}
		bin := map[string]string{"ip": "iptables", "ip6": "ip6tables"}[family]
		out, err := exec.Command(bin, "-w", "5", "-t", table, "-S").Output()
		if err != nil {
			continue
		}
		empty := true
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if !strings.HasPrefix(line, "-P ") {
				empty = false
			}
		}
		if empty {
			_ = exec.Command("nft", "delete", "table", family, table).Run()
		}
	}
}

// unmountUnder detaches every mount point under dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, dir+"/") || mp == dir {
			points = append(points, mp)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, mp := range points {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("umount %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes the octal escapes of /proc/self/mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// killCgroupProcs kills every process in the cgroup tree dir and waits
// (up to 5 s) until they are gone.
func killCgroupProcs(dir string) {
	for i := 0; i < 50; i++ {
		var pids []int
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					pids = append(pids, pid)
				}
			}
			return nil
		})
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// removeCgroup removes a cgroup directory and its children, deepest first.
func removeCgroup(dir string) error {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		var err error
		for i := 0; i < 20; i++ {
			if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("rmdir %s: %w", d, err)
		}
	}
	return nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func containerdConfig(dir, socket string) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  # Root lacks CAP_SYS_RESOURCE here: runc must not lower oom_score_adj.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[7]q
    max_conf_num = 1
`, filepath.Join(dir, "containerd/root"), filepath.Join(dir, "containerd/state"), socket, socket+".ttrpc",
		filepath.Join(dir, "containerd/opt"), PauseImage, filepath.Join(dir, "cni/net.d"))
}

func cniConfig(dir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "storeops-real",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q, "rangeStart": "10.89.0.10", "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
`, realBridge, filepath.Join(dir, "cni/ipam"), RealPodCIDR, RealNodeIP)
}

func kubeletConfig(stateDir, dir, socket string, p realNodePorts) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: %[2]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[4]q}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://%[5]s
cgroupDriver: cgroupfs
cgroupRoot: /%[6]s
failCgroupV1: false
failSwapOn: false
enforceNodeAllocatable: []
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
podLogsDir: %[7]q
clusterDNS: [%[9]s]
clusterDomain: %[10]s
registerWithTaints:
- {key: %[8]s, value: "true", effect: NoSchedule}
serializeImagePulls: false
`, RealNodeIP, p.kubelet, p.kubeletHealthz, filepath.Join(stateDir, caCertFile), socket, realCgroup,
		filepath.Join(dir, "pod-logs"), RealNodeTaint, RealNodeIP, ClusterDomain)
}

func kubeProxyConfig(kubeconfig string, p realNodePorts) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %[1]q}
hostnameOverride: %[2]s
mode: iptables
clusterCIDR: %[3]s
healthzBindAddress: 127.0.0.1:%[4]d
metricsBindAddress: 127.0.0.1:%[5]d
nodePortAddresses: [%[6]s/32]
# Masquerade every Service connection, so replies come back through this
# machine without br_netfilter; leave conntrack's sysctls alone.
iptables: {masqueradeAll: true, localhostNodePorts: false}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, kubeconfig, RealNodeName, RealPodCIDR, p.proxyHealthz, p.proxyMetrics, RealNodeIP)
}

// Files of the API server's client certificate for the kubelet's API
// (logs, exec, port-forward), in the group system:masters.
const (
	kubeletClientCertFile = "pki/apiserver-kubelet-client.crt"
	kubeletClientKeyFile  = "pki/apiserver-kubelet-client.key"
)

// ensureKubeletClientCert writes the API server's client certificate for
// kubelets, signed by the cluster's CA, unless it is there.
func ensureKubeletClientCert(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, kubeletClientKeyFile)); err == nil {
		return nil
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return err
	}
	caKeyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return err
	}
	caBlock, _ := pem.Decode(caPEM)
	keyBlock, _ := pem.Decode(caKeyPEM)
	if caBlock == nil || keyBlock == nil {
		return errors.New("cannot read the cluster's CA")
	}
	caCert, err := x509.ParseCertificate(caBlock.Bytes)
	if err != nil {
		return err
	}
	caKey, err := x509.ParseECPrivateKey(keyBlock.Bytes)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		NotBefore:    now,
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, kubeletClientCertFile), pemBlock("CERTIFICATE", der), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, kubeletClientKeyFile), pemBlock("EC PRIVATE KEY", keyDER), 0o600)
}
