package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestEventsAndStatusLabelsOnRealCluster checks what kubectl shows of a
// store's life on the local control plane: the phase and applied revision
// labels of its namespace (`kubectl get ns -L ...`) and the Events storeops
// records (`kubectl events -n store-x`) for an install, an upgrade, a
// blocked store and a deletion.
func TestEventsAndStatusLabelsOnRealCluster(t *testing.T) {
	const file = `stores:
  - name: ev-alpha
    type: woocommerce
  - name: ev-bravo
    type: woocommerce
`
	h := newHarness(t, map[string]string{"stores.yaml": file})
	t.Cleanup(func() { h.deleteNamespaces("ev-alpha", "ev-bravo") })

	first := h.mustSync()
	h.waitFor("both Ready", allReady("ev-alpha", "ev-bravo"))
	h.waitLabels("ev-alpha", reconcile.PhaseReady, first.Revision)
	h.waitLabels("ev-bravo", reconcile.PhaseReady, first.Revision)
	h.waitEvent("store-ev-alpha", reconcile.ReasonInstalled, "installed ev-alpha (woocommerce, small, ev-alpha.stores.localhost)")
	h.waitEvent("store-ev-alpha", reconcile.ReasonReady, "release revision 1 is Ready")

	// A restart: a new reconciler (another process would be the same)
	// finds the labels in the cluster and has nothing to write.
	h.waitMarked("ev-alpha", "ev-bravo")
	restarted := newHarness(t, map[string]string{"stores.yaml": file})
	if rec := restarted.mustSync(); len(rec.Actions) != 0 {
		t.Fatalf("sync after a restart acted: %+v", rec.Actions)
	}
	if n := restarted.counter.n.Load(); n != 0 {
		t.Fatalf("sync after a restart made %d mutating requests", n)
	}
	restarted.rec.SetLeader(false) // h goes on alone
	h.waitLabels("ev-alpha", reconcile.PhaseReady, first.Revision)

	// Upgrade alpha: its applied revision moves, bravo's stays.
	h.repo.Commit(t, map[string]string{"stores.yaml": strings.Replace(file,
		"  - name: ev-alpha\n    type: woocommerce\n",
		"  - name: ev-alpha\n    type: woocommerce\n    options:\n      title: Alpha Renamed\n", 1)}, "rename alpha")
	second := h.mustSync()
	if len(second.Actions) != 1 || second.Actions[0].Kind != reconcile.ActUpgrade {
		t.Fatalf("upgrade sync: %+v", second.Actions)
	}
	h.waitFor("alpha Ready at release revision 2", func(s *reconcile.Snapshot) bool {
		st, ok := s.Store("ev-alpha")
		return ok && st.Phase == reconcile.PhaseReady && st.ReleaseRevision == 2
	})
	h.waitLabels("ev-alpha", reconcile.PhaseReady, second.Revision)
	h.waitLabels("ev-bravo", reconcile.PhaseReady, first.Revision)
	h.waitEvent("store-ev-alpha", reconcile.ReasonUpgraded, "upgraded at revision "+second.Revision[:12])
	h.waitEvent("store-ev-alpha", reconcile.ReasonReady, "release revision 2 is Ready")

	// Bravo's credentials deleted while its data exists: Blocked, and the
	// namespace and its Events say so.
	if err := h.client.CoreV1().Secrets("store-ev-bravo").Delete(context.Background(), render.CredentialsSecret, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("bravo's credentials gone from the caches", func(s *reconcile.Snapshot) bool {
		st, _ := s.Store("ev-bravo")
		for _, c := range st.Conditions {
			if c.Type == reconcile.CondIsolated {
				return !c.Status
			}
		}
		return false
	})
	h.mustSync()
	h.waitLabels("ev-bravo", reconcile.PhaseBlocked, first.Revision)
	h.waitEvent("store-ev-bravo", reconcile.ReasonBlocked, "Secret store-ev-bravo/store-credentials is gone")

	// Delete alpha: its namespace and Events go; the deletion is recorded
	// in "default", about the namespace.
	h.repo.Commit(t, map[string]string{"stores.yaml": "stores:\n  - name: ev-bravo\n    type: woocommerce\n"}, "remove alpha")
	third := h.mustSync()
	if len(third.Actions) != 1 || third.Actions[0].Kind != reconcile.ActDelete {
		t.Fatalf("delete sync: %+v", third.Actions)
	}
	ev := h.waitEvent("default", reconcile.ReasonDeleted, "deleted store ev-alpha at revision "+third.Revision[:12])
	if ev.Regarding.Kind != "Namespace" || ev.Regarding.Name != "store-ev-alpha" || ev.Type != "Normal" {
		t.Fatalf("deletion event: %+v", ev)
	}
}

// waitLabels waits until the store's namespace carries the phase and
// applied-revision labels.
func (h *harness) waitLabels(store string, phase reconcile.Phase, revision string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var got map[string]string
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		ns, err := h.client.CoreV1().Namespaces().Get(ctx, render.NamespacePrefix+store, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = ns.Labels
		return got[reconcile.LabelPhase] == string(phase) && got[reconcile.LabelAppliedRevision] == revision, nil
	})
	if err != nil {
		h.t.Fatalf("namespace of %s: want phase %s at %s, labels %v", store, phase, revision, got)
	}
}

// waitEvent waits for an Event of storeops in namespace with reason and a
// note containing note, and returns it.
func (h *harness) waitEvent(namespace, reason, note string) eventsv1.Event {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var found eventsv1.Event
	var seen []string
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		list, err := h.client.EventsV1().Events(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		seen = seen[:0]
		for _, e := range list.Items {
			if e.ReportingController != reconcile.EventController {
				continue
			}
			seen = append(seen, e.Reason+": "+e.Note)
			if e.Reason == reason && strings.Contains(e.Note, note) {
				found = e
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		h.t.Fatalf("no %s event %q in %s; storeops' events:\n%s", reason, note, namespace, strings.Join(seen, "\n"))
	}
	return found
}
