package reconcile

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// DeploymentHealth: ready when the controller has seen the newest spec and
// every wanted replica is updated and available.
func DeploymentHealth(d *appsv1.Deployment) Workload {
	w := Workload{Kind: "Deployment", Name: d.Name}
	want := replicasOr1(d.Spec.Replicas)
	st := d.Status
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			w.Failed, w.Message = true, c.Message
			return w
		}
	}
	switch {
	case st.ObservedGeneration < d.Generation:
		w.Message = "waiting for the controller to see the new spec"
	case st.UpdatedReplicas < want:
		w.Message = fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		w.Message = fmt.Sprintf("%d old replicas still terminating", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < want:
		w.Message = fmt.Sprintf("%d of %d replicas available", st.AvailableReplicas, want)
	default:
		w.Ready = true
		w.Message = fmt.Sprintf("%d/%d available", st.AvailableReplicas, want)
	}
	if !w.Ready {
		// Pods the API server refuses (a ResourceQuota or LimitRange they
		// do not fit) show only here: say why the replicas are missing.
		for _, c := range st.Conditions {
			if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue && c.Message != "" {
				w.Message += "; pods refused: " + c.Message
			}
		}
	}
	return w
}

// StatefulSetHealth: ready when every wanted replica is ready and on the
// current revision.
func StatefulSetHealth(s *appsv1.StatefulSet) Workload {
	w := Workload{Kind: "StatefulSet", Name: s.Name}
	want := replicasOr1(s.Spec.Replicas)
	st := s.Status
	switch {
	case st.ObservedGeneration < s.Generation:
		w.Message = "waiting for the controller to see the new spec"
	case st.ReadyReplicas < want:
		w.Message = fmt.Sprintf("%d of %d replicas ready", st.ReadyReplicas, want)
	case st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision && st.UpdatedReplicas < want:
		w.Message = fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
	default:
		w.Ready = true
		w.Message = fmt.Sprintf("%d/%d ready", st.ReadyReplicas, want)
	}
	return w
}

// JobHealth: ready when complete, failed when failed.
func JobHealth(j *batchv1.Job) Workload {
	w := Workload{Kind: "Job", Name: j.Name, Message: "running"}
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			w.Ready, w.Message = true, "complete"
		case batchv1.JobFailed:
			w.Failed, w.Message = true, "failed: "+c.Reason+": "+c.Message
		}
	}
	return w
}

// PVCHealth: ready when bound. A Lost claim is not ready, and not counted
// as failed: the volume controller marks a claim Lost when its informer
// has not seen the bound volume yet (a provisioner faster than the
// controller's cache, a busy control plane) and binds it again once it
// has; the message says so, and storeops never acts on a claim's volume.
func PVCHealth(p *corev1.PersistentVolumeClaim) Workload {
	w := Workload{Kind: "PersistentVolumeClaim", Name: p.Name, Message: string(p.Status.Phase)}
	w.Ready = p.Status.Phase == corev1.ClaimBound
	if p.Status.Phase == corev1.ClaimLost {
		w.Message = "Lost: its volume " + p.Spec.VolumeName + " is not found; the volume controller binds it again if it appears"
	}
	return w
}
