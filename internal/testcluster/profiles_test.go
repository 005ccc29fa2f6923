package testcluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/storeops/storeops/internal/clusterfault"
	"github.com/storeops/storeops/internal/devcluster"
	"github.com/storeops/storeops/internal/testcluster"
)

// realisticScale runs the realistic profile ten times faster than a real
// cluster: a database takes 2-6 s, the WooCommerce setup Job 6-18 s.
//
// The tests of the profiles run in parallel with each other: they spend
// their time waiting for delays, each in its own namespace.
const realisticScale = 0.1

// realistic is the realistic profile the tests use, without the random
// failures so that every pod reaches Ready on its first start.
func realistic(t *testing.T) *testcluster.Cluster {
	return testcluster.Get(t, testcluster.WithProfile(devcluster.Realistic), testcluster.WithTimeScale(realisticScale), testcluster.WithoutFailures())
}

// roleLabels are the labels of a store chart's pod of one component.
func roleLabels(chart, component string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": chart, "app.kubernetes.io/component": component}
}

func timing(t *testing.T, timings []devcluster.Timing, name string) devcluster.Timing {
	t.Helper()
	for _, tm := range timings {
		if tm.Name == name {
			return tm
		}
	}
	t.Fatalf("no timing %s", name)
	return devcluster.Timing{}
}

func bareContainers(image string) []corev1.Container {
	return []corev1.Container{{Name: "main", Image: image}}
}

func createPod(ctx context.Context, t *testing.T, k kubernetes.Interface, ns, name string, labels map[string]string, image string) *corev1.Pod {
	t.Helper()
	p, err := k.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: bareContainers(image)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func createJob(ctx context.Context, t *testing.T, k kubernetes.Interface, ns, name string, labels map[string]string, backoffLimit int32) *batchv1.Job {
	t.Helper()
	j, err := k.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit: &backoffLimit,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: bareContainers("busybox")},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// waitFor polls cond every 100 ms for at most two minutes.
func waitFor(ctx context.Context, t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func waitPodReady(ctx context.Context, t *testing.T, k kubernetes.Interface, ns, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	waitFor(ctx, t, "pod "+name+" Ready", func(ctx context.Context) (bool, error) {
		p, err := k.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod = p
		return clusterfault.PodReady(p), nil
	})
	return pod
}

func waitJob(ctx context.Context, t *testing.T, k kubernetes.Interface, ns, name string, cond batchv1.JobConditionType) *batchv1.Job {
	t.Helper()
	var job *batchv1.Job
	waitFor(ctx, t, "job "+name+" "+string(cond), func(ctx context.Context) (bool, error) {
		j, err := k.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		job = j
		return hasJobCondition(j, cond), nil
	})
	return job
}

// atLeast checks that to-from is at least d. Both times come from the API
// server with whole seconds (truncated), so the check is against d truncated
// to whole seconds: floor(a+d)-floor(a) >= floor(d) for any a.
func atLeast(t *testing.T, what string, from, to time.Time, d time.Duration) {
	t.Helper()
	if got, want := to.Sub(from), d.Truncate(time.Second); got < want {
		t.Errorf("%s after %s, want at least %s (the lower bound %s in whole seconds)", what, got, want, d)
	} else {
		t.Logf("%s after %s (lower bound %s)", what, got, d)
	}
}

// TestRealisticStartDelaysByRole starts pods of several roles and Jobs of
// the store charts under the realistic profile and checks that each became
// Ready (or finished) no sooner than its role's lower bound, and did.
func TestRealisticStartDelaysByRole(t *testing.T) {
	t.Parallel()
	c := realistic(t)
	ns := c.Namespace(t, "realistic")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	k := c.Client

	pods := []struct {
		name, role string
		labels     map[string]string
	}{
		{"mysql", "database", roleLabels("woocommerce", "mysql")},
		{"postgres", "database", roleLabels("medusa", "postgres")},
		{"medusa", "medusa-server", roleLabels("medusa", "server")},
		{"wordpress", "wordpress", roleLabels("woocommerce", "wordpress")},
		{"plain", "other", nil},
	}
	for _, p := range pods {
		createPod(ctx, t, k, ns, p.name, p.labels, "example.invalid/"+p.name+":1")
	}
	jobs := []struct{ name, role, chart, component string }{
		{"woo-setup", "woocommerce-setup", "woocommerce", "setup"},
		{"migrate", "medusa-migrate", "medusa", "migrate"},
	}
	for _, j := range jobs {
		createJob(ctx, t, k, ns, j.name, roleLabels(j.chart, j.component), 0)
	}

	for _, p := range pods {
		got := waitPodReady(ctx, t, k, ns, p.name)
		tm := timing(t, devcluster.RoleTimings, p.role)
		atLeast(t, "pod "+p.name+" ("+p.role+") Ready", got.CreationTimestamp.Time, readyCondition(got).LastTransitionTime.Time, c.Scale(tm.Min))
		if cs := got.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Running == nil || !cs[0].Ready {
			t.Errorf("pod %s Ready with container statuses %+v", p.name, cs)
		}
	}
	jobStart := devcluster.FailureTimings.JobStart.Min
	for _, j := range jobs {
		job := waitJob(ctx, t, k, ns, j.name, batchv1.JobComplete)
		if job.Status.Failed != 0 || job.Status.Succeeded != 1 {
			t.Errorf("job %s: %d failed, %d succeeded; want 0 and 1", j.name, job.Status.Failed, job.Status.Succeeded)
		}
		list, err := k.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + j.name})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("pods of job %s: %v, %v", j.name, list, err)
		}
		p := list.Items[0]
		cs := p.Status.ContainerStatuses
		if p.Status.Phase != corev1.PodSucceeded || len(cs) != 1 || cs[0].State.Terminated == nil || p.Status.StartTime == nil {
			t.Fatalf("pod of job %s: phase %s, container statuses %+v", j.name, p.Status.Phase, cs)
		}
		tm := timing(t, devcluster.JobTimings, j.role)
		atLeast(t, "job "+j.name+" ("+j.role+") finished", p.Status.StartTime.Time, cs[0].State.Terminated.FinishedAt.Time, c.Scale(jobStart+tm.Min))
	}
}

