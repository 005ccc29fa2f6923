// Package clusterfault injects faults into a cluster for tests: cordon and
// drain a node, delete a pod, make a pod unready for a while, make the next
// Job run fail. Every fault is an ordinary API operation; where the fake
// kubelet must play along (a pod that turns NotReady, a container that exits
// with an error) the operation sets an annotation that the kwok stages of
// the local control plane act on (see internal/devcluster/kwok-faults.yaml),
// so those two work only on the local control plane.
//
// Every call waits until the fault took effect, polling the API server; none
// sleeps for a fixed time.
package clusterfault

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

const (
	// AnnotationUnreadyUntil on a Ready pod makes kwok set it NotReady
	// until the RFC 3339 time it holds; kwok removes it on recovery.
	AnnotationUnreadyUntil = "fault.storeops.dev/unready-until"
	// AnnotationFailJob "true" on a pod of a Job makes kwok end it with
	// exit code 1 once it runs.
	AnnotationFailJob = "fault.storeops.dev/fail-job"
	// jobNameLabel is set by the Job controller on the pods it creates.
	jobNameLabel = "batch.kubernetes.io/job-name"
	// faultLabel marks the admission policies this package creates.
	faultLabel = "storeops.dev/fault"
)

// Injector injects faults through Client.
type Injector struct {
	Client kubernetes.Interface
	// Timeout bounds each wait of a call; 2 minutes when zero.
	Timeout time.Duration
	// Interval is the polling interval of the waits; 100 ms when zero.
	Interval time.Duration
}

// New returns an Injector with the default timeout and interval.
func New(client kubernetes.Interface) *Injector { return &Injector{Client: client} }

func (f *Injector) timeout() time.Duration {
	if f.Timeout > 0 {
		return f.Timeout
	}
	return 2 * time.Minute
}

func (f *Injector) interval() time.Duration {
	if f.Interval > 0 {
		return f.Interval
	}
	return 100 * time.Millisecond
}

// poll calls cond until it is true, it fails, ctx ends or the timeout
// passes; the error names what was awaited.
func (f *Injector) poll(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, f.interval(), f.timeout(), true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		if err != nil && isTransient(err) {
			last = err
			return false, nil
		}
		return ok, err
	})
	if err != nil && wait.Interrupted(err) {
		if last != nil {
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, err, last)
		}
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

// isTransient reports errors worth retrying: the API server was busy or
// briefly unreachable.
func isTransient(err error) bool {
	var t transient
	if errors.As(err, &t) {
		return true
	}
	return apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || apierrors.IsConflict(err)
}

// Cordon marks node unschedulable.
func (f *Injector) Cordon(ctx context.Context, node string) error {
	return f.setUnschedulable(ctx, node, true)
}

// Uncordon marks node schedulable again.
func (f *Injector) Uncordon(ctx context.Context, node string) error {
	return f.setUnschedulable(ctx, node, false)
}

func (f *Injector) setUnschedulable(ctx context.Context, node string, on bool) error {
	patch := fmt.Appendf(nil, `{"spec":{"unschedulable":%t}}`, on)
	if _, err := f.Client.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("set node %s unschedulable=%t: %w", node, on, err)
	}
	return nil
}

// Drain cordons node and evicts its pods as `kubectl drain
// --ignore-daemonsets --delete-emptydir-data` would: through the Eviction API
// (an eviction refused by a PodDisruptionBudget is retried until the
// timeout), skipping DaemonSet and mirror pods. It returns once no such pod
// is left on the node (a pod the scheduler placed there before it saw the
// cordon is evicted too), with the namespace/name of the evicted pods.
func (f *Injector) Drain(ctx context.Context, node string) ([]string, error) {
	if err := f.Cordon(ctx, node); err != nil {
		return nil, err
	}
	var names []string
	err := f.poll(ctx, "node "+node+" to be drained", func(ctx context.Context) (bool, error) {
		pods, err := f.Client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
		})
		if err != nil {
			return false, fmt.Errorf("list the pods of node %s: %w", node, err)
		}
		var evicted []corev1.Pod
		for _, p := range pods.Items {
			if isDaemonSetPod(&p) || p.Annotations[corev1.MirrorPodAnnotationKey] != "" {
				continue
			}
			if err := f.evict(ctx, &p); err != nil {
				return false, err
			}
			evicted = append(evicted, p)
		}
		for _, p := range evicted {
			if err := f.waitGone(ctx, &p); err != nil {
				return false, err
			}
			names = append(names, p.Namespace+"/"+p.Name)
		}
		return len(evicted) == 0, nil
	})
	return names, err
}

func isDaemonSetPod(p *corev1.Pod) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return true
		}
	}
	return false
}

