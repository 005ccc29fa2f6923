package reconcile_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

// requests counts the requests of the applier's client: all of them, and
// those that change something. (The informers have a client of their own.)
type requests struct {
	next   http.RoundTripper
	all, n atomic.Int64
}

func (m *requests) RoundTrip(r *http.Request) (*http.Response, error) {
	m.all.Add(1)
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		m.n.Add(1)
	}
	return m.next.RoundTrip(r)
}

// harness wires a Reconciler to the real cluster, with a Git source.
type harness struct {
	t       testing.TB
	client  kubernetes.Interface
	rec     *reconcile.Reconciler
	board   *reconcile.Board
	source  *gitsource.Source
	repo    *gittest.Repo
	counter *requests
	restCfg *rest.Config
	shift   atomic.Int64 // added to the reconciler's clock, to skip backoffs
}

func newHarness(t testing.TB, files map[string]string) *harness {
	return newInstanceHarness(t, files, reconcile.DefaultInstance)
}

// newInstanceHarness is newHarness for a named storeops instance.
func newInstanceHarness(t testing.TB, files map[string]string, instance string) *harness {
	c := testcluster.Get(t)
	h := &harness{t: t, counter: &requests{}}
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 100, 200
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { h.counter.next = rt; return h.counter })
	h.restCfg = cfg
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.client = client

	srv := gittest.NewServer(t)
	h.repo = srv.NewRepo(t, "config", files)
	h.source, err = gitsource.New(gitsource.Config{URL: h.repo.URL()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	changed := reconcile.NewSignal()
	informerClient, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	inst, err := reconcile.LoadInstanceKey(ctx, client, "default", instance)
	if err != nil {
		t.Fatal(err)
	}
	observer := reconcile.NewObserver(informerClient, inst, func(string) { changed.Notify() })
	if !observer.Start(ctx.Done()) {
		t.Fatal("informers did not sync")
	}
	applier, err := reconcile.NewClusterApplier(cfg, client, reconcile.EmbeddedCharts{}, log)
	if err != nil {
		t.Fatal(err)
	}
	applier.Timeout = 3 * time.Minute
	applier.Instance = inst
	h.board = reconcile.NewBoard()
	h.rec = reconcile.New(observer, applier, h.board, log)
	h.rec.ChartVersions, err = reconcile.EmbeddedCharts{}.ChartVersions()
	if err != nil {
		t.Fatal(err)
	}
	h.rec.Clock = func() time.Time { return time.Now().Add(time.Duration(h.shift.Load())) }
	h.rec.Instance = inst.Name
	// Events go out asynchronously, through a client of their own so that
	// the counter sees only the applier's requests.
	events := reconcile.NewKubeEvents(informerClient)
	if err := events.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h.rec.Events = events
	h.rec.SetLeader(true)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed.C():
				h.rec.ClusterChanged(ctx)
			}
		}
	}()
	return h
}

