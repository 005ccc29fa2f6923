package reconcile

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/storeops/storeops/internal/manifestdiff"
	"github.com/storeops/storeops/render"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

// ActionKind is what an action does to a store.
type ActionKind string

// The kinds of action.
const (
	// ActInstall creates the namespace, quota, limit range, network
	// policy and credentials Secret if absent, then installs the release.
	ActInstall ActionKind = "install"
	// ActUpgrade upgrades the release to the desired chart and values, or
	// re-applies it when its objects were changed or deleted by hand.
	ActUpgrade ActionKind = "upgrade"
	// ActRepair puts back a namespace's labels, quota, limit range,
	// network policy or credentials Secret.
	ActRepair ActionKind = "repair"
	// ActUnlock clears a release stuck in a pending state by a crash:
	// it rolls back to the last deployed revision, or uninstalls a release
	// that never deployed.
	ActUnlock ActionKind = "unlock"
	// ActReinstall uninstalls a release whose installation failed, then
	// installs it again.
	ActReinstall ActionKind = "reinstall"
	// ActRollback rolls a failed upgrade back to the last deployed
	// revision; the upgrade is retried after a backoff.
	ActRollback ActionKind = "rollback"
	// ActDelete uninstalls the release of a store no longer declared, then
	// deletes its namespace.
	ActDelete ActionKind = "delete"
	// ActBlock changes nothing: the store needs a person (a namespace this
	// instance did not create, credentials deleted while the store's data
	// exists, an installation that never became Ready but holds data). The
	// reason says what to do.
	ActBlock ActionKind = "block"
	// ActMark records readiness on the store's namespace (see
	// ReadinessMarks); it is not planned, the reconciler writes marks as
	// soon as it sees them due.
	ActMark ActionKind = "mark"
)

// Action is one step of a plan, for one store.
type Action struct {
	Kind  ActionKind
	Store string
	// Reason says why, in a sentence.
	Reason string
	// Diff shows what changes (go-cmp, "-live +desired"), when known.
	Diff string
	// Desired is the store's desired state; nil for ActDelete.
	Desired *render.Desired
	// Observed is what lives in the cluster; nil when nothing does.
	Observed *ObservedStore
	// Marks are the annotations an ActMark adds.
	Marks map[string]string
	// LabelMarks are the labels an ActMark sets (see StatusLabels).
	LabelMarks map[string]string
}

// String is "kind store: reason".
func (a Action) String() string { return fmt.Sprintf("%s %s: %s", a.Kind, a.Store, a.Reason) }

// Retry is the remediation state of one store: how often its action failed
// in a row and when it may be tried again.
type Retry struct {
	Failures  int
	NotBefore time.Time
}

// Policy holds the knobs of Plan. It is plain data so that Plan stays
// pure.
type Policy struct {
	// Now is the time the plan is made at.
	Now time.Time
	// ChartVersions is the version of each embedded chart.
	ChartVersions map[render.Type]string
	// MaxDeleteShare is the largest share (0 to 1) of the managed stores a
	// plan may delete at once without confirmation; one store may always
	// be deleted.
	MaxDeleteShare float64
	// ConfirmDeletions lifts the mass-deletion guard for this plan.
	ConfirmDeletions bool
	// StuckAfter is how long a release may stay pending before it is
	// considered left behind by a crash and unlocked.
	StuckAfter time.Duration
	// ReadyTimeout is how long a store may take to become ready after its
	// release changed before it counts as failed.
	ReadyTimeout time.Duration
	// Retries holds the backoff state per store.
	Retries map[string]Retry
	// Instance is the name of this storeops instance: a release left
	// pending by it is unlocked at once, since the caller holds the Lease
	// and nothing else of this instance can be working on it.
	Instance string
	// Stalled holds, per store, the StallKey at which an action failed in
	// a way retrying cannot fix; the store is left alone until its desired
	// or observed state changes.
	Stalled map[string]string
	// Clusters, when set, tells which target clusters storeops may act on
	// now and which moves between them a person confirmed (several target
	// clusters; see Clusters). Nil: one cluster, always there.
	Clusters ClusterView
}

