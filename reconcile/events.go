package reconcile

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/storeops/storeops/render"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
)

// Labels storeops sets on each store namespace so that kubectl shows where
// a store stands (`kubectl get ns -L storeops.dev/phase,storeops.dev/applied-revision`,
// `kubectl get ns -l storeops.dev/phase=Failed`). They are written with the
// readiness marks, only when they differ from what the namespace carries,
// so a converged sync writes nothing.
const (
	// LabelPhase is the store's phase (Phase).
	LabelPhase = "storeops.dev/phase"
	// LabelAppliedRevision is the Git revision of stores.yaml whose values
	// the store's Helm release carries.
	LabelAppliedRevision = "storeops.dev/applied-revision"
)

// EventController is the reportingController of storeops' Events.
const EventController = "storeops.dev/reconciler"

// Event reasons storeops records.
const (
	ReasonInstalled   = "Installed"
	ReasonReinstalled = "Reinstalled"
	ReasonUpgraded    = "Upgraded"
	ReasonRepaired    = "Repaired"
	ReasonRolledBack  = "RolledBack"
	ReasonUnlocked    = "Unlocked"
	ReasonDeleted     = "Deleted"
	ReasonFailed      = "Failed"
	ReasonBlocked     = "Blocked"
	ReasonReady       = "Ready"
	ReasonDegraded    = "Degraded"
)

// EventRecorder records Kubernetes Events about stores. Nil on the
// Reconciler records none.
type EventRecorder interface {
	// StoreEvent records an event about the store's namespace ns (UID may
	// be empty). inNamespace puts the Event in the store's namespace, where
	// `kubectl events -n store-x` finds it; otherwise it goes to the
	// namespace "default", the home of Events about cluster-scoped objects
	// (a deleted store's namespace takes its Events with it).
	//
	// release and revision name the Helm release revision the event is
	// about (0: none); it becomes the Event's related object (the release
	// record Secret), which keeps the Events of different revisions apart:
	// events.k8s.io counts repeats of one reason about one object as a
	// series of the first Event, whose note it keeps.
	StoreEvent(ns string, uid types.UID, inNamespace, warning bool, reason, action, note string, release string, revision int)
}

// KubeEvents records Events through a client-go events broadcaster (the
// events.k8s.io/v1 API). Give it the applier's fenced client: Events are
// writes, and only the leader writes.
type KubeEvents struct {
	broadcaster events.EventBroadcaster
	recorder    events.EventRecorder
}

// NewKubeEvents returns a recorder writing with client. Start it.
func NewKubeEvents(client kubernetes.Interface) *KubeEvents {
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	return &KubeEvents{broadcaster: b, recorder: b.NewRecorder(scheme.Scheme, EventController)}
}

// Start sends the recorded Events until ctx ends.
func (k *KubeEvents) Start(ctx context.Context) error {
	if err := k.broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		k.broadcaster.Shutdown()
	}()
	return nil
}

// StoreEvent implements EventRecorder.
func (k *KubeEvents) StoreEvent(ns string, uid types.UID, inNamespace, warning bool, reason, action, note string, release string, revision int) {
	ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: ns, UID: uid}
	if inNamespace {
		// The Event lives where the reference's namespace says; a
		// Namespace's reference names itself so that its Events are listed
		// with the store's other objects.
		ref.Namespace = ns
	}
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	var related runtime.Object
	if revision > 0 && release != "" && inNamespace {
		related = &corev1.ObjectReference{APIVersion: "v1", Kind: "Secret", Namespace: ns,
			Name: fmt.Sprintf("sh.helm.release.v1.%s.v%d", release, revision)}
	}
	k.recorder.Eventf(runtime.Object(ref), related, typ, reason, action, "%s", truncate(note, 1000))
}

