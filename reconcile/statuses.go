package reconcile

import (
	"fmt"
	"time"

	"github.com/storeops/storeops/render"
)

// storeStatus derives the published status of a declared store. Called
// with r.mu held.
func (r *Reconciler) storeStatus(d *render.Desired, o *ObservedStore, now time.Time) StoreStatus {
	s := d.Store
	st := StoreStatus{
		Name: s.Name, Type: string(s.Type), Plan: string(s.Plan), Domain: s.Domain,
		Namespace: s.Namespace(), Declared: true, Workloads: []Workload{}, URLs: urls(s),
		LastAction: r.lastAction[s.Name],
	}
	if r.ReplicaOf != nil {
		st.Replica = r.ReplicaOf(s.Name)
	}
	st.Cluster = s.Cluster
	o = o.On(s.Cluster)
	if o != nil && o.Namespace != nil {
		st.Cluster = o.Cluster
	}
	if st.LastAction != nil {
		st.LastError = st.LastAction.Error
	}
	var released, isolated bool
	if o != nil {
		st.Workloads = append(st.Workloads, o.Workloads...)
		if rel := o.Release; rel != nil {
			st.ReleaseRevision, st.ReleaseStatus, st.ChartVersion = rel.Revision, rel.Status, rel.ChartVersion
			st.AppliedRevision = rel.GitRevision
			released = rel.Status == StatusDeployed && rel.ValuesChecksum == d.Release.Checksum &&
				(r.ChartVersions[s.Type] == "" || rel.ChartVersion == r.ChartVersions[s.Type])
		}
		isolated = o.Namespace != nil && IsolationDiff(d, o) == ""
	}
	st.Phase, st.Message = r.phase(d, o, released, now)

	prev := r.prev[s.Name]
	st.Since = now
	if prev.Phase == st.Phase && !prev.Since.IsZero() {
		st.Since = prev.Since
	}
	cond := func(typ string, status bool, reason, msg string) Condition {
		c := Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransition: now}
		for _, p := range prev.Conditions {
			if p.Type == typ && p.Status == status {
				c.LastTransition = p.LastTransition
			}
		}
		return c
	}
	st.Conditions = []Condition{
		cond(CondReady, st.Phase == PhaseReady, string(st.Phase), st.Message),
		cond(CondReleased, released, releasedReason(o, released), ""),
		cond(CondIsolated, isolated, map[bool]string{true: "InPlace", false: "Drifted"}[isolated], ""),
		cond(CondSuspended, s.Suspend, map[bool]string{true: "Suspended", false: "Active"}[s.Suspend], ""),
	}
	return st
}

func releasedReason(o *ObservedStore, released bool) string {
	switch {
	case released:
		return "UpToDate"
	case o == nil || o.Release == nil:
		return "NotInstalled"
	case o.Release.Status != StatusDeployed:
		return "Release" + o.Release.Status
	}
	return "OutOfDate"
}

