package reconcile

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/storeops/storeops/render"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
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
}

// DefaultPolicy returns the defaults used by storeops serve.
func DefaultPolicy() Policy {
	return Policy{MaxDeleteShare: 0.5, StuckAfter: 10 * time.Minute, ReadyTimeout: 15 * time.Minute}
}

// MassDeletionError is returned by Plan when the plan would delete more
// stores than the policy allows without confirmation. No action is
// returned with it: the plan is refused as a whole.
type MassDeletionError struct {
	Deletes, Managed, Allowed int
	Stores                    []string
}

func (e *MassDeletionError) Error() string {
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
		if o.Terminating() {
			continue
		}
		managed++
		if !declared[name] {
			deletes = append(deletes, name)
			actions = append(actions, Action{Kind: ActDelete, Store: name, Observed: o,
				Reason: "store is no longer declared in stores.yaml"})
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

// planStore decides the one action a declared store needs, if any.
func planStore(d *render.Desired, o *ObservedStore, p Policy) (Action, bool) {
	name := d.Store.Name
	act := func(kind ActionKind, reason, diff string) (Action, bool) {
		return Action{Kind: kind, Store: name, Reason: reason, Diff: diff, Desired: d, Observed: o}, true
	}
	if d.Store.Suspend {
		return Action{}, false
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
	rel := o.Release
	switch {
	case rel == nil:
		return act(ActInstall, "release is missing", "")
	case pending(rel.Status) || rel.Status == StatusUninstalling:
		if age := p.Now.Sub(rel.Updated); age > p.StuckAfter {
			return act(ActUnlock, fmt.Sprintf("release has been %s for %s, longer than %s: a crash left it locked",
				rel.Status, age.Round(time.Second), p.StuckAfter), "")
		}
		return Action{}, false // someone is working on it
	case rel.Status == StatusFailed && !rel.HasDeployedRevision:
		return act(ActReinstall, fmt.Sprintf("installation failed (revision %d); uninstall and install again", rel.Revision), "")
	case rel.Status == StatusFailed:
		return act(ActRollback, fmt.Sprintf("upgrade to revision %d failed; roll back to the last deployed revision", rel.Revision), "")
	}
	if notReadyTooLong(o, p) {
		if rel.Revision <= 1 {
			return act(ActReinstall, fmt.Sprintf("not ready %s after installation", p.ReadyTimeout), "")
		}
		return act(ActRollback, fmt.Sprintf("not ready %s after upgrade to revision %d", p.ReadyTimeout, rel.Revision), "")
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

func notReadyTooLong(o *ObservedStore, p Policy) bool {
	if p.ReadyTimeout <= 0 || o.Release == nil || p.Now.Sub(o.Release.Updated) <= p.ReadyTimeout {
		return false
	}
	for _, w := range o.Workloads {
		if !w.Ready {
			return true
		}
	}
	return false
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

// valuesDiff is the go-cmp diff of the deployed and desired values, when
// the deployed values are known.
func valuesDiff(o *ObservedStore, d *render.Desired) string {
	if o.Release == nil || o.Release.Values == nil {
		return ""
	}
	return cmp.Diff(o.Release.Values, d.Release.Values)
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

var quantities = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

// IsolationDiff compares a store's namespace labels, quota, limit range,
// network policy and credentials Secret with the desired ones and returns
// a readable diff ("-live +desired"), or "" when they match.
func IsolationDiff(d *render.Desired, o *ObservedStore) string {
	if isolationEqual(d, o) {
		return "" // the common case, without go-cmp's reflection
	}
	var b strings.Builder
	section := func(what, diff string) {
		if diff != "" {
			fmt.Fprintf(&b, "%s (-live +desired):\n%s", what, diff)
		}
	}
	missing := func(what string) { fmt.Fprintf(&b, "%s: missing\n", what) }

	live := map[string]string{}
	for k := range d.Namespace.Labels {
		if v, ok := o.Namespace.Labels[k]; ok {
			live[k] = v
		}
	}
	section("namespace labels", cmp.Diff(live, d.Namespace.Labels))
	if o.Quota == nil {
		missing("ResourceQuota " + render.QuotaName)
	} else {
		section("ResourceQuota", cmp.Diff(o.Quota.Spec, d.Quota.Spec, quantities, cmpopts.EquateEmpty()))
	}
	if o.LimitRange == nil {
		missing("LimitRange " + render.LimitRangeName)
	} else {
		section("LimitRange", cmp.Diff(o.LimitRange.Spec, d.LimitRange.Spec, quantities, cmpopts.EquateEmpty()))
	}
	if o.NetworkPolicy == nil {
		missing("NetworkPolicy " + render.NetworkPolicyName)
	} else {
		section("NetworkPolicy", cmp.Diff(o.NetworkPolicy.Spec, d.NetworkPolicy.Spec, cmpopts.EquateEmpty()))
	}
	if !o.Credentials {
		missing("Secret " + render.CredentialsSecret)
	}
	return b.String()
}
