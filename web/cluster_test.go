package web_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/storeops/storeops/web"
)

func clusterObjects() []runtime.Object {
	started := metav1.NewTime(t0.Add(-time.Hour))
	return []runtime.Object{
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "wordpress-7d9", Namespace: "store-alpha"},
			Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "wordpress"}, {Name: "exporter"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "wordpress", Ready: true, RestartCount: 1},
				{Name: "exporter", RestartCount: 4, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
			}},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "mysql-0", Namespace: "store-alpha"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "mysql"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodPending},
		},
		&corev1.Pod{ // another store's pod is never listed
			ObjectMeta: metav1.ObjectMeta{Name: "medusa-0", Namespace: "store-beta"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "medusa"}}},
		},
		&corev1.Event{ // old style: timestamps and count
			ObjectMeta:     metav1.ObjectMeta{Name: "e1", Namespace: "store-alpha"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "wordpress-7d9"},
			Type:           "Warning", Reason: "BackOff", Message: "Back-off restarting failed container",
			Count: 5, FirstTimestamp: metav1.NewTime(t0.Add(-30 * time.Minute)), LastTimestamp: metav1.NewTime(t0.Add(-time.Minute)),
		},
		&corev1.Event{ // new style: event time and series
			ObjectMeta:     metav1.ObjectMeta{Name: "e2", Namespace: "store-alpha"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "mysql-0"},
			Type:           "Normal", Reason: "Scheduled", Message: "Successfully assigned",
			EventTime: metav1.NewMicroTime(t0.Add(-10 * time.Minute)),
			Series:    &corev1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(t0)},
		},
		&corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "e3", Namespace: "store-alpha"},
			InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "wordpress"},
			Type:           "Normal", Reason: "ScalingReplicaSet", Message: "Scaled up",
			EventTime: metav1.NewMicroTime(t0.Add(-2 * time.Hour)),
		},
		&corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "store-quota", Namespace: "store-alpha"},
			Status: corev1.ResourceQuotaStatus{
				Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("10"),
					corev1.ResourceRequestsMemory: resource.MustParse("4Gi")},
				Used: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("500m"), corev1.ResourcePods: resource.MustParse("3")},
			},
		},
	}
}

func TestClusterReader(t *testing.T) {
	ctx := context.Background()
	cr := web.NewClusterReader(fake.NewClientset(clusterObjects()...))

	pods, err := cr.Pods(ctx, "store-alpha")
	if err != nil {
		t.Fatal(err)
	}
	started := t0.Add(-time.Hour)
	want := []web.Pod{
		{Name: "mysql-0", Phase: "Pending", Containers: 1},
		{Name: "wordpress-7d9", Phase: "Running", Reason: "CrashLoopBackOff", Ready: 1, Containers: 2, Restarts: 5, Node: "node-1", Started: &started},
	}
	if diff := cmp.Diff(want, pods); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}

	events, err := cr.Events(ctx, "store-alpha", 2)
	if err != nil {
		t.Fatal(err)
	}
	wantEvents := []web.Event{
		{Type: "Normal", Reason: "Scheduled", Message: "Successfully assigned", Object: "Pod/mysql-0", Count: 2, LastTime: t0},
		{Type: "Warning", Reason: "BackOff", Message: "Back-off restarting failed container", Object: "Pod/wordpress-7d9", Count: 5, LastTime: t0.Add(-time.Minute)},
	}
	if diff := cmp.Diff(wantEvents, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if all, _ := cr.Events(ctx, "store-alpha", 100); len(all) != 3 {
		t.Errorf("%d events, want 3", len(all))
	}

	quota, err := cr.QuotaUsage(ctx, "store-alpha")
	if err != nil {
		t.Fatal(err)
	}
	wantQuota := []web.QuotaUsage{
		{Quota: "store-quota", Resource: "pods", Used: "3", Hard: "10"},
		{Quota: "store-quota", Resource: "requests.cpu", Used: "500m", Hard: "2"},
		{Quota: "store-quota", Resource: "requests.memory", Used: "0", Hard: "4Gi"},
	}
	if diff := cmp.Diff(wantQuota, quota); diff != "" {
		t.Errorf("quota (-want +got):\n%s", diff)
	}

	// An empty namespace gives empty lists.
	if pods, err := cr.Pods(ctx, "store-empty"); err != nil || len(pods) != 0 {
		t.Errorf("empty namespace: %v, %v", pods, err)
	}
}

func TestClusterReaderRefusesOtherNamespaces(t *testing.T) {
	client := fake.NewClientset(clusterObjects()...)
	cr := web.NewClusterReader(client)
	ctx := context.Background()
	for _, ns := range []string{"", "default", "kube-system", "store-", "store-Alpha", "store-a/b", "storeops", "xstore-alpha", "store-" + string(make([]byte, 60))} {
		_, err1 := cr.Pods(ctx, ns)
		_, err2 := cr.Events(ctx, ns, 10)
		_, err3 := cr.QuotaUsage(ctx, ns)
		for _, err := range []error{err1, err2, err3} {
			if !errors.Is(err, web.ErrNamespace) {
				t.Errorf("namespace %q: %v, want ErrNamespace", ns, err)
			}
		}
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("%d API calls for refused namespaces", n)
	}
}

func TestClusterReaderErrors(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	cr := web.NewClusterReader(client)
	ctx := context.Background()
	_, err1 := cr.Pods(ctx, "store-alpha")
	_, err2 := cr.Events(ctx, "store-alpha", 10)
	_, err3 := cr.QuotaUsage(ctx, "store-alpha")
	for _, err := range []error{err1, err2, err3} {
		if !errors.Is(err, web.ErrCluster) {
			t.Errorf("%v, want ErrCluster", err)
		}
	}
}

func TestStorePodsThroughClientGo(t *testing.T) {
	e := start(t, func(c *web.Config) { c.Cluster = web.NewClusterReader(fake.NewClientset(clusterObjects()...)) })
	r := e.get("/api/v1/stores/alpha/pods")
	wantJSON(t, r, 200)
	var pl web.PodList
	r.decode(t, &pl)
	if len(pl.Pods) != 2 || pl.Namespace != "store-alpha" {
		t.Errorf("%+v", pl)
	}
	r = e.get("/api/v1/stores/alpha/quota")
	wantJSON(t, r, 200)
	r = e.get("/api/v1/stores/beta/events")
	wantJSON(t, r, 200)
	if !strings.Contains(r.body, `"events":[]`) {
		t.Errorf("no events should be []: %s", r.body)
	}
}