// TestRealisticImageThatDoesNotExist: a pod whose image is tagged
// :does-not-exist goes to ImagePullBackOff and is not Ready.
func TestRealisticImageThatDoesNotExist(t *testing.T) {
	t.Parallel()
	c := realistic(t)
	ns := c.Namespace(t, "bad-image")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	createPod(ctx, t, c.Client, ns, "bad", nil, "example.invalid/shop:does-not-exist")
	waitFor(ctx, t, "ImagePullBackOff", func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "bad", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Waiting != nil && cs.State.Waiting.Reason == "ImagePullBackOff" {
				if clusterfault.PodReady(p) {
					return false, fmt.Errorf("pod Ready in ImagePullBackOff")
				}
				return true, nil
			}
		}
		return false, nil
	})
}

// TestRealisticFailures runs the realistic profile with every draw failing,
// so that each failure path shows: a pod's image pull fails then backs off,
// its container crashes and restarts over and over (it never gets Ready),
// and every run of a Job fails until the Job gives up.
func TestRealisticFailures(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t, testcluster.WithProfile(devcluster.Realistic), testcluster.WithTimeScale(realisticScale), testcluster.WithFailurePercent(100))
	ns := c.Namespace(t, "failures")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	k := c.Client

	w, err := k.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=crashy"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	createPod(ctx, t, k, ns, "crashy", roleLabels("woocommerce", "wordpress"), "example.invalid/wordpress:6")
	createJob(ctx, t, k, ns, "flaky", roleLabels("medusa", "migrate"), 1)

	seen := map[string]bool{}
	var restarts int32
	for restarts < 2 || !seen["ErrImagePull"] || !seen["ImagePullBackOff"] || !seen["CrashLoopBackOff"] {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch ended; seen %v, %d restarts", seen, restarts)
			}
			if ev.Type == watch.Error {
				t.Fatalf("watch: %v", apierrors.FromObject(ev.Object))
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if clusterfault.PodReady(p) {
				t.Fatalf("pod Ready although every start crashes: %+v", p.Status)
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Waiting != nil {
					seen[cs.State.Waiting.Reason] = true
				}
				restarts = max(restarts, cs.RestartCount)
			}
		case <-ctx.Done():
			t.Fatalf("seen %v and %d restarts when the time ran out", seen, restarts)
		}
	}
	t.Logf("pod went through %v, %d restarts", seen, restarts)

	job := waitJob(ctx, t, k, ns, "flaky", batchv1.JobFailed)
	if job.Status.Failed != 2 || job.Status.Succeeded != 0 {
		t.Errorf("job: %d failed, %d succeeded; want 2 runs failed (backoffLimit 1) and none succeeded", job.Status.Failed, job.Status.Succeeded)
	}
}

