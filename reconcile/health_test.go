package reconcile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/storeops/storeops/reconcile"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// health reads a fixture of testdata/health and returns its health.
func health(t *testing.T, file string) reconcile.Workload {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "health", file))
	if err != nil {
		t.Fatal(err)
	}
	var kind struct{ Kind string }
	if err := yaml.Unmarshal(data, &kind); err != nil {
		t.Fatal(err)
	}
	switch kind.Kind {
	case "Deployment":
		var d appsv1.Deployment
		mustUnmarshal(t, data, &d)
		return reconcile.DeploymentHealth(&d)
	case "StatefulSet":
		var s appsv1.StatefulSet
		mustUnmarshal(t, data, &s)
		return reconcile.StatefulSetHealth(&s)
	case "Job":
		var j batchv1.Job
		mustUnmarshal(t, data, &j)
		return reconcile.JobHealth(&j)
	case "PersistentVolumeClaim":
		var p corev1.PersistentVolumeClaim
		mustUnmarshal(t, data, &p)
		return reconcile.PVCHealth(&p)
	}
	t.Fatalf("%s: unknown kind %q", file, kind.Kind)
	return reconcile.Workload{}
}

func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatal(err)
	}
}

func TestHealth(t *testing.T) {
	tests := []struct {
		file          string
		ready, failed bool
		message       string
	}{
		{"deployment-ready.yaml", true, false, "2/2 available"},
		{"deployment-old-replicas-terminating.yaml", false, false, "1 old replicas still terminating"},
		{"deployment-new-generation-unseen.yaml", false, false, "waiting for the controller"},
		{"deployment-unavailable.yaml", false, false, "1 of 2 replicas available"},
		{"deployment-progress-deadline.yaml", false, true, "timed out progressing"},
		{"statefulset-ready.yaml", true, false, "1/1 ready"},
		{"statefulset-pod-deleted.yaml", false, false, "0 of 1 replicas ready"},
		{"statefulset-rolling.yaml", false, false, "1 of 2 replicas updated"},
		{"job-running.yaml", false, false, "running"},
		{"job-complete.yaml", true, false, "complete"},
		{"job-failed.yaml", false, true, "BackoffLimitExceeded"},
		{"pvc-bound.yaml", true, false, "Bound"},
		{"pvc-pending.yaml", false, false, "Pending"},
		{"pvc-lost.yaml", false, false, "Lost"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".yaml"), func(t *testing.T) {
			w := health(t, tt.file)
			if w.Ready != tt.ready || w.Failed != tt.failed || !strings.Contains(w.Message, tt.message) {
				t.Errorf("got ready=%v failed=%v %q, want ready=%v failed=%v, message with %q",
					w.Ready, w.Failed, w.Message, tt.ready, tt.failed, tt.message)
			}
		})
	}
}

func TestReadinessMarks(t *testing.T) {
	d := desiredOf(t, three)[0]
	at := now.UTC().Format(time.RFC3339)
	tests := []struct {
		name   string
		change func(o *reconcile.ObservedStore)
		want   map[string]string
	}{
		{name: "recorded already", change: func(*reconcile.ObservedStore) {}},
		{name: "first ready", change: func(o *reconcile.ObservedStore) { o.ReadyRevision, o.DataSince = 0, time.Time{} },
			want: map[string]string{reconcile.AnnotationReadyRevision: "1", reconcile.AnnotationReadyAt: at, reconcile.AnnotationDataSince: at}},
		{name: "new revision ready", change: func(o *reconcile.ObservedStore) { o.Release.Revision = 2 },
			want: map[string]string{reconcile.AnnotationReadyRevision: "2", reconcile.AnnotationReadyAt: at}},
		{name: "new revision not ready", change: func(o *reconcile.ObservedStore) {
			o.Release.Revision = 2
			o.Workloads[0].Ready = false
		}},
		{name: "database ready, the rest not yet", change: func(o *reconcile.ObservedStore) {
			o.ReadyRevision, o.DataSince = 0, time.Time{}
			o.Workloads = []reconcile.Workload{{Kind: "Deployment", Name: "web"}, {Kind: "StatefulSet", Name: "db", Ready: true}}
		}, want: map[string]string{reconcile.AnnotationDataSince: at}},
		{name: "release not deployed", change: func(o *reconcile.ObservedStore) {
			o.ReadyRevision, o.DataSince = 0, time.Time{}
			o.Release.Status = reconcile.StatusPendingUpgrade
		}},
		{name: "not ours", change: func(o *reconcile.ObservedStore) {
			o.ReadyRevision, o.DataSince, o.Owned = 0, time.Time{}, false
		}},
		{name: "terminating", change: func(o *reconcile.ObservedStore) {
			o.ReadyRevision, o.DataSince = 0, time.Time{}
			o.Namespace.DeletionTimestamp = &metav1.Time{Time: now}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := converged(d)
			tt.change(o)
			got := reconcile.ReadinessMarks(o, now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("marks (-want +got):\n%s", diff)
			}
			if got != nil {
				reconcile.ApplyMarks(o, got)
				if again := reconcile.ReadinessMarks(o, now); again != nil {
					t.Errorf("marks still due after applying them: %v", again)
				}
			}
		})
	}
}

func TestInstanceOwns(t *testing.T) {
	a := reconcile.Instance{Name: "a", Key: []byte("0123456789abcdef0123456789abcdef")}
	b := reconcile.Instance{Name: "b", Key: []byte("fedcba9876543210fedcba9876543210")}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "store-x", UID: "u1", Labels: map[string]string{
		"app.kubernetes.io/managed-by": "storeops", reconcile.LabelInstance: "a"}}}
	if a.Owns(ns) {
		t.Fatal("a namespace without proof is owned")
	}
	ns.Annotations = map[string]string{reconcile.AnnotationOwner: a.Seal(ns)}
	if !a.Owns(ns) {
		t.Fatal("a sealed namespace is not owned by its instance")
	}
	ns.Labels[reconcile.LabelInstance] = "b"
	if b.Owns(ns) {
		t.Fatal("relabelling a namespace gives it to another instance")
	}
	ns.Labels[reconcile.LabelInstance] = "a"
	// The proof is bound to the name and the UID: copied to another
	// namespace, or to a new one of the same name, it proves nothing.
	other := ns.DeepCopy()
	other.Name = "store-y"
	again := ns.DeepCopy()
	again.UID = "u2"
	if a.Owns(other) || a.Owns(again) {
		t.Fatal("a copied proof is accepted")
	}
}