// ClusterView is what the plan needs to know of the target clusters.
// Cluster names are render.Store.Cluster's: "" is the local one.
type ClusterView interface {
	// Down says why storeops cannot act on cluster now (not registered,
	// unreachable, its caches not filled yet); "" when it can.
	Down(cluster string) string
	// Unseen names a registered cluster whose stores are not known yet
	// (never observed since the start); "" when every one was. A store
	// found nowhere may live there.
	Unseen() string
	// MoveConfirmed reports whether a person confirmed moving store from
	// one cluster to another (storeops confirm-move).
	MoveConfirmed(store, from, to string) bool
}

// DefaultPolicy returns the defaults used by storeops serve.
func DefaultPolicy() Policy {
	return Policy{MaxDeleteShare: 0.5, StuckAfter: 10 * time.Minute, ReadyTimeout: 20 * time.Minute}
}

// MassDeletionError is returned by Plan when the plan would delete more
// stores than the policy allows without confirmation. No action is
// returned with it: the plan is refused as a whole.
type MassDeletionError struct {
	Deletes, Managed, Allowed int
	Stores                    []string
	// Judged, when set, is the refusal another replica recorded for the
	// revision (Reconciler.Judge): the counts are then not this replica's.
	Judged string
}

func (e *MassDeletionError) Error() string {
	if e.Judged != "" {
		return e.Judged
	}
	return fmt.Sprintf("refusing to delete %d of %d stores (%s): more than the %d allowed at once without confirmation",
		e.Deletes, e.Managed, strings.Join(e.Stores, ", "), e.Allowed)
}

// Plan decides what to do to make observed match desired. It is pure: no
// I/O, no clock (policy.Now), no randomness. Actions come sorted by store
// name, at most one per store.
func Plan(desired []render.Desired, observed Observed, policy Policy) ([]Action, error) {
	var actions []Action
	declared := make(map[string]bool, len(desired))
	for i := range desired {
		d := &desired[i]
		declared[d.Store.Name] = true
		if a, ok := planStore(d, observed.Stores[d.Store.Name], policy); ok {
			actions = append(actions, a)
		}
	}

	managed, deletes := 0, []string{}
	for name, o := range observed.Stores {
		if o.Terminating() || !o.Owned {
			continue // being deleted, or not ours to delete
		}
		managed++
		if !declared[name] {
			deletes = append(deletes, name) // held or not, the guard counts it
			if a, ok := PlanStore(name, nil, o, policy); ok {
				actions = append(actions, a)
			}
		}
	}
	sort.Strings(deletes)
	allowed := max(1, int(math.Floor(policy.MaxDeleteShare*float64(managed))))
	if len(deletes) > allowed && !policy.ConfirmDeletions {
		return nil, &MassDeletionError{Deletes: len(deletes), Managed: managed, Allowed: allowed, Stores: deletes}
	}
	sort.SliceStable(actions, func(i, j int) bool { return actions[i].Store < actions[j].Store })
	return actions, nil
}

// PlanStore decides the one action one store needs, if any: d is its
// desired state (nil when stores.yaml does not declare it), o what lives in
// the cluster (nil when nothing does). Plan calls it for every store of a
// revision; the work queue calls it for the one store it acts on. It does
// not apply the mass-deletion guard, which judges a revision as a whole:
// call it with a nil d only under a revision Plan accepted.
func PlanStore(name string, d *render.Desired, o *ObservedStore, p Policy) (Action, bool) {
	if d != nil {
		return planStore(d, o, p)
	}
	if o == nil || o.Namespace == nil || o.Terminating() || !o.Owned {
		return Action{}, false // nothing, being deleted, or not ours to delete
	}
	if p.Clusters != nil && p.Clusters.Down(o.Cluster) != "" {
		return Action{}, false // its cluster holds it until it is back
	}
	return Action{Kind: ActDelete, Store: name, Observed: o, Reason: "store is no longer declared in stores.yaml"}, true
}