// sync fetches the repo and syncs its stores.yaml.
func (h *harness) sync(confirm bool) (reconcile.SyncRecord, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	snap, err := h.source.Fetch(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	cfg, err := render.Parse(snap.Path, snap.Data, render.Limits{})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.rec.Sync(ctx, reconcile.SyncInput{Config: cfg, Revision: snap.Revision, Trigger: "test", ConfirmDeletions: confirm})
}

func (h *harness) mustSync() reconcile.SyncRecord {
	h.t.Helper()
	rec, err := h.sync(false)
	if err != nil {
		h.t.Fatalf("sync: %v\n%+v", err, rec)
	}
	return rec
}

// waitFor waits, on the board's wake-ups, until cond holds for the
// current snapshot.
func (h *harness) waitFor(what string, cond func(*reconcile.Snapshot) bool) {
	h.t.Helper()
	ch, cancel := h.board.Subscribe()
	defer cancel()
	deadline := time.After(4 * time.Minute)
	for {
		if cond(h.board.Current()) {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s; stores:\n%s", what, describeStores(h.board.Current()))
		}
	}
}

func describeStores(s *reconcile.Snapshot) string {
	var b strings.Builder
	for _, st := range s.Stores {
		fmt.Fprintf(&b, "  %s: %s %q\n", st.Name, st.Phase, st.Message)
	}
	return b.String()
}

func phaseIs(name string, phase reconcile.Phase) func(*reconcile.Snapshot) bool {
	return func(s *reconcile.Snapshot) bool {
		st, ok := s.Store(name)
		return ok && st.Phase == phase
	}
}

func allReady(names ...string) func(*reconcile.Snapshot) bool {
	return func(s *reconcile.Snapshot) bool {
		for _, n := range names {
			if !phaseIs(n, reconcile.PhaseReady)(s) {
				return false
			}
		}
		return true
	}
}

func (h *harness) credentials(store string) map[string][]byte {
	h.t.Helper()
	sec, err := h.client.CoreV1().Secrets(render.NamespacePrefix+store).Get(context.Background(), render.CredentialsSecret, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return sec.Data
}

// deleteNamespaces deletes the stores' namespaces, whatever their state.
func (h *harness) deleteNamespaces(stores ...string) {
	for _, n := range stores {
		_ = h.client.CoreV1().Namespaces().Delete(context.Background(), render.NamespacePrefix+n, metav1.DeleteOptions{})
	}
}

func (h *harness) namespaceGone(store string) bool {
	_, err := h.client.CoreV1().Namespaces().Get(context.Background(), render.NamespacePrefix+store, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

// TestStoreLifecycleOnRealCluster drives the reconciler through a store
// fleet's life against the local control plane: create, upgrade, delete,
// suspend, crash recovery and the mass-deletion guard.
func TestStoreLifecycleOnRealCluster(t *testing.T) {
	const file = `stores:
  - name: lc-alpha
    type: woocommerce
  - name: lc-bravo
    type: woocommerce
  - name: lc-charlie
    type: medusa
`
	h := newHarness(t, map[string]string{"stores.yaml": file})
	names := []string{"lc-alpha", "lc-bravo", "lc-charlie"}
	t.Cleanup(func() { h.deleteNamespaces(append(names, "lc-delta")...) }) // leave the shared cluster clean

	// Create: three stores from the repository.
	rec := h.mustSync()
	if rec.Summary["install"] != 3 {
		t.Fatalf("first sync: %+v", rec)
	}
	h.waitFor("three stores Ready", allReady(names...))
	for _, n := range names {
		ns, err := h.client.CoreV1().Namespaces().Get(context.Background(), render.NamespacePrefix+n, metav1.GetOptions{})
		if err != nil || ns.Labels[render.LabelManagedBy] != render.ManagedBy || ns.Labels["pod-security.kubernetes.io/enforce"] == "" {
			t.Fatalf("namespace of %s: %v %v", n, err, ns.Labels)
		}
		for _, get := range []func() error{
			func() error {
				_, err := h.client.CoreV1().ResourceQuotas(ns.Name).Get(context.Background(), render.QuotaName, metav1.GetOptions{})
				return err
			},
			func() error {
				_, err := h.client.CoreV1().LimitRanges(ns.Name).Get(context.Background(), render.LimitRangeName, metav1.GetOptions{})
				return err
			},
			func() error {
				_, err := h.client.NetworkingV1().NetworkPolicies(ns.Name).Get(context.Background(), render.NetworkPolicyName, metav1.GetOptions{})
				return err
			},
		} {
			if err := get(); err != nil {
				t.Errorf("%s: %v", n, err)
			}
		}
	}

	// Converged: a second sync makes no request at all besides the
	// informers' watches (it plans from their caches): none mutating, none
	// reading. (Readiness is recorded on the namespaces first, as the
	// daemon does on the informers' events.)
	h.waitMarked(names...)
	h.counter.n.Store(0)
	h.counter.all.Store(0)
	if rec := h.mustSync(); len(rec.Actions) != 0 {
		t.Fatalf("second sync acted: %+v", rec.Actions)
	}
	if n, all := h.counter.n.Load(), h.counter.all.Load(); n != 0 || all != 0 {
		t.Fatalf("second sync made %d requests, %d of them mutating", all, n)
	}

	// Upgrade: a changed title upgrades alpha with the same credentials.
	before := h.credentials("lc-alpha")
	h.repo.Commit(t, map[string]string{"stores.yaml": strings.Replace(file,
		"  - name: lc-alpha\n    type: woocommerce\n",
		"  - name: lc-alpha\n    type: woocommerce\n    options:\n      title: Alpha Renamed\n", 1)}, "rename alpha")
	rec = h.mustSync()
	if len(rec.Actions) != 1 || rec.Actions[0].Kind != reconcile.ActUpgrade || !strings.Contains(rec.Actions[0].Diff, "Alpha Renamed") {
		t.Fatalf("upgrade sync: %+v", rec.Actions)
	}
	h.waitFor("alpha Ready at revision 2", func(s *reconcile.Snapshot) bool {
		st, ok := s.Store("lc-alpha")
		return ok && st.Phase == reconcile.PhaseReady && st.ReleaseRevision == 2
	})
	after := h.credentials("lc-alpha")
	if len(before) == 0 || fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatal("credentials changed across the upgrade")
	}

	// Suspend bravo and change its plan: nothing happens to it.
	suspended := strings.Replace(file, "  - name: lc-bravo\n    type: woocommerce\n",
		"  - name: lc-bravo\n    type: woocommerce\n    plan: large\n    suspend: true\n", 1)
	suspended = strings.Replace(suspended, "  - name: lc-alpha\n    type: woocommerce\n",
		"  - name: lc-alpha\n    type: woocommerce\n    options:\n      title: Alpha Renamed\n", 1)
	h.repo.Commit(t, map[string]string{"stores.yaml": suspended}, "suspend bravo")
	if rec := h.mustSync(); len(rec.Actions) != 0 {
		t.Fatalf("suspend sync acted: %+v", rec.Actions)
	}
	h.waitFor("bravo Suspended", phaseIs("lc-bravo", reconcile.PhaseSuspended))
	quota, err := h.client.CoreV1().ResourceQuotas("store-lc-bravo").Get(context.Background(), render.QuotaName, metav1.GetOptions{})
	if err != nil || quota.Spec.Hard.Pods().String() != "20" {
		t.Fatalf("suspended store was changed: %v %v", err, quota.Spec.Hard)
	}

	// Delete: charlie removed from the file; its namespace goes away.
	withoutCharlie := strings.Replace(suspended, "  - name: lc-charlie\n    type: medusa\n", "", 1)
	h.repo.Commit(t, map[string]string{"stores.yaml": withoutCharlie}, "delete charlie")
	rec = h.mustSync()
	if len(rec.Actions) != 1 || rec.Actions[0].Kind != reconcile.ActDelete || rec.Actions[0].Store != "lc-charlie" {
		t.Fatalf("delete sync: %+v", rec.Actions)
	}
	waitUntil(t, "namespace of charlie gone", func() bool { return h.namespaceGone("lc-charlie") })

	// Crash recovery: a release left pending-install by a killed run of
	// this instance is unlocked at once, then upgraded in place: the store
	// held data, so it is never reinstalled.
	h.recoverPendingInstall("lc-alpha")

	// Guard: an emptied file would delete both remaining stores; refused.
	h.repo.Commit(t, map[string]string{"stores.yaml": "stores: []\n"}, "oops")
	if _, err := h.sync(false); err == nil || !strings.Contains(err.Error(), "refusing to delete 2 of 2 stores") {
		t.Fatalf("emptied file: %v", err)
	}
	if h.board.Current().Refused == nil || h.namespaceGone("lc-alpha") || h.namespaceGone("lc-bravo") {
		t.Fatal("guard did not hold")
	}
}

// recoverPendingInstall rewrites the store's only release record as a
// crashed install would leave it, then syncs until it is Ready again.
func (h *harness) recoverPendingInstall(store string) {
	t := h.t
	ns := render.NamespacePrefix + store
	cfg := new(action.Configuration)
	if err := cfg.Init(kube.GetConfig(testcluster.Get(t).Kubeconfig, "", ns), ns, "secret", func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	hist, err := cfg.Releases.History(store)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range hist { // keep only the newest record, as after a first install
		if r.Version != len(hist) {
			if _, err := cfg.Releases.Delete(r.Name, r.Version); err != nil {
				t.Fatal(err)
			}
		}
	}
	last, err := cfg.Releases.Last(store)
	if err != nil {
		t.Fatal(err)
	}
	last.Info.Status = release.StatusPendingInstall
	last.Info.LastDeployed = helmtime.Time{Time: time.Now().Add(-time.Hour)}
	if err := cfg.Releases.Update(last); err != nil {
		t.Fatal(err)
	}
	h.waitFor(store+" release pending-install", func(s *reconcile.Snapshot) bool {
		st, _ := s.Store(store)
		return st.ReleaseStatus == "pending-install"
	})
	volumes := h.volumeUIDs(store)
	creds := h.credentials(store)
	rec := h.mustSync()
	if len(rec.Actions) != 1 || rec.Actions[0].Kind != reconcile.ActUnlock || !strings.Contains(rec.Actions[0].Reason, "this instance") {
		t.Fatalf("want an immediate unlock, got %+v", rec.Actions)
	}
	h.waitFor(store+" release failed", func(s *reconcile.Snapshot) bool {
		st, _ := s.Store(store)
		return st.ReleaseStatus == "failed"
	})
	rec = h.mustSync() // no backoff after an unlock
	if len(rec.Actions) != 1 || rec.Actions[0].Kind != reconcile.ActUpgrade {
		t.Fatalf("want an upgrade in place, got %+v", rec.Actions)
	}
	h.waitFor(store+" Ready after the upgrade", phaseIs(store, reconcile.PhaseReady))
	if diff := cmp.Diff(volumes, h.volumeUIDs(store)); diff != "" {
		t.Fatalf("volumes replaced (-before +after):\n%s", diff)
	}
	if fmt.Sprint(creds) != fmt.Sprint(h.credentials(store)) {
		t.Fatal("credentials changed")
	}
}

// waitMarked waits until the stores' namespaces record the current
// release revision as Ready.
func (h *harness) waitMarked(stores ...string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for _, s := range stores {
			ns, err := h.client.CoreV1().Namespaces().Get(ctx, render.NamespacePrefix+s, metav1.GetOptions{})
			if err != nil || ns.Annotations[reconcile.AnnotationReadyRevision] == "" {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		h.t.Fatalf("readiness of %v not recorded: %v", stores, err)
	}
}

// volumeUIDs maps each PersistentVolumeClaim of a store to its UID.
func (h *harness) volumeUIDs(store string) map[string]string {
	h.t.Helper()
	list, err := h.client.CoreV1().PersistentVolumeClaims(render.NamespacePrefix+store).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range list.Items {
		out[p.Name] = string(p.UID)
	}
	return out
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(200 * time.Millisecond) // polling the API; no event to wait on
	}
}