// TestFaultsUnderRealistic: the injected faults work with the realistic
// stages too: a pod made unready comes back, the next Job run fails and the
// retry succeeds.
func TestFaultsUnderRealistic(t *testing.T) {
	t.Parallel()
	c := realistic(t)
	ns := c.Namespace(t, "realistic-faults")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	k, f := c.Client, c.Faults()

	createPod(ctx, t, k, ns, "web", roleLabels("medusa", "storefront"), "example.invalid/storefront:1")
	p := waitPodReady(ctx, t, k, ns, "web")
	if err := f.MakeUnready(ctx, ns, "web", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	back := waitPodReady(ctx, t, k, ns, "web")
	if back.UID != p.UID || back.Annotations[clusterfault.AnnotationUnreadyUntil] != "" {
		t.Errorf("after the unready spell: uid %s (was %s), annotations %v", back.UID, p.UID, back.Annotations)
	}

	labels := roleLabels("woocommerce", "setup")
	jf, err := f.FailNextJob(ctx, ns, labels)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := jf.Remove(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	createJob(ctx, t, k, ns, "setup", labels, 2)
	if _, err := jf.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	job := waitJob(ctx, t, k, ns, "setup", batchv1.JobComplete)
	if job.Status.Failed != 1 || job.Status.Succeeded != 1 {
		t.Errorf("job: %d failed, %d succeeded; want 1 and 1", job.Status.Failed, job.Status.Succeeded)
	}
}

// TestBenchProfile: the bench profile has the nodes asked for, raises the
// controllers' client rate limits, and spreads a Deployment's pods over its
// nodes, all Ready at once (instant lifecycle).
func TestBenchProfile(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t, testcluster.WithProfile(devcluster.Bench), testcluster.WithNodes(3))
	if c.Profile != devcluster.Bench || len(c.Nodes) != 3 {
		t.Fatalf("profile %s, nodes %v", c.Profile, c.Nodes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k := c.Client

	nodes, err := k.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 3 {
		t.Errorf("%d nodes, want 3", len(nodes.Items))
	}
	for _, component := range []string{"kube-controller-manager", "kube-scheduler"} {
		args := commandLine(t, c.StateDir, component)
		for _, want := range []string{"--kube-api-qps=1000", "--kube-api-burst=2000"} {
			if !strings.Contains(args, want) {
				t.Errorf("%s runs without %s: %s", component, want, args)
			}
		}
	}

	ns := c.Namespace(t, "bench")
	replicas := int32(30)
	labels := map[string]string{"app": "bench"}
	if _, err := k.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: bareContainers("example.invalid/bench:1")},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "30 ready replicas", func(ctx context.Context) (bool, error) {
		d, err := k.AppsV1().Deployments(ns).Get(ctx, "bench", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == replicas, err
	})
	pods, err := k.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]int{}
	for _, p := range pods.Items {
		used[p.Spec.NodeName]++
	}
	if len(used) < 2 {
		t.Errorf("pods on %v, want them spread over the nodes", used)
	}
	t.Logf("pods per node: %v", used)
}

// commandLine returns the command line of a component of the local control
// plane whose state is in stateDir, from its pid file and /proc.
func commandLine(t *testing.T, stateDir, component string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir, "pids"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == component {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil {
				t.Fatal(err)
			}
			return strings.ReplaceAll(string(cmdline), "\x00", " ")
		}
	}
	t.Fatalf("no %s in %s/pids", component, stateDir)
	return ""
}

// TestGetSharesClustersByOptions: the same options give the same cluster,
// none give Main's.
func TestGetSharesClustersByOptions(t *testing.T) {
	a := testcluster.Get(t)
	if b := testcluster.Get(t, testcluster.WithProfile(devcluster.Instant)); b != a {
		t.Errorf("Get with Main's options started another cluster")
	}
	got := []*testcluster.Cluster{realistic(t), realistic(t)}
	if got[0] != got[1] || got[0] == a || got[0].Profile != devcluster.Realistic || got[0].TimeScale != realisticScale {
		t.Errorf("realistic clusters %p %p (Main's %p), profile %s, scale %g", got[0], got[1], a, got[0].Profile, got[0].TimeScale)
	}
}

// TestRealisticRestartSpells: Ready pods drawn for a restart spell turn
// NotReady with one more restart, and come back Ready. Spells are random
// (a share of the Ready pods); at 90% failures and eight pods, the chance
// that none is drawn at its first Ready is 1e-8.
func TestRealisticRestartSpells(t *testing.T) {
	t.Parallel()
	c := testcluster.Get(t, testcluster.WithProfile(devcluster.Realistic), testcluster.WithTimeScale(0.01), testcluster.WithFailurePercent(90))
	ns := c.Namespace(t, "spells")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	k := c.Client

	w, err := k.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for i := range 8 {
		createPod(ctx, t, k, ns, fmt.Sprintf("shop-%d", i), roleLabels("medusa", "storefront"), "example.invalid/storefront:1")
	}
	type history struct {
		ready         bool  // was Ready
		readyRestarts int32 // restart count when it was Ready
		dropped       int32 // restart count when it dropped from Ready, 0 if not yet
	}
	pods := map[string]*history{}
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch ended")
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			h := pods[p.Name]
			if h == nil {
				h = &history{}
				pods[p.Name] = h
			}
			var restarts int32
			for _, cs := range p.Status.ContainerStatuses {
				restarts = max(restarts, cs.RestartCount)
			}
			switch ready := clusterfault.PodReady(p); {
			case ready && h.dropped > 0:
				t.Logf("pod %s: Ready, NotReady with restart %d, Ready again with %d restarts", p.Name, h.dropped, restarts)
				return
			case ready:
				h.ready, h.readyRestarts = true, restarts
			case h.ready && h.dropped == 0 && restarts > h.readyRestarts:
				h.dropped = restarts
			}
		case <-ctx.Done():
			t.Fatalf("no pod dropped from Ready and came back before the time ran out")
		}
	}
}
