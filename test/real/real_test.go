// Package real holds the tests that run containers for real: on the real
// node of the local control plane (a kubelet with containerd and runc,
// kube-proxy) beside its fake kwok nodes. They run with `make test-real`
// (STOREOPS_REAL_NODE=1, root, Debian's containerd); `make test` and a
// plain `go test ./...` skip them.
package real

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/storeops/storeops/internal/devcluster"
	"github.com/storeops/storeops/internal/testcluster"
)

// envGate enables the lane; "required" also fails instead of skipping
// when the host cannot run containers.
const envGate = "STOREOPS_REAL_NODE"

func TestMain(m *testing.M) {
	gate := os.Getenv(envGate)
	if gate == "" {
		fmt.Printf("test/real: skipped: real containers run only with `make test-real` (%s=1)\n", envGate)
		os.Exit(0)
	}
	if err := devcluster.CheckRealNodeHost(); err != nil {
		fmt.Printf("test/real: skipped: this host cannot run containers: %v\n", err)
		if gate == "required" {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(testcluster.MainWith(testcluster.WithRealNode())(m))
}

//go:embed testdata/server/main.go
var serverSource string

const serverImage = "storeops.local/test-server:1"

// importServer builds the test server as a static binary, packs it as an
// OCI image and imports it into the real node.
func importServer(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := devcluster.BuildStatic(ctx, os.Getenv("GO"), map[string]string{"main.go": serverSource})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "server.oci.tar")
	if err := devcluster.WriteOCIArchive(archive, serverImage,
		[]devcluster.ImageFile{{Path: "/server", Mode: 0o755, Data: bin}},
		devcluster.ImageConfig{Entrypoint: []string{"/server"}, User: "65534:65534"}); err != nil {
		t.Fatal(err)
	}
	c.ImportImage(t, archive)
}

// onRealNode is a pod spec that runs the test image on the real node.
func onRealNode(args []string, restart corev1.RestartPolicy) corev1.PodSpec {
	grace := int64(2)
	return corev1.PodSpec{
		NodeSelector:                  map[string]string{devcluster.RealNodeLabel: "true"},
		Tolerations:                   []corev1.Toleration{{Key: devcluster.RealNodeTaint, Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		RestartPolicy:                 restart,
		TerminationGracePeriodSeconds: &grace,
		Containers: []corev1.Container{{
			Name:            "main",
			Image:           serverImage,
			ImagePullPolicy: corev1.PullNever,
			Args:            args,
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
			}},
		}},
	}
}

func TestRealNode(t *testing.T) {
	c := testcluster.Get(t)
	if !c.RealNode {
		t.Skip("the cluster has no real node")
	}
	importServer(t, c)
	ns := c.Namespace(t, "real")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client := c.Client

	// A pod becomes Ready through its HTTP readiness probe.
	spec := onRealNode([]string{"serve"}, corev1.RestartPolicyAlways)
	spec.Containers[0].Env = []corev1.EnvVar{{Name: "READY_AFTER", Value: "3s"}}
	spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
		PeriodSeconds: 1, FailureThreshold: 1,
	}
	labels := map[string]string{"app": "server"}
	created := time.Now()
	if _, err := client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "server", Labels: labels}, Spec: spec,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := waitPod(ctx, t, client, ns, "server", func(p *corev1.Pod) bool { return podReady(p) })
	t.Logf("pod %s Ready on %s with IP %s after %s", pod.Name, pod.Spec.NodeName, pod.Status.PodIP, time.Since(created).Round(100*time.Millisecond))
	if pod.Spec.NodeName != devcluster.RealNodeName {
		t.Fatalf("pod ran on %s, want %s", pod.Spec.NodeName, devcluster.RealNodeName)
	}
	var running time.Time
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running != nil {
			running = cs.State.Running.StartedAt.Time
		}
	}
	for _, cond := range pod.Status.Conditions {
		// The server answers 503 for 3 s: Ready cannot come sooner.
		if cond.Type == corev1.PodReady && cond.LastTransitionTime.Sub(running) < 2*time.Second {
			t.Errorf("Ready at %s, %s after the container started: the probe cannot have run", cond.LastTransitionTime, cond.LastTransitionTime.Sub(running))
		}
	}
	podURL := "http://" + pod.Status.PodIP + ":8080"
	if body := get(t, podURL+"/probes"); strings.TrimSpace(body) == "0" {
		t.Errorf("the server saw no readiness probe")
	}
	if body := get(t, podURL+"/"); !strings.Contains(body, "hello from server") {
		t.Errorf("pod IP answered %q", body)
	}
	// The API server reaches the kubelet: logs.
	logs := podLogs(ctx, t, client, ns, "server")
	if !strings.Contains(logs, "serving on :8080") {
		t.Errorf("logs of server: %q", logs)
	}

	// A ClusterIP Service, through kube-proxy's rules, from this machine.
	svc, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "server"},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{
			Port: 80, TargetPort: intstr.FromString("http"),
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svcURL := "http://" + svc.Spec.ClusterIP + ":80/"
	var body string
	deadline := time.Now().Add(time.Minute)
	for {
		body, err = tryGet(svcURL)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil || !strings.Contains(body, "hello from server") {
		nat, _ := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
		proxyLog, _ := os.ReadFile(filepath.Join(c.StateDir, "logs", "kube-proxy.log"))
		t.Fatalf("Service %s from the host: %q, %v\niptables nat:\n%s\nkube-proxy log:\n%s", svcURL, body, err, nat, proxyLog)
	}
	t.Logf("Service ClusterIP %s answers from the host: %q", svc.Spec.ClusterIP, strings.TrimSpace(body))

	// A Job runs to completion, reaching the Service from a pod.
	backoff := int32(2)
	job, err := client.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "client"},
		Spec: batchv1.JobSpec{
			BackoffLimit: &backoff,
			Template:     corev1.PodTemplateSpec{Spec: onRealNode([]string{"get", svcURL}, corev1.RestartPolicyNever)},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		j, err := client.BatchV1().Jobs(ns).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if j.Status.Succeeded == 1 {
			t.Logf("Job %s completed (%d failed attempts)", j.Name, j.Status.Failed)
			break
		}
		if j.Status.Failed > backoff {
			t.Fatalf("Job %s failed: %+v", j.Name, j.Status.Conditions)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Job %s: %v; status %+v", j.Name, ctx.Err(), j.Status)
		case <-time.After(500 * time.Millisecond):
		}
	}
	jobPods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=client"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range jobPods.Items {
		if p.Status.Phase == corev1.PodSucceeded {
			if l := podLogs(ctx, t, client, ns, p.Name); !strings.Contains(l, "hello from server") {
				t.Errorf("Job pod %s says %q", p.Name, l)
			}
		}
	}
}

