package reconcile_test

import (
	"strings"
	"testing"

	"github.com/storeops/storeops/reconcile"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// A Deployment whose pods the API server refuses (quota admission) says
// why it has no replicas; a ready one says nothing of an old failure.
func TestDeploymentHealthShowsRefusedPods(t *testing.T) {
	one := int32(1)
	refusal := `pods "shop-wordpress-5d8f" is forbidden: exceeded quota: tight, requested: pods=1, used: pods=0, limited: pods=0`
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &one}, Status: appsv1.DeploymentStatus{
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: refusal}},
	}}
	d.Name = "shop-wordpress"
	w := reconcile.DeploymentHealth(d)
	if w.Ready || w.Failed || !strings.Contains(w.Message, "pods refused: "+refusal) {
		t.Errorf("refused pods: %+v", w)
	}
	d.Status.UpdatedReplicas, d.Status.AvailableReplicas, d.Status.Replicas = 1, 1, 1
	if w := reconcile.DeploymentHealth(d); !w.Ready || strings.Contains(w.Message, "refused") {
		t.Errorf("ready again: %+v", w)
	}
}