// phase decides the phase of a declared store and a one-line message.
func (r *Reconciler) phase(d *render.Desired, o *ObservedStore, released bool, now time.Time) (Phase, string) {
	name := d.Store.Name
	lastErr := ""
	if l := r.lastAction[name]; l != nil {
		lastErr = l.Error
	}
	if d.Store.Suspend {
		return PhaseSuspended, "suspended in stores.yaml; storeops leaves it alone"
	}
	if kind, ok := r.running[name]; ok {
		return PhaseProvisioning, fmt.Sprintf("%s in progress", kind)
	}
	if why := HeldReason(d, o, r.Policy.Clusters); why != "" {
		return PhaseHeld, why
	}
	if reason, ok := r.blocked[name]; ok {
		return PhaseBlocked, reason
	}
	if _, ok := r.stalled[name]; ok && lastErr != "" {
		return PhaseBlocked, "last action failed and retrying cannot help; fix the cause, then change stores.yaml or the cluster: " + lastErr
	}
	if lastErr != "" && !settled(d, o, released) {
		msg := "last action failed: " + lastErr
		if rt, ok := r.retries[name]; ok && now.Before(rt.NotBefore) {
			msg += fmt.Sprintf(" (retry in %s)", rt.NotBefore.Sub(now).Round(time.Second))
		}
		return PhaseFailed, msg
	}
	if o == nil || o.Namespace == nil {
		return PhasePending, "not created yet"
	}
	if o.Terminating() {
		return PhasePending, "waiting for the namespace of an earlier store of this name to be deleted"
	}
	rel := o.Release
	switch {
	case rel == nil:
		return PhasePending, "release not installed yet"
	case rel.Status == StatusFailed:
		return PhaseFailed, fmt.Sprintf("release revision %d failed", rel.Revision)
	case pending(rel.Status):
		return PhaseProvisioning, "release " + rel.Status
	}
	var notReady, failed []string
	for _, w := range o.Workloads {
		if w.Failed {
			failed = append(failed, w.Kind+"/"+w.Name+": "+w.Message)
		} else if !w.Ready {
			notReady = append(notReady, w.Kind+"/"+w.Name+": "+w.Message)
		}
	}
	switch {
	case len(failed) > 0:
		return PhaseFailed, joinNonEmpty(failed...)
	case len(notReady) == 0 && released:
		return PhaseReady, fmt.Sprintf("%d workloads ready", len(o.Workloads))
	case len(notReady) == 0:
		return PhaseProvisioning, "release out of date; an upgrade is due"
	}
	if p := r.prev[name].Phase; p == PhaseReady || p == PhaseDegraded || (o.ReadyRevision > 0 && o.ReadyRevision == rel.Revision) {
		return PhaseDegraded, "was Ready, is not now (storeops waits; it never reinstalls a store that served): " + joinNonEmpty(notReady...)
	}
	if r.Policy.ReadyTimeout > 0 && now.Sub(rel.Updated) > r.Policy.ReadyTimeout {
		return PhaseFailed, fmt.Sprintf("not ready %s after revision %d: %s", r.Policy.ReadyTimeout, rel.Revision, joinNonEmpty(notReady...))
	}
	return PhaseProvisioning, joinNonEmpty(notReady...)
}

// orphanStatus is the status of a managed store no longer declared.
func (r *Reconciler) orphanStatus(o *ObservedStore, now time.Time) StoreStatus {
	st := StoreStatus{
		Name: o.Name, Namespace: render.NamespacePrefix + o.Name, Declared: false,
		Workloads: append([]Workload{}, o.Workloads...), Conditions: []Condition{},
		LastAction: r.lastAction[o.Name], Since: now, Cluster: o.Cluster,
	}
	if o.Namespace != nil {
		st.Type, st.Plan = o.Namespace.Labels[render.LabelType], o.Namespace.Labels[render.LabelPlan]
	}
	if o.Release != nil {
		st.ReleaseRevision, st.ReleaseStatus, st.ChartVersion = o.Release.Revision, o.Release.Status, o.Release.ChartVersion
	}
	switch {
	case !o.Owned && !o.Terminating():
		st.Phase, st.Message = PhaseBlocked, "namespace carries storeops' labels but was not created by this instance: never adopted or deleted"
	case r.revision == "":
		st.Phase, st.Message = PhaseUnknown, "no revision of stores.yaml is known yet; nothing is applied or deleted until one is"
	case r.Policy.Clusters != nil && r.Policy.Clusters.Down(o.Cluster) != "":
		st.Phase, st.Message = PhaseHeld, "no longer declared; deletion held: "+r.Policy.Clusters.Down(o.Cluster)
	case o.Terminating() || r.running[o.Name] == ActDelete:
		st.Phase, st.Message = PhaseDeleting, "no longer declared; deleting"
	case r.refused != nil && r.refused.Reason == "MassDeletion":
		st.Phase, st.Message = PhaseDeleting, "no longer declared; deletion held back by the mass-deletion guard"
	default:
		st.Phase, st.Message = PhaseDeleting, "no longer declared; deletion due at the next sync"
	}
	if st.LastAction != nil {
		st.LastError = st.LastAction.Error
	}
	if p := r.prev[o.Name]; p.Phase == st.Phase && !p.Since.IsZero() {
		st.Since = p.Since
	}
	return st
}

// urls are the public addresses of a store.
func urls(s render.Store) URLs {
	scheme := "http"
	if s.Options.TLSSecret != "" {
		scheme = "https"
	}
	base := scheme + "://" + s.Domain
	switch s.Type {
	case render.Medusa:
		return URLs{Store: base + "/", Admin: base + "/app"}
	default:
		return URLs{Store: base + "/", Admin: base + "/wp-admin/"}
	}
}