func TestRealNodeVolume(t *testing.T) {
	c := testcluster.Get(t)
	if !c.RealNode {
		t.Skip("the cluster has no real node")
	}
	importServer(t, c)
	ns := c.Namespace(t, "real-volume")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client := c.Client
	class := devcluster.RealStorageClass
	if _, err := client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("written at %s", time.Now().Format(time.RFC3339Nano))
	run := func(name string, args ...string) {
		t.Helper()
		spec := onRealNode(args, corev1.RestartPolicyNever)
		spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
		}}}
		// The image runs as nobody; the hostPath directory is root's.
		spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(0))}
		if _, err := client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := waitPod(ctx, t, client, ns, name, func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		})
		logs := podLogs(ctx, t, client, ns, name)
		if p.Status.Phase != corev1.PodSucceeded {
			t.Fatalf("pod %s %s: %s", name, p.Status.Phase, logs)
		}
		t.Logf("pod %s: %s", name, strings.TrimSpace(logs))
	}
	run("writer", "write", "/data/file", text)
	grace := int64(0)
	if err := client.CoreV1().Pods(ns).Delete(ctx, "writer", metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	waitGone(ctx, t, client, ns, "writer")
	run("reader", "check", "/data/file", text)
	pvc, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("claim bound to %s", pvc.Spec.VolumeName)
}

func ptr[T any](v T) *T { return &v }

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func waitPod(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, name string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	for {
		p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && cond(p) {
			return p
		}
		select {
		case <-ctx.Done():
			if p != nil {
				t.Fatalf("pod %s/%s: %v; phase %s, conditions %+v, containers %+v", ns, name, ctx.Err(), p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses)
			}
			t.Fatalf("pod %s/%s: %v (%v)", ns, name, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func waitGone(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, name string) {
	t.Helper()
	for {
		if _, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s/%s not gone: %v", ns, name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func podLogs(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, name string) string {
	t.Helper()
	b, err := client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("logs of %s/%s: %v", ns, name, err)
	}
	return string(b)
}

func get(t *testing.T, url string) string {
	t.Helper()
	body, err := tryGet(url)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func tryGet(url string) (string, error) {
	// A new connection each time: a Service address asked before
	// kube-proxy has its rules goes out of this machine, and a kept-alive
	// connection would stay with whatever answered there.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}