// NextCheck is the earliest time after p.Now at which the plan of a store
// may change with nothing but the clock: its backoff ends, its pending
// release counts as stuck, its revision's ready timeout passes. Zero when
// no such time exists. The work queue looks at the store again then.
func NextCheck(d *render.Desired, o *ObservedStore, p Policy) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(p.Now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if d == nil {
		return next
	}
	if r, ok := p.Retries[d.Store.Name]; ok {
		consider(r.NotBefore)
	}
	if o == nil || o.Release == nil {
		return next
	}
	rel := o.Release
	switch {
	case pending(rel.Status) || rel.Status == StatusUninstalling:
		consider(rel.Updated.Add(p.StuckAfter))
	case p.ReadyTimeout > 0 && rel.Status == StatusDeployed && !o.AllReady() && rel.Revision != o.ReadyRevision:
		consider(rel.Updated.Add(p.ReadyTimeout))
	}
	return next
}

// planStore decides the one action a declared store needs, if any.
func planStore(d *render.Desired, o *ObservedStore, p Policy) (Action, bool) {
	name := d.Store.Name
	act := func(kind ActionKind, reason, diff string) (Action, bool) {
		return Action{Kind: kind, Store: name, Reason: reason, Diff: diff, Desired: d, Observed: o}, true
	}
	if d.Store.Suspend {
		return Action{}, false
	}
	if p.Clusters != nil {
		o = o.On(d.Store.Cluster)
		if a, decided := planPlacement(d, o, p); decided {
			return a, a.Kind != ""
		}
	}
	if o != nil && o.Namespace != nil && !o.Terminating() {
		if !o.Owned {
			return act(ActBlock, fmt.Sprintf("namespace %s carries storeops' labels but was not created by instance %q: "+
				"storeops will not adopt, change or delete it; delete or rename it by hand if it should hold this store", o.Namespace.Name, p.Instance), "")
		}
		if o.Unsynced && !o.SecretsRefused {
			// Its credentials and release are not known yet: planned
			// from absent ones, it would be installed anew.
			return Action{}, false
		}
		if !o.Unsynced && !o.Credentials && (o.Release != nil || o.Volumes > 0) {
			return act(ActBlock, fmt.Sprintf("Secret %s/%s is gone while the store's release or volumes exist: new passwords "+
				"would not open the existing data, so storeops will not make new ones; restore the Secret from a backup "+
				"(same keys and values) and storeops carries on", o.Namespace.Name, render.CredentialsSecret), "")
		}
	}
	if key, ok := p.Stalled[name]; ok && key == StallKey(d, o) {
		return Action{}, false // a person must act; nothing changed since
	}
	if r, ok := p.Retries[name]; ok && p.Now.Before(r.NotBefore) {
		return Action{}, false // backing off after a failure
	}
	if o == nil || o.Namespace == nil {
		return act(ActInstall, "store is new", "")
	}
	if o.Terminating() {
		return Action{}, false // wait until the old namespace is gone
	}
	if o.Unsynced {
		return act(ActRepair, fmt.Sprintf("storeops may not read the Secrets of namespace %s (credentials, release records): "+
			"bind its store role there", o.Namespace.Name), "")
	}
	rel := o.Release
	if rel != nil && rel.ChartName != "" && rel.ChartName != string(d.Store.Type) {
		// Upgrading to the other chart would make Helm delete this chart's
		// objects, its volume claims (database, uploads) among them.
		return act(ActBlock, fmt.Sprintf("the store runs %s and stores.yaml now says %s: changing a store's type would destroy "+
			"its data, so storeops will not; put the type back, or remove the store from stores.yaml (its data is deleted) "+
			"and add it again in a later revision", rel.ChartName, d.Store.Type), "")
	}
	switch {
	case rel == nil:
		return act(ActInstall, "release is missing", "")
	case pending(rel.Status) || rel.Status == StatusUninstalling:
		if p.Instance != "" && rel.Instance == p.Instance {
			return act(ActUnlock, fmt.Sprintf("release is %s by a run of this instance that ended (crash or restart); "+
				"this run holds the Lease, so nothing else works on it", rel.Status), "")
		}
		if age := p.Now.Sub(rel.Updated); age > p.StuckAfter {
			return act(ActUnlock, fmt.Sprintf("release has been %s for %s, longer than %s: a crash left it locked",
				rel.Status, age.Round(time.Second), p.StuckAfter), "")
		}
		return Action{}, false // someone is working on it
	case rel.Status == StatusFailed && !rel.HasDeployedRevision:
		if o.HeldData() {
			return act(ActUpgrade, fmt.Sprintf("installation failed (revision %d) but the store holds data (%s): "+
				"upgrade in place, never reinstall", rel.Revision, heldDataReason(o)), "")
		}
		return act(ActReinstall, fmt.Sprintf("installation failed (revision %d) and the store never held data; uninstall and install again", rel.Revision), "")
	case rel.Status == StatusFailed:
		return act(ActRollback, fmt.Sprintf("upgrade to revision %d failed; roll back to the last deployed revision", rel.Revision), "")
	}
	if a, ok := remediate(d, o, p); ok {
		return a, true
	}
	if want := p.ChartVersions[d.Store.Type]; want != "" && rel.ChartVersion != want {
		return act(ActUpgrade, fmt.Sprintf("chart %s %s is deployed, %s is embedded", rel.ChartName, rel.ChartVersion, want), "")
	}
	if rel.ValuesChecksum != d.Release.Checksum {
		return act(ActUpgrade, "values changed", valuesDiff(o, d))
	}
	if len(o.Missing) > 0 || len(o.Drifted) > 0 {
		return act(ActUpgrade, driftReason(o), "")
	}
	if diff := IsolationDiff(d, o); diff != "" {
		return act(ActRepair, "namespace isolation drifted", diff)
	}
	return Action{}, false
}