// truncate keeps at most n bytes of s, on a rune boundary (an Event's
// note is at most 1 kB).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-3]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// actionEvent is the Event of an action's outcome; ok is false for an
// action that records none.
func actionEvent(a Action, revision string, err error) (reason, action, note string, warning, ok bool) {
	action = strings.ToUpper(string(a.Kind[:1])) + string(a.Kind[1:])
	if err != nil {
		note = fmt.Sprintf("%s failed: %v", a.Kind, err)
		if revision != "" {
			note = fmt.Sprintf("%s of revision %s failed: %v", a.Kind, short(revision), err)
		}
		return ReasonFailed, action, note, true, true
	}
	at := ""
	if revision != "" {
		at = " at revision " + short(revision)
	}
	switch a.Kind {
	case ActInstall:
		s := a.Desired.Store
		return ReasonInstalled, action, fmt.Sprintf("installed %s (%s, %s, %s)%s", s.Name, s.Type, s.Plan, s.Domain, at), false, true
	case ActReinstall:
		return ReasonReinstalled, action, "reinstalled" + at + ": " + a.Reason, true, true
	case ActUpgrade:
		return ReasonUpgraded, action, "upgraded" + at + ": " + a.Reason, false, true
	case ActRepair:
		return ReasonRepaired, action, "repaired: " + a.Reason, false, true
	case ActRollback:
		return ReasonRolledBack, action, "rolled back: " + a.Reason, true, true
	case ActUnlock:
		return ReasonUnlocked, action, "unlocked: " + a.Reason, false, true
	case ActDelete:
		return ReasonDeleted, action, fmt.Sprintf("deleted store %s%s: %s", a.Store, at, a.Reason), false, true
	}
	return "", "", "", false, false
}

// short is the first 12 characters of a Git revision.
func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// event records an action's outcome. Called without r.mu.
func (r *Reconciler) event(a Action, revision string, err error) {
	if r.Events == nil {
		return
	}
	reason, action, note, warning, ok := actionEvent(a, revision, err)
	if !ok {
		return
	}
	ns, uid := render.NamespacePrefix+a.Store, types.UID("")
	if a.Observed != nil && a.Observed.Namespace != nil {
		ns, uid = a.Observed.Namespace.Name, a.Observed.Namespace.UID
	} else if a.Desired != nil {
		ns = a.Desired.Namespace.Name
	}
	// The release revision an action makes: Helm numbers it after the
	// latest record.
	revNum := 1
	if a.Observed != nil && a.Observed.Release != nil && a.Kind != ActReinstall {
		revNum = a.Observed.Release.Revision + 1
	}
	if err != nil || a.Kind == ActDelete || a.Kind == ActUnlock || a.Kind == ActRepair {
		revNum = 0
	}
	// A deleted store's namespace is gone, and a terminating one refuses
	// new objects: its Event goes to "default".
	r.Events.StoreEvent(ns, uid, !(a.Kind == ActDelete && err == nil), warning, reason, action, note, a.Store, revNum)
}

// StatusLabels returns the labels (LabelPhase, LabelAppliedRevision) to
// set on the store's namespace for st, or nil when it carries them
// already. An empty value removes the label.
func StatusLabels(ns *corev1.Namespace, st StoreStatus) map[string]string {
	if ns == nil || st.Phase == "" || st.Phase == PhaseUnknown {
		return nil
	}
	want := map[string]string{LabelPhase: string(st.Phase), LabelAppliedRevision: ""}
	if rev := st.AppliedRevision; rev != "" && len(rev) <= 63 {
		want[LabelAppliedRevision] = rev
	}
	out := map[string]string{}
	for k, v := range want {
		if ns.Labels[k] != v {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// statusOf derives the status of one store from o, as Refresh does.
func (r *Reconciler) statusOf(name string, o *ObservedStore, now time.Time) StoreStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := r.shown[name]; d != nil {
		return r.storeStatus(d, o, now)
	}
	return r.orphanStatus(o, now)
}

// blockedEvent records that a store is blocked. Called with r.mu held
// (recording only queues the Event).
func (r *Reconciler) blockedEvent(a Action) {
	o := a.Observed
	if r.Events == nil || o == nil || o.Namespace == nil || !o.Owned || o.Terminating() {
		return // never write into a namespace this instance did not create
	}
	r.Events.StoreEvent(o.Namespace.Name, o.Namespace.UID, true, true, ReasonBlocked, "Block", a.Reason, "", 0)
}

// markEvents records what the marks just written say: a release revision
// seen Ready, a store no longer Ready.
func (r *Reconciler) markEvents(o *ObservedStore, marks, labels map[string]string) {
	if r.Events == nil {
		return
	}
	ns := o.Namespace
	if rev, ok := marks[AnnotationReadyRevision]; ok {
		n, _ := strconv.Atoi(rev)
		r.Events.StoreEvent(ns.Name, ns.UID, true, false, ReasonReady, "Observe",
			fmt.Sprintf("release revision %s is Ready: every workload is ready", rev), o.Name, n)
	}
	if p, ok := labels[LabelPhase]; ok && p == string(PhaseDegraded) && ns.Labels[LabelPhase] != "" {
		r.Events.StoreEvent(ns.Name, ns.UID, true, true, ReasonDegraded, "Observe",
			"was Ready, some workload is not now; storeops waits for Kubernetes to bring it back", "", 0)
	}
}
