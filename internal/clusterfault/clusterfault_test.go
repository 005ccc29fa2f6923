package clusterfault_test

import (
	"context"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/storeops/storeops/internal/clusterfault"
	"github.com/storeops/storeops/internal/testcluster"
)

// Two fake nodes, so that a drained node's pods have somewhere to go.
func TestMain(m *testing.M) { os.Exit(testcluster.MainWith(testcluster.WithNodes(2))(m)) }

func waitFor(ctx context.Context, t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func deployment(ctx context.Context, t *testing.T, k kubernetes.Interface, ns, name string, replicas int32) map[string]string {
	t.Helper()
	labels := map[string]string{"app": name}
	if _, err := k.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "example.invalid/" + name + ":1"}}},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReadyReplicas(ctx, t, k, ns, name, replicas)
	return labels
}

func waitReadyReplicas(ctx context.Context, t *testing.T, k kubernetes.Interface, ns, name string, n int32) {
	t.Helper()
	waitFor(ctx, t, "deployment "+name+" with all replicas ready", func(ctx context.Context) (bool, error) {
		d, err := k.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.ObservedGeneration == d.Generation && d.Status.ReadyReplicas == n && d.Status.UpdatedReplicas == n && d.Status.Replicas == n, nil
	})
}

func podsOf(ctx context.Context, t *testing.T, k kubernetes.Interface, ns string, labels map[string]string) []corev1.Pod {
	t.Helper()
	list, err := k.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: labels})})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// TestDrainEvictsToTheOtherNode drains the node of a Deployment's pods
// (through a PodDisruptionBudget that lets one go at a time) and checks that
// the node is cordoned, its pods are gone, and the Deployment is whole again
// on the other node.
func TestDrainEvictsToTheOtherNode(t *testing.T) {
	c := testcluster.Get(t)
	if len(c.Nodes) < 2 {
		t.Skipf("needs two nodes, have %v", c.Nodes)
	}
	ns := c.Namespace(t, "drain")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	k, f := c.Client, c.Faults()

	labels := deployment(ctx, t, k, ns, "web", 4)
	one := intstr.FromInt32(1)
	if _, err := k.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: labels}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the disruption budget to be observed", func(ctx context.Context) (bool, error) {
		pdb, err := k.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.ExpectedPods == 4, err
	})
	node := podsOf(ctx, t, k, ns, labels)[0].Spec.NodeName
	t.Cleanup(func() {
		if err := f.Uncordon(context.Background(), node); err != nil {
			t.Error(err)
		}
	})

	evicted, err := f.Drain(ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drained %s: %v", node, evicted)
	if len(evicted) == 0 {
		t.Errorf("nothing evicted from %s", node)
	}
	n, err := k.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !n.Spec.Unschedulable {
		t.Errorf("node %s not cordoned after the drain", node)
	}
	waitReadyReplicas(ctx, t, k, ns, "web", 4)
	for _, p := range podsOf(ctx, t, k, ns, labels) {
		if p.Spec.NodeName == node {
			t.Errorf("pod %s still on the drained node %s", p.Name, node)
		}
	}
}

// TestDeletePodIsReplaced deletes a Deployment's pod and sees it replaced.
func TestDeletePodIsReplaced(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t, "delete-pod")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k, f := c.Client, c.Faults()

	labels := deployment(ctx, t, k, ns, "shop", 1)
	victim := podsOf(ctx, t, k, ns, labels)[0]
	uid, err := f.DeletePod(ctx, ns, victim.Name)
	if err != nil {
		t.Fatal(err)
	}
	if uid != victim.UID {
		t.Errorf("deleted uid %s, want %s", uid, victim.UID)
	}
	waitReadyReplicas(ctx, t, k, ns, "shop", 1)
	for _, p := range podsOf(ctx, t, k, ns, labels) {
		if p.UID == victim.UID {
			t.Errorf("the deleted pod %s is still there", p.Name)
		}
	}
}