// planPlacement decides what a declared store's target cluster asks for
// before anything else: nothing while that cluster cannot be acted on or
// the store may live on a cluster not observed yet; for a store living on
// another cluster than stores.yaml names, a block, or the deletion from
// the old cluster once a person confirmed the move. decided is false when
// the store is where it belongs and its cluster is there: the usual plan
// follows.
func planPlacement(d *render.Desired, o *ObservedStore, p Policy) (a Action, decided bool) {
	name, want := d.Store.Name, d.Store.Cluster
	if o != nil && o.Namespace != nil && o.Cluster != want {
		from := o.Cluster
		if !p.Clusters.MoveConfirmed(name, from, want) {
			if o.Terminating() {
				return Action{}, true // being deleted there: wait until it is gone
			}
			return Action{Kind: ActBlock, Store: name, Desired: d, Observed: o, Reason: MoveBlockedReason(name, from, want)}, true
		}
		if p.Clusters.Down(from) != "" || o.Terminating() || !o.Owned || o.Unsynced {
			return Action{}, true // the old copy goes first; wait until it can
		}
		return Action{Kind: ActDelete, Store: name, Desired: d, Observed: o,
			Reason: fmt.Sprintf("moving to cluster %s (confirmed): delete it from cluster %s first, then install it on %s",
				render.ClusterName(want), render.ClusterName(from), render.ClusterName(want))}, true
	}
	if p.Clusters.Down(want) != "" {
		return Action{}, true
	}
	if (o == nil || o.Namespace == nil) && p.Clusters.Unseen() != "" {
		return Action{}, true
	}
	return Action{}, false
}

