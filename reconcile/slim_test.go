package reconcile

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The caches keep of a workload what health and drift read, and not its
// pod template: the same health and images before and after, nothing else
// of the template.
func TestSlimKeepsWhatHealthAndDriftRead(t *testing.T) {
	three := int32(3)
	template := func() corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}, Annotations: map[string]string{"checksum": "abc"}},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "migrate", Image: "medusa:2.8.4", Command: []string{"npx", "medusa", "db:migrate"}}},
				Containers: []corev1.Container{{Name: "server", Image: "medusa:2.8.4",
					Env:            []corev1.EnvVar{{Name: "DATABASE_URL", Value: "postgres://..."}},
					ReadinessProbe: &corev1.Probe{InitialDelaySeconds: 5}}},
				Volumes: []corev1.Volume{{Name: "uploads"}},
			},
		}
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "server", Generation: 2},
		Spec:   appsv1.DeploymentSpec{Replicas: &three, Template: template()},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}}
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Generation: 1},
		Spec:   appsv1.StatefulSetSpec{Replicas: &three, Template: template(), VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{}}},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "a", UpdateRevision: "a"}}
	d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Message: "exceeded quota"}}
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "setup"}, Spec: batchv1.JobSpec{Template: template()},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Message: "BackoffLimitExceeded"}}}}

	cron := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "wp-cron-1", OwnerReferences: []metav1.OwnerReference{{Kind: "CronJob", Name: "wp-cron"}}},
		Spec: batchv1.JobSpec{Template: template()}}
	wantD, wantS, wantJ := DeploymentHealth(d), StatefulSetHealth(s), JobHealth(j)
	wantImages := containerImages(d.Spec.Template.Spec)
	for _, obj := range []any{d, s, j, cron} {
		if _, err := slim(obj); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(wantD, DeploymentHealth(d)); diff != "" {
		t.Errorf("Deployment health (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(wantS, StatefulSetHealth(s)); diff != "" {
		t.Errorf("StatefulSet health (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(wantJ, JobHealth(j)); diff != "" {
		t.Errorf("Job health (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(wantImages, containerImages(d.Spec.Template.Spec)); diff != "" {
		t.Errorf("images (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(wantImages, containerImages(s.Spec.Template.Spec)); diff != "" {
		t.Errorf("StatefulSet images (-before +after):\n%s", diff)
	}
	if *d.Spec.Replicas != 3 || *s.Spec.Replicas != 3 {
		t.Error("replicas dropped")
	}
	if !madeByCronJob(cron) {
		t.Error("a CronJob's run no longer says so")
	}
	kept := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "migrate", Image: "medusa:2.8.4"}},
		Containers:     []corev1.Container{{Name: "server", Image: "medusa:2.8.4"}}}}
	if diff := cmp.Diff(kept, d.Spec.Template); diff != "" {
		t.Errorf("Deployment template kept (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(kept, s.Spec.Template); diff != "" || s.Spec.VolumeClaimTemplates != nil {
		t.Errorf("StatefulSet template kept (-want +got):\n%s; claim templates %v", diff, s.Spec.VolumeClaimTemplates)
	}
	if diff := cmp.Diff(corev1.PodTemplateSpec{}, j.Spec.Template); diff != "" {
		t.Errorf("Job template kept:\n%s", diff)
	}
}
