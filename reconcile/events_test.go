package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/storeops/storeops/reconcile"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

type recordedEvent struct {
	ns                   string
	inNamespace, warning bool
	reason, action, note string
	revision             int
}

type fakeEvents struct {
	mu     sync.Mutex
	events []recordedEvent
}

func (f *fakeEvents) StoreEvent(ns string, _ types.UID, inNamespace, warning bool, reason, action, note, _ string, revision int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, recordedEvent{ns, inNamespace, warning, reason, action, note, revision})
}

func (f *fakeEvents) take() []recordedEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.events
	f.events = nil
	return out
}

// TestEventsOfActions: each action's outcome is one Event on the store's
// namespace; a failure is a Warning with the error; a deletion goes to
// "default"; a converged sync records none.
func TestEventsOfActions(t *testing.T) {
	f := &fakeCluster{stores: map[string]*reconcile.ObservedStore{}, fail: map[string]error{}}
	r, _ := newTestReconciler(f)
	ev := &fakeEvents{}
	r.Events = ev
	ctx := context.Background()

	f.fail["c"] = errors.New("helm install c: timed out")
	_, _ = r.Sync(ctx, reconcile.SyncInput{Config: configOf(t, three), Revision: "0123456789abcdef0123"})
	got := map[string]recordedEvent{}
	for _, e := range ev.take() {
		got[e.ns] = e
	}
	if e := got["store-a"]; e.reason != reconcile.ReasonInstalled || e.warning || !e.inNamespace || e.action != "Install" || e.revision != 1 ||
		!strings.Contains(e.note, "installed a (woocommerce, small,") || !strings.Contains(e.note, "at revision 0123456789ab") {
		t.Errorf("a: %+v", e)
	}
	if e := got["store-c"]; e.reason != reconcile.ReasonFailed || !e.warning || e.revision != 0 || !strings.Contains(e.note, "helm install c: timed out") {
		t.Errorf("c: %+v", e)
	}

	// A deletion is recorded in "default", the namespace being gone (c
	// waits for its backoff: nothing about it).
	twoLeft := "stores:\n  - {name: b, type: medusa}\n  - {name: c, type: woocommerce}\n"
	_, _ = r.Sync(ctx, reconcile.SyncInput{Config: configOf(t, twoLeft), Revision: "fedcba9876543210fedc"})
	if e := ev.take(); len(e) != 1 || e[0].reason != reconcile.ReasonDeleted || e[0].inNamespace || e[0].ns != "store-a" {
		t.Errorf("deletion: %+v", e)
	}

	delete(f.fail, "c")
	if _, err := r.Sync(ctx, reconcile.SyncInput{Config: configOf(t, "stores:\n  - {name: b, type: medusa}\n"), Revision: "fedcba9876543210fedc"}); err != nil {
		t.Fatal(err)
	}
	if e := ev.take(); len(e) != 0 {
		t.Fatalf("a converged sync recorded %+v", e)
	}
}

func TestStatusLabels(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{reconcile.LabelPhase: "Ready", reconcile.LabelAppliedRevision: "abc"}}}
	if l := reconcile.StatusLabels(ns, reconcile.StoreStatus{Phase: reconcile.PhaseReady, AppliedRevision: "abc"}); l != nil {
		t.Errorf("up to date: %v", l)
	}
	if l := reconcile.StatusLabels(ns, reconcile.StoreStatus{Phase: reconcile.PhaseDegraded, AppliedRevision: "abc"}); len(l) != 1 || l[reconcile.LabelPhase] != "Degraded" {
		t.Errorf("phase change: %v", l)
	}
	if l := reconcile.StatusLabels(ns, reconcile.StoreStatus{Phase: reconcile.PhaseUnknown}); l != nil {
		t.Errorf("Unknown is never written: %v", l)
	}
	long := strings.Repeat("a", 64) // a SHA-256 object name does not fit a label value
	if l := reconcile.StatusLabels(ns, reconcile.StoreStatus{Phase: reconcile.PhaseReady, AppliedRevision: long}); len(l) != 1 || l[reconcile.LabelAppliedRevision] != "" {
		t.Errorf("a revision too long for a label removes it: %v", l)
	}
}