// MoveBlockedReason says why a store living on cluster from is not moved
// to cluster to, and what a person can do.
func MoveBlockedReason(store, from, to string) string {
	f, t := render.ClusterName(from), render.ClusterName(to)
	return fmt.Sprintf("the store lives on cluster %s and stores.yaml places it on %s: moving it deletes it, with its data, from %s "+
		"and installs it anew on %s, so storeops will not unless a person confirms it: put `cluster: %s` back, or run "+
		"`storeops confirm-move %s --from %s --to %s`", f, t, f, t, f, store, f, t)
}

// HeldReason says why a declared store is held by its target cluster
// (see planPlacement), "" when it is not.
func HeldReason(d *render.Desired, o *ObservedStore, c ClusterView) string {
	if c == nil || d == nil {
		return ""
	}
	o = o.On(d.Store.Cluster)
	where := d.Store.Cluster
	if o != nil && o.Namespace != nil {
		where = o.Cluster
	}
	if why := c.Down(where); why != "" {
		return "held: " + why
	}
	if where != d.Store.Cluster {
		return ""
	}
	if u := c.Unseen(); u != "" && (o == nil || o.Namespace == nil) {
		return fmt.Sprintf("held: cluster %s has not been observed yet, and the store may live there", u)
	}
	return ""
}

// remediate decides what to do with a deployed release that is not ready.
// Only a revision that never became Ready is remediated, once its
// ReadyTimeout has passed; a store that was Ready at this revision and is
// not now is Degraded (a drain, a restart) and left to Kubernetes.
func remediate(d *render.Desired, o *ObservedStore, p Policy) (Action, bool) {
	rel := o.Release
	if p.ReadyTimeout <= 0 || o.AllReady() || rel.Revision == o.ReadyRevision || p.Now.Sub(rel.Updated) <= p.ReadyTimeout {
		return Action{}, false
	}
	act := func(kind ActionKind, reason string) (Action, bool) {
		return Action{Kind: kind, Store: d.Store.Name, Reason: reason, Desired: d, Observed: o}, true
	}
	if rel.Revision > 1 && o.ReadyRevision > 0 {
		return act(ActRollback, fmt.Sprintf("revision %d never became Ready in %s; roll back to the last deployed revision", rel.Revision, p.ReadyTimeout))
	}
	if !o.HeldData() {
		return act(ActReinstall, fmt.Sprintf("revision %d never became Ready in %s and the store never held data; uninstall and install again", rel.Revision, p.ReadyTimeout))
	}
	return act(ActBlock, fmt.Sprintf("revision %d never became Ready in %s, and the store holds data (%s), so storeops will not "+
		"reinstall it; see its workloads, fix the cause (a change to stores.yaml is applied as usual), or remove the store from stores.yaml to delete it",
		rel.Revision, p.ReadyTimeout, heldDataReason(o)))
}

