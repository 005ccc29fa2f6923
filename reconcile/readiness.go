package reconcile

import (
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Annotations on a store's namespace recording what storeops has seen of
// the store's readiness. They live in the cluster, so that they survive
// restarts of storeops (which keeps no database), and they are what makes
// remediation safe: only a release revision that never became Ready is
// ever remediated, and a store that ever held data is never reinstalled.
const (
	// AnnotationReadyRevision is the last Helm release revision whose
	// workloads were all seen Ready.
	AnnotationReadyRevision = "storeops.dev/ready-revision"
	// AnnotationReadyAt is when that revision was first seen Ready.
	AnnotationReadyAt = "storeops.dev/ready-at"
	// AnnotationDataSince is when a workload holding the store's data
	// (a StatefulSet: the database) was first seen Ready.
	AnnotationDataSince = "storeops.dev/data-since"
)

// readinessMarks reads the marks of a namespace.
func readinessMarks(ns *corev1.Namespace) (readyRevision int, dataSince time.Time) {
	if rev, err := strconv.Atoi(ns.Annotations[AnnotationReadyRevision]); err == nil && rev > 0 {
		readyRevision = rev
	}
	if t, err := time.Parse(time.RFC3339, ns.Annotations[AnnotationDataSince]); err == nil {
		dataSince = t
	}
	return readyRevision, dataSince
}

// ReadinessMarks returns the annotations to add to the store's namespace
// for what o shows now, or nil when its marks are up to date. It is pure:
// the caller writes the marks and, until the caches catch up, applies
// them to its view with ApplyMarks.
func ReadinessMarks(o *ObservedStore, now time.Time) map[string]string {
	if o == nil || o.Namespace == nil || !o.Owned || o.Terminating() {
		return nil
	}
	marks := map[string]string{}
	stamp := now.UTC().Format(time.RFC3339)
	if rel := o.Release; rel != nil && rel.Status == StatusDeployed && rel.Revision != o.ReadyRevision && o.AllReady() {
		marks[AnnotationReadyRevision] = strconv.Itoa(rel.Revision)
		marks[AnnotationReadyAt] = stamp
	}
	if o.DataSince.IsZero() {
		for _, w := range o.Workloads {
			if w.Kind == "StatefulSet" && w.Ready {
				marks[AnnotationDataSince] = stamp
				break
			}
		}
		if _, ok := marks[AnnotationReadyRevision]; ok {
			marks[AnnotationDataSince] = stamp
		}
	}
	if len(marks) == 0 {
		return nil
	}
	return marks
}

// ApplyMarks updates o's view with marks just written.
func ApplyMarks(o *ObservedStore, marks map[string]string) {
	ns := o.Namespace.DeepCopy()
	if ns.Annotations == nil {
		ns.Annotations = map[string]string{}
	}
	for k, v := range marks {
		ns.Annotations[k] = v
	}
	o.Namespace = ns
	o.ReadyRevision, o.DataSince = readinessMarks(ns)
}