// evict asks the Eviction API to evict p, retrying while a disruption
// budget refuses it.
func (f *Injector) evict(ctx context.Context, p *corev1.Pod) error {
	return f.poll(ctx, "eviction of pod "+p.Namespace+"/"+p.Name, func(ctx context.Context) (bool, error) {
		err := f.Client.CoreV1().Pods(p.Namespace).EvictV1(ctx, &policyv1.Eviction{
			ObjectMeta:    metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
			DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}},
		})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return true, nil
		case apierrors.IsConflict(err) && !podExists(ctx, f.Client, p):
			// The UID precondition failed: the pod was replaced meanwhile.
			return true, nil
		case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			// No eviction can be created in a namespace being deleted; as
			// kubectl drain does, delete the pod instead.
			err := f.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			if err == nil || apierrors.IsNotFound(err) || (apierrors.IsConflict(err) && !podExists(ctx, f.Client, p)) {
				return true, nil
			}
			return false, err
		}
		return false, err
	})
}

func podExists(ctx context.Context, client kubernetes.Interface, p *corev1.Pod) bool {
	cur, err := client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	return err == nil && cur.UID == p.UID
}

// waitGone waits until the pod p (this UID) no longer exists.
func (f *Injector) waitGone(ctx context.Context, p *corev1.Pod) error {
	return f.poll(ctx, "pod "+p.Namespace+"/"+p.Name+" to be gone", func(ctx context.Context) (bool, error) {
		cur, err := f.Client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return cur.UID != p.UID, nil
	})
}

// DeletePod deletes a pod, as a person or a crashed node would, and returns
// once it is gone (its controller may have created a replacement of the same
// name by then; the returned UID is the deleted pod's).
func (f *Injector) DeletePod(ctx context.Context, namespace, name string) (types.UID, error) {
	p, err := f.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
	}
	err = f.Client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("delete pod %s/%s: %w", namespace, name, err)
	}
	return p.UID, f.waitGone(ctx, p)
}

// MakeUnready makes a Ready pod NotReady for d, as a failing readiness probe
// would; its containers keep running and it is not restarted. It returns
// once the pod is NotReady (or already back, for a very short d). The pod
// becomes Ready again after d without further calls; WaitReady waits for
// that.
func (f *Injector) MakeUnready(ctx context.Context, namespace, name string, d time.Duration) error {
	p, err := f.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
	}
	if !PodReady(p) {
		return fmt.Errorf("pod %s/%s is not Ready", namespace, name)
	}
	until := time.Now().Add(d).UTC().Format(time.RFC3339Nano)
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, AnnotationUnreadyUntil, until)
	if _, err := f.Client.CoreV1().Pods(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotate pod %s/%s: %w", namespace, name, err)
	}
	return f.poll(ctx, "pod "+namespace+"/"+name+" to turn NotReady", func(ctx context.Context) (bool, error) {
		cur, err := f.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if cur.UID != p.UID {
			return false, fmt.Errorf("pod %s/%s was replaced", namespace, name)
		}
		_, annotated := cur.Annotations[AnnotationUnreadyUntil]
		return !PodReady(cur) || !annotated, nil
	})
}

// WaitReady waits until the pod exists and is Ready, and returns it.
func (f *Injector) WaitReady(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	var p *corev1.Pod
	err := f.poll(ctx, "pod "+namespace+"/"+name+" to be Ready", func(ctx context.Context) (bool, error) {
		cur, err := f.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		p = cur
		return PodReady(cur), nil
	})
	return p, err
}

// PodReady reports whether p's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// JobFault is a pending "the next Job run fails" (see FailNextJob).
type JobFault struct {
	f         *Injector
	namespace string
	selector  labels.Selector
	policy    string
	cancel    context.CancelFunc
	done      chan struct{}

	mu      sync.Mutex
	pod     *corev1.Pod // the first pod that got the annotation
	err     error       // of the watcher
	removed bool
}

// FailNextJob makes the next pod that a Job creates in namespace with all
// of podLabels (the labels of the Job's pod template) exit with code 1 once
// it runs. The Job controller then retries as the Job's backoffLimit allows,
// and that retry runs normally: the Job fails once, then succeeds. Pods
// created at the same moment by several matching Jobs (or by one Job with
// parallelism) may all fail.
//
// It works with a MutatingAdmissionPolicy that annotates such pods as the
// API server admits them, removed as soon as one was annotated (or by
// Remove); FailNextJob returns once the API server applies the policy.
// Call Remove when done, whatever happened.
func (f *Injector) FailNextJob(ctx context.Context, namespace string, podLabels map[string]string) (*JobFault, error) {
	if namespace == "" {
		return nil, errors.New("FailNextJob: namespace required")
	}
	sel := labels.SelectorFromSet(podLabels)
	req, err := labels.NewRequirement(jobNameLabel, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	sel = sel.Add(*req)
	adm := f.Client.AdmissionregistrationV1()
	fail := admissionv1.Fail
	policy, err := adm.MutatingAdmissionPolicies().Create(ctx, &admissionv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "storeops-fault-fail-job-", Labels: map[string]string{faultLabel: "fail-job"}},
		Spec: admissionv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionv1.MatchResources{
				ResourceRules: []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				}}},
			},
			MatchConditions: []admissionv1.MatchCondition{{
				Name:       "job-pod",
				Expression: fmt.Sprintf("has(object.metadata.labels) && %q in object.metadata.labels", jobNameLabel),
			}},
			FailurePolicy:      &fail,
			ReinvocationPolicy: admissionv1.NeverReinvocationPolicy,
			Mutations: []admissionv1.Mutation{{
				PatchType: admissionv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionv1.ApplyConfiguration{
					Expression: fmt.Sprintf(`Object{metadata: Object.metadata{annotations: {%q: "true"}}}`, AnnotationFailJob),
				},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create the admission policy: %w", err)
	}
	j := &JobFault{f: f, namespace: namespace, selector: sel, policy: policy.Name, done: make(chan struct{})}
	_, err = adm.MutatingAdmissionPolicyBindings().Create(ctx, &admissionv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy.Name, Labels: map[string]string{faultLabel: "fail-job"}},
		Spec: admissionv1.MutatingAdmissionPolicyBindingSpec{
			PolicyName: policy.Name,
			MatchResources: &admissionv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: namespace}},
				ObjectSelector:    &metav1.LabelSelector{MatchLabels: podLabels},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		_ = j.remove(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("create the admission policy binding: %w", err)
	}
	if err := j.waitActive(ctx, podLabels); err != nil {
		_ = j.remove(context.WithoutCancel(ctx))
		return nil, err
	}
	watchCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	j.cancel = cancel
	go j.watch(watchCtx)
	return j, nil
}