func heldDataReason(o *ObservedStore) string {
	switch {
	case o.ReadyRevision > 0:
		return fmt.Sprintf("revision %d was Ready", o.ReadyRevision)
	case !o.DataSince.IsZero():
		return "its database was Ready at " + o.DataSince.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%d bound volumes", o.BoundVolumes)
}

// StallKey fingerprints what a stalled store's plan depends on: its
// desired values and the live objects' versions. A store stalled at one
// key is acted on again once the key changes.
//
// The key leaves out what storeops itself writes on the namespace
// (readiness marks, status labels), which would otherwise count as a
// change made by a person.
func StallKey(d *render.Desired, o *ObservedStore) string {
	key := d.Release.Checksum + "|" + string(d.Store.Type)
	if o != nil && o.Namespace != nil {
		key += fmt.Sprintf("|%s/%t/%t/%t", o.Namespace.UID, o.Owned, o.Credentials, labelsDiffer(o.Namespace.Labels, d.Namespace.Labels))
		key += "|" + resourceVersion(o.Quota) + "/" + resourceVersion(o.LimitRange) + "/" + resourceVersion(o.NetworkPolicy)
		key += fmt.Sprintf("|%d/%d|%s|%s", o.Volumes, o.BoundVolumes, strings.Join(o.Missing, ","), strings.Join(o.Drifted, ","))
		if o.Release != nil {
			key += fmt.Sprintf("|%d/%s", o.Release.Revision, o.Release.Status)
		}
	}
	return key
}

// resourceVersion is obj's resource version, "-" for none.
func resourceVersion[T interface {
	comparable
	GetResourceVersion() string
}](obj T) string {
	var zero T
	if obj == zero {
		return "-"
	}
	return obj.GetResourceVersion()
}

func driftReason(o *ObservedStore) string {
	var parts []string
	if len(o.Missing) > 0 {
		parts = append(parts, "deleted by hand: "+strings.Join(o.Missing, ", "))
	}
	if len(o.Drifted) > 0 {
		parts = append(parts, "changed by hand: "+strings.Join(o.Drifted, ", "))
	}
	return "release objects " + strings.Join(parts, "; ")
}

// valuesDiff is the diff of the deployed and desired values, when the
// deployed values are known.
func valuesDiff(o *ObservedStore, d *render.Desired) string {
	if o.Release == nil || o.Release.Values == nil {
		return ""
	}
	return yamlDiff("values", o.Release.Values, d.Release.Values)
}

// yamlDiff is the unified diff ("-live +desired") of the YAML forms of
// live and desired, "" when they are the same: stable from run to run
// (go-cmp's text is deliberately not), as pull request comments and the
// sync history need.
func yamlDiff(what string, live, desired any) string {
	a, errA := yaml.Marshal(live)
	b, errB := yaml.Marshal(desired)
	if err := errors.Join(errA, errB); err != nil {
		return fmt.Sprintf("%s: cannot show the difference: %v\n", what, err)
	}
	return manifestdiff.Unified(what+" (live)", what+" (desired)", string(a), string(b))
}

// isolationEqual is the fast check behind IsolationDiff.
func isolationEqual(d *render.Desired, o *ObservedStore) bool {
	if !o.Credentials || o.Quota == nil || o.LimitRange == nil || o.NetworkPolicy == nil ||
		labelsDiffer(o.Namespace.Labels, d.Namespace.Labels) {
		return false
	}
	return apiequality.Semantic.DeepEqual(o.Quota.Spec, d.Quota.Spec) &&
		apiequality.Semantic.DeepEqual(o.LimitRange.Spec, d.LimitRange.Spec) &&
		apiequality.Semantic.DeepEqual(o.NetworkPolicy.Spec, d.NetworkPolicy.Spec)
}

// IsolationDiff compares a store's namespace labels, quota, limit range,
// network policy and credentials Secret with the desired ones and returns
// a readable, stable diff (unified, "-live +desired"), or "" when they
// match.
func IsolationDiff(d *render.Desired, o *ObservedStore) string {
	if isolationEqual(d, o) {
		return "" // the common case, without go-cmp's reflection
	}
	var b strings.Builder
	section := func(diff string) { b.WriteString(diff) }
	missing := func(what string) { fmt.Fprintf(&b, "%s: missing\n", what) }

	live := map[string]string{}
	for k := range d.Namespace.Labels {
		if v, ok := o.Namespace.Labels[k]; ok {
			live[k] = v
		}
	}
	section(yamlDiff("namespace labels", live, d.Namespace.Labels))
	if o.Quota == nil {
		missing("ResourceQuota " + render.QuotaName)
	} else {
		section(yamlDiff("ResourceQuota", o.Quota.Spec, d.Quota.Spec))
	}
	if o.LimitRange == nil {
		missing("LimitRange " + render.LimitRangeName)
	} else {
		section(yamlDiff("LimitRange", o.LimitRange.Spec, d.LimitRange.Spec))
	}
	if o.NetworkPolicy == nil {
		missing("NetworkPolicy " + render.NetworkPolicyName)
	} else {
		section(yamlDiff("NetworkPolicy", o.NetworkPolicy.Spec, d.NetworkPolicy.Spec))
	}
	if !o.Credentials {
		missing("Secret " + render.CredentialsSecret)
	}
	return b.String()
}