// TestMakeUnreadyComesBack makes a Deployment's pod unready: the Deployment
// loses a ready replica, then the same pod (not restarted) is Ready again.
func TestMakeUnreadyComesBack(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t, "unready")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k, f := c.Client, c.Faults()

	labels := deployment(ctx, t, k, ns, "db", 1)
	pod := podsOf(ctx, t, k, ns, labels)[0]
	// Long enough for the Deployment controller to notice; the wait below
	// does not depend on it.
	if err := f.MakeUnready(ctx, ns, pod.Name, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the deployment to lose its ready replica, or the pod to be back", func(ctx context.Context) (bool, error) {
		d, err := k.AppsV1().Deployments(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		p, err := k.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.ReadyReplicas == 0 || p.Annotations[clusterfault.AnnotationUnreadyUntil] == "", nil
	})
	back, err := f.WaitReady(ctx, ns, pod.Name)
	if err != nil {
		t.Fatal(err)
	}
	if back.UID != pod.UID {
		t.Errorf("pod replaced (uid %s, was %s); want the same pod Ready again", back.UID, pod.UID)
	}
	if _, ok := back.Annotations[clusterfault.AnnotationUnreadyUntil]; ok {
		t.Errorf("annotation %s left on the recovered pod", clusterfault.AnnotationUnreadyUntil)
	}
	for _, cs := range back.Status.ContainerStatuses {
		if cs.RestartCount != 0 || cs.State.Running == nil || !cs.Ready {
			t.Errorf("container %s after the spell: %+v", cs.Name, cs)
		}
	}
	waitReadyReplicas(ctx, t, k, ns, "db", 1)
	if err := f.MakeUnready(ctx, ns, "no-such-pod", time.Second); err == nil {
		t.Error("MakeUnready of a missing pod: no error")
	}
}

// TestFailNextJob: the next Job run with the labels fails once and its retry
// succeeds; the Job after it is not touched, nor a Job with other labels.
func TestFailNextJob(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t, "fail-job")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k, f := c.Client, c.Faults()

	labels := map[string]string{"app.kubernetes.io/component": "setup"}
	jf, err := f.FailNextJob(ctx, ns, labels)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := jf.Remove(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	createJob(ctx, t, k, ns, "other", map[string]string{"app.kubernetes.io/component": "migrate"})
	createJob(ctx, t, k, ns, "setup", labels)
	failed, err := jf.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if failed.Labels["batch.kubernetes.io/job-name"] != "setup" {
		t.Errorf("the failed pod %s belongs to job %q", failed.Name, failed.Labels["batch.kubernetes.io/job-name"])
	}
	for name, want := range map[string]int32{"setup": 1, "other": 0} {
		j := waitComplete(ctx, t, k, ns, name)
		if j.Status.Failed != want || j.Status.Succeeded != 1 {
			t.Errorf("job %s: %d failed, %d succeeded; want %d and 1", name, j.Status.Failed, j.Status.Succeeded, want)
		}
	}

	// The fault was used up: the policy is gone and the next Job succeeds.
	policies, err := k.AdmissionregistrationV1().MutatingAdmissionPolicies().List(ctx, metav1.ListOptions{LabelSelector: "storeops.dev/fault"})
	if err != nil {
		t.Fatal(err)
	}
	if len(policies.Items) != 0 {
		t.Errorf("%d fault policies left after the fault fired", len(policies.Items))
	}
	createJob(ctx, t, k, ns, "setup-again", labels)
	if j := waitComplete(ctx, t, k, ns, "setup-again"); j.Status.Failed != 0 {
		t.Errorf("job setup-again: %d failed, want 0", j.Status.Failed)
	}
}

func createJob(ctx context.Context, t *testing.T, k kubernetes.Interface, ns, name string, labels map[string]string) {
	t.Helper()
	backoff := int32(3)
	if _, err := k.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			BackoffLimit: &backoff,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "main", Image: "example.invalid/job:1"}},
				},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitComplete(ctx context.Context, t *testing.T, k kubernetes.Interface, ns, name string) *batchv1.Job {
	t.Helper()
	var job *batchv1.Job
	waitFor(ctx, t, "job "+name+" Complete", func(ctx context.Context) (bool, error) {
		j, err := k.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		job = j
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return true, nil
			}
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				return false, &jobFailed{name}
			}
		}
		return false, nil
	})
	return job
}

type jobFailed struct{ name string }

func (e *jobFailed) Error() string { return "job " + e.name + " failed" }
