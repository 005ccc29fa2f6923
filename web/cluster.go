package web

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/storeops/storeops/render"
)

// ClusterReader reads the live pods, events and quota usage of a store
// namespace. It only reads. Implementations refuse any namespace that is
// not "store-<valid store name>" with ErrNamespace.
type ClusterReader interface {
	// Pods lists the pods of namespace, sorted by name.
	Pods(ctx context.Context, namespace string) ([]Pod, error)
	// Events lists at most limit events of namespace, newest first.
	Events(ctx context.Context, namespace string, limit int) ([]Event, error)
	// QuotaUsage lists used and hard amounts per resource of the
	// namespace's ResourceQuotas.
	QuotaUsage(ctx context.Context, namespace string) ([]QuotaUsage, error)
}

// Pod is the state of one pod, as the dashboard shows it.
type Pod struct {
	Name string `json:"name"`
	// Phase is Kubernetes' pod phase: Pending, Running, Succeeded,
	// Failed, Unknown.
	Phase string `json:"phase"`
	// Reason is why a container is waiting or the pod failed, such as
	// CrashLoopBackOff or Evicted; empty when all is well.
	Reason string `json:"reason,omitempty"`
	// Ready counts the ready containers, Containers all of them (init
	// containers excluded).
	Ready      int `json:"ready"`
	Containers int `json:"containers"`
	// Restarts sums the restarts of the containers.
	Restarts int32  `json:"restarts"`
	Node     string `json:"node,omitempty"`
	// Started is when the kubelet acknowledged the pod; nil before.
	Started *time.Time `json:"started,omitempty"`
}

// Event is one Kubernetes event of a store namespace.
type Event struct {
	// Type is Normal or Warning.
	Type    string `json:"type"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// Object is the object the event is about, "Kind/name".
	Object string `json:"object"`
	// Count is how many times the event occurred.
	Count int32 `json:"count"`
	// LastTime is when it last occurred.
	LastTime time.Time `json:"lastTime"`
}

// QuotaUsage is the use of one resource against a ResourceQuota's hard
// limit, as Kubernetes quantities ("500m", "2Gi").
type QuotaUsage struct {
	Quota    string `json:"quota"`
	Resource string `json:"resource"`
	Used     string `json:"used"`
	Hard     string `json:"hard"`
}

// maxEventList bounds how many events one Events call reads from the API
// server before sorting them.
const maxEventList = 1000

// NewClusterReader returns a ClusterReader that reads through client.
// Each call is one List request; nothing is cached.
func NewClusterReader(client kubernetes.Interface) ClusterReader {
	return &kubeReader{client: client}
}

type kubeReader struct {
	client kubernetes.Interface
}

var _ ClusterReader = (*kubeReader)(nil)

// CheckNamespace returns nil when namespace is a store namespace,
// "store-" followed by a valid store name, or an error wrapping
// ErrNamespace.
func CheckNamespace(namespace string) error {
	name, ok := strings.CutPrefix(namespace, render.NamespacePrefix)
	if !ok || render.CheckName(name) != "" {
		return fmt.Errorf("%w: %q", ErrNamespace, namespace)
	}
	return nil
}

func (k *kubeReader) Pods(ctx context.Context, namespace string) ([]Pod, error) {
	if err := CheckNamespace(namespace); err != nil {
		return nil, err
	}
	list, err := k.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: list pods in %s: %w", ErrCluster, namespace, err)
	}
	pods := make([]Pod, 0, len(list.Items))
	for i := range list.Items {
		pods = append(pods, podOf(&list.Items[i]))
	}
	slices.SortFunc(pods, func(a, b Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods, nil
}

func podOf(p *corev1.Pod) Pod {
	out := Pod{
		Name:       p.Name,
		Phase:      string(p.Status.Phase),
		Reason:     p.Status.Reason,
		Containers: len(p.Spec.Containers),
		Node:       p.Spec.NodeName,
	}
	if p.Status.StartTime != nil {
		t := p.Status.StartTime.UTC()
		out.Started = &t
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.Ready {
			out.Ready++
		}
		out.Restarts += c.RestartCount
		if out.Reason == "" && c.State.Waiting != nil {
			out.Reason = c.State.Waiting.Reason
		}
		if out.Reason == "" && c.State.Terminated != nil && c.State.Terminated.ExitCode != 0 {
			out.Reason = c.State.Terminated.Reason
		}
	}
	return out
}

func (k *kubeReader) Events(ctx context.Context, namespace string, limit int) ([]Event, error) {
	if err := CheckNamespace(namespace); err != nil {
		return nil, err
	}
	list, err := k.client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{Limit: maxEventList})
	if err != nil {
		return nil, fmt.Errorf("%w: list events in %s: %w", ErrCluster, namespace, err)
	}
	events := make([]Event, 0, len(list.Items))
	for i := range list.Items {
		events = append(events, eventOf(&list.Items[i]))
	}
	slices.SortStableFunc(events, func(a, b Event) int { return b.LastTime.Compare(a.LastTime) })
	if limit > 0 && len(events) > limit {
		events = events[:limit]
	}
	return events, nil
}

func eventOf(e *corev1.Event) Event {
	out := Event{
		Type:    e.Type,
		Reason:  e.Reason,
		Message: e.Message,
		Object:  e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name,
		Count:   max(e.Count, 1),
	}
	if e.Series != nil {
		out.Count = max(out.Count, e.Series.Count)
	}
	// Newer reporters fill EventTime and Series, older ones the
	// timestamps; take the latest known.
	for _, t := range []time.Time{e.CreationTimestamp.Time, e.FirstTimestamp.Time, e.EventTime.Time, e.LastTimestamp.Time} {
		if t.After(out.LastTime) {
			out.LastTime = t
		}
	}
	if e.Series != nil && e.Series.LastObservedTime.After(out.LastTime) {
		out.LastTime = e.Series.LastObservedTime.Time
	}
	out.LastTime = out.LastTime.UTC()
	return out
}

func (k *kubeReader) QuotaUsage(ctx context.Context, namespace string) ([]QuotaUsage, error) {
	if err := CheckNamespace(namespace); err != nil {
		return nil, err
	}
	list, err := k.client.CoreV1().ResourceQuotas(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: list resource quotas in %s: %w", ErrCluster, namespace, err)
	}
	var usage []QuotaUsage
	for _, q := range list.Items {
		for res, hard := range q.Status.Hard {
			u := QuotaUsage{Quota: q.Name, Resource: string(res), Hard: hard.String(), Used: "0"}
			if used, ok := q.Status.Used[res]; ok {
				u.Used = used.String()
			}
			usage = append(usage, u)
		}
	}
	slices.SortFunc(usage, func(a, b QuotaUsage) int {
		return cmp.Or(strings.Compare(a.Quota, b.Quota), strings.Compare(a.Resource, b.Resource))
	})
	return usage, nil
}
