package devcluster

import (
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strconv"
)

// serviceAccountIssuer is the issuer of ServiceAccount tokens.
const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

func etcdArgs(dir string, p ports) []string {
	client := "http://127.0.0.1:" + strconv.Itoa(p.etcd)
	peer := "http://127.0.0.1:" + strconv.Itoa(p.etcdPeer)
	return []string{
		"--name=default",
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=default=" + peer,
		// A throwaway development store: losing it on a power cut is fine,
		// and fsync is what makes etcd slow on laptops and CI disks.
		"--unsafe-no-fsync",
		"--quota-backend-bytes=4294967296",
		"--log-level=warn",
	}
}

func apiserverArgs(dir string, p ports, o Options) []string {
	pki := func(f string) string { return filepath.Join(dir, f) }
	args := []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(p.etcd),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.apiserver),
		"--cert-dir=" + pki("pki"),
		"--tls-cert-file=" + pki(servingCertFile),
		"--tls-private-key-file=" + pki(servingKeyFile),
		"--client-ca-file=" + pki(caCertFile),
		"--token-auth-file=" + pki(tokenFile),
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + pki(saPubFile),
		"--service-account-signing-key-file=" + pki(saKeyFile),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		// No workload ever reaches the API server through the kubernetes
		// Service, and fairness queues only slow a single-user cluster.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=0",
	}
	if o.RealNode {
		// The real node's kubelet serves logs and exec on its InternalIP
		// and authorises the API server by this client certificate.
		args = append(args,
			"--kubelet-client-certificate="+pki(kubeletClientCertFile),
			"--kubelet-client-key="+pki(kubeletClientKeyFile),
			"--kubelet-preferred-address-types=InternalIP")
	}
	if o.Profile == Bench {
		// Without priority and fairness these cap the requests served at
		// once (defaults 400 and 200); a fleet of stores needs more.
		args = append(args, "--max-requests-inflight=1600", "--max-mutating-requests-inflight=800")
	}
	return args
}

// controllerQPS returns the client rate limit of the controller manager
// and the scheduler; 0 keeps a component's own.
func controllerQPS(o Options, component string) int {
	if o.KubeAPIQPS > 0 {
		return o.KubeAPIQPS
	}
	if component == "kube-controller-manager" {
		// The default 20 QPS makes Deployments of many stores crawl.
		return 200
	}
	return 0
}

func controllerManagerArgs(dir string, p ports, o Options) []string {
	kubeconfig := filepath.Join(dir, "kube-controller-manager.kubeconfig")
	qps := controllerQPS(o, "kube-controller-manager")
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.controllerManager),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file=" + filepath.Join(dir, saKeyFile),
		"--root-ca-file=" + filepath.Join(dir, caCertFile),
		"--cluster-signing-cert-file=" + filepath.Join(dir, caCertFile),
		"--cluster-signing-key-file=" + filepath.Join(dir, caKeyFile),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--kube-api-qps=" + strconv.Itoa(qps),
		"--kube-api-burst=" + strconv.Itoa(2*qps),
		// kwok renews the fake node's lease; on a busy machine a renewal can
		// come late. With the default 40 s grace the node turns NotReady,
		// every pod's Ready condition is set to False, and kwok never sets
		// it back. The fake node cannot really fail, so be patient.
		"--node-monitor-grace-period=1h",
		"--profiling=false",
		"--v=0",
	}
	if o.Profile == Bench {
		// More of a fleet's objects synced at once (defaults 5, 10 for
		// namespaces, 20 for the garbage collector).
		for _, flag := range []string{"deployment", "replicaset", "statefulset", "job", "endpoint", "service-endpoint", "namespace", "gc"} {
			args = append(args, "--concurrent-"+flag+"-syncs=25")
		}
	}
	return args
}

func schedulerArgs(dir string, p ports, o Options) []string {
	kubeconfig := filepath.Join(dir, "kube-scheduler.kubeconfig")
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.scheduler),
		"--leader-elect=false",
		"--profiling=false",
		"--v=0",
	}
	if qps := controllerQPS(o, "kube-scheduler"); qps > 0 {
		args = append(args, "--kube-api-qps="+strconv.Itoa(qps), "--kube-api-burst="+strconv.Itoa(2*qps))
	}
	return args
}

func kwokArgs(dir string, p ports) []string {
	return []string{
		"--config=" + filepath.Join(dir, "kwok.yaml"),
		"--kubeconfig=" + filepath.Join(dir, "kwok.kubeconfig"),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--server-address=127.0.0.1:" + strconv.Itoa(p.kwok),
		"--node-ip=127.0.0.1",
		"--cidr=10.244.0.0/16",
	}
}

// insecureTransport is for readiness probes of our own loopback servers.
func insecureTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // probe of a local self-signed server
	return t
}