// waitActive waits until the API server annotates a pod it admits: a
// dry-run creation of a pod like a Job's.
func (j *JobFault) waitActive(ctx context.Context, podLabels map[string]string) error {
	probeLabels := map[string]string{jobNameLabel: "storeops-fault-probe"}
	for k, v := range podLabels {
		probeLabels[k] = v
	}
	no, yes := false, true
	uid := int64(65534)
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "storeops-fault-probe-", Namespace: j.namespace, Labels: probeLabels},
		Spec: corev1.PodSpec{
			RestartPolicy:   corev1.RestartPolicyNever,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "probe", Image: "storeops.invalid/probe:never-runs",
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
		},
	}
	return j.f.poll(ctx, "the admission policy "+j.policy+" to apply", func(ctx context.Context) (bool, error) {
		got, err := j.f.Client.CoreV1().Pods(j.namespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			// Refusals (a full quota, a policy not yet compiled) can pass.
			return false, transient{err}
		}
		return got.Annotations[AnnotationFailJob] == "true", nil
	})
}

// transient marks an error the poll retries.
type transient struct{ error }

func (t transient) Unwrap() error { return t.error }

// watch removes the policy as soon as a pod got the annotation.
func (j *JobFault) watch(ctx context.Context) {
	defer close(j.done)
	interval := j.f.interval()
	err := wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		pods, err := j.f.Client.CoreV1().Pods(j.namespace).List(ctx, metav1.ListOptions{LabelSelector: j.selector.String()})
		if err != nil {
			return false, nil // retried until the fault is removed
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Annotations[AnnotationFailJob] == "true" {
				j.mu.Lock()
				j.pod = p.DeepCopy()
				j.mu.Unlock()
				return true, nil
			}
		}
		return false, nil
	})
	if err == nil {
		err = j.remove(context.WithoutCancel(ctx))
	}
	if err != nil && !wait.Interrupted(err) && !errors.Is(err, context.Canceled) {
		j.mu.Lock()
		j.err = err
		j.mu.Unlock()
	}
}

// Wait waits until the pod that got the fault has failed and returns it.
func (j *JobFault) Wait(ctx context.Context) (*corev1.Pod, error) {
	var failed *corev1.Pod
	err := j.f.poll(ctx, "a pod of a Job matching "+j.selector.String()+" in "+j.namespace+" to fail", func(ctx context.Context) (bool, error) {
		j.mu.Lock()
		p, werr := j.pod, j.err
		j.mu.Unlock()
		if werr != nil {
			return false, werr
		}
		if p == nil {
			return false, nil
		}
		cur, err := j.f.Client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, fmt.Errorf("pod %s/%s was deleted before it failed", p.Namespace, p.Name)
		}
		if err != nil {
			return false, err
		}
		failed = cur
		return cur.Status.Phase == corev1.PodFailed, nil
	})
	return failed, err
}

// Remove removes the admission policy if it is still there and stops
// watching. It is safe to call more than once.
func (j *JobFault) Remove(ctx context.Context) error {
	if j.cancel != nil {
		j.cancel()
		<-j.done
	}
	j.mu.Lock()
	werr := j.err
	j.mu.Unlock()
	return errors.Join(werr, j.remove(ctx))
}

func (j *JobFault) remove(ctx context.Context) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.removed {
		return nil
	}
	adm := j.f.Client.AdmissionregistrationV1()
	var errs []error
	if err := adm.MutatingAdmissionPolicyBindings().Delete(ctx, j.policy, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err)
	}
	if err := adm.MutatingAdmissionPolicies().Delete(ctx, j.policy, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		j.removed = true
	}
	return errors.Join(errs...)
}
