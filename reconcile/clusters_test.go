package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

// recordingApplier remembers the stores it was asked to act on.
type recordingApplier struct {
	mu     sync.Mutex
	stores []string
}

func (r *recordingApplier) Apply(_ context.Context, a reconcile.Action, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stores = append(r.stores, a.Store)
	return nil
}

// storeNamespace is the namespace of store as instance inst labels it.
func storeNamespace(inst reconcile.Instance, store string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: render.NamespacePrefix + store, Labels: map[string]string{
		render.LabelManagedBy: render.ManagedBy, render.LabelStore: store, reconcile.LabelInstance: inst.Name}}}
}

// member is a cluster of fake API objects with a recording applier.
func member(t *testing.T, name string, inst reconcile.Instance, stores ...string) (*reconcile.Member, *recordingApplier) {
	t.Helper()
	client := fake.NewSimpleClientset()
	for _, s := range stores {
		if _, err := client.CoreV1().Namespaces().Create(context.Background(), storeNamespace(inst, s), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	app := &recordingApplier{}
	return &reconcile.Member{Name: name, Observer: reconcile.NewObserver(client, inst, nil), Applier: app}, app
}

// Clusters joins the observations of its members, each store tagged with
// its cluster (a store on two, with its other copy), sends each action to
// the store's cluster, and tells the plan which clusters it may act on.
func TestClustersJoinAndRoute(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inst := reconcile.Instance{Name: "t", Key: []byte("0123456789abcdef0123456789abcdef")}
	local, localApp := member(t, "", inst, "a", "both")
	eu, euApp := member(t, "eu", inst, "b", "both")
	var answer error
	var answerMu sync.Mutex
	eu.Probe = func(context.Context) error { answerMu.Lock(); defer answerMu.Unlock(); return answer }
	changed := make(chan string, 16)
	cs := reconcile.NewClusters(func(c string) { changed <- c })
	if why := cs.Down("eu"); !strings.Contains(why, "not registered") {
		t.Errorf("Down before registration = %q", why)
	}
	cs.Add(ctx, local)
	cs.Add(ctx, eu)
	for _, n := range []string{"", "eu"} {
		if !cs.WaitObserved(ctx, n) {
			t.Fatalf("cluster %q not observed", n)
		}
	}
	if cs.Unseen() != "" || cs.Down("") != "" || cs.Down("eu") != "" {
		t.Fatalf("Unseen %q, Down local %q, Down eu %q; want none", cs.Unseen(), cs.Down(""), cs.Down("eu"))
	}

	obs := cs.Observe()
	if len(obs.Stores) != 3 || obs.Stores["a"].Cluster != "" || obs.Stores["b"].Cluster != "eu" {
		t.Fatalf("observed %v", obs.Stores)
	}
	both := cs.ObserveStore("both")
	if both.Cluster != "" || len(both.Others) != 1 || both.On("eu").Cluster != "eu" || both.On("us") != both {
		t.Fatalf("a store on two clusters: %+v", both)
	}

	// Actions go where the store lives, or, for a new one, where
	// stores.yaml places it; an unregistered cluster is an error.
	d := func(name, cluster string) *render.Desired {
		return &render.Desired{Store: render.Store{Name: name, Cluster: cluster}}
	}
	for _, a := range []reconcile.Action{
		{Store: "a", Observed: obs.Stores["a"], Desired: d("a", "eu")}, // lives here: acted on here
		{Store: "b", Observed: obs.Stores["b"]},
		{Store: "new", Desired: d("new", "eu")},
	} {
		if err := cs.Apply(ctx, a, "rev"); err != nil {
			t.Fatal(err)
		}
	}
	if err := cs.Apply(ctx, reconcile.Action{Store: "x", Desired: d("x", "us")}, "rev"); err == nil || !strings.Contains(err.Error(), "cluster us is not registered") {
		t.Errorf("action on an unregistered cluster: %v", err)
	}
	if strings.Join(localApp.stores, ",") != "a" || strings.Join(euApp.stores, ",") != "b,new" {
		t.Errorf("local acted on %v, eu on %v", localApp.stores, euApp.stores)
	}

	// eu stops answering: it is down, with the reason; back, it is not.
	answerMu.Lock()
	answer = errors.New("connection refused")
	answerMu.Unlock()
	waitDown := func(want bool) {
		t.Helper()
		deadline := time.After(time.Minute)
		for (cs.Down("eu") != "") != want {
			select {
			case <-changed:
			case <-deadline:
				t.Fatalf("Down(eu) = %q, want down %t", cs.Down("eu"), want)
			}
		}
	}
	waitDown(true)
	if why := cs.Down("eu"); !strings.Contains(why, "cluster eu has not answered since") || !strings.Contains(why, "connection refused") {
		t.Errorf("Down(eu) = %q", why)
	}
	if st := cs.Statuses(); len(st) != 2 || st[0].Name != "local" || !st[0].Ready || st[1].Name != "eu" || st[1].Ready {
		t.Errorf("statuses %+v", st)
	}
	answerMu.Lock()
	answer = nil
	answerMu.Unlock()
	waitDown(false)

	// A registration that cannot be used says why; removed, not registered.
	cs.Remove("eu", "Secret storeops/cluster-eu: no key \"kubeconfig\"")
	if why := cs.Down("eu"); !strings.Contains(why, "cannot be used") || !strings.Contains(why, "kubeconfig") {
		t.Errorf("Down of a broken registration = %q", why)
	}
	cs.Remove("eu", "")
	if why := cs.Down("eu"); !strings.Contains(why, "not registered") {
		t.Errorf("Down after removal = %q", why)
	}
	if cs.Statuses() != nil {
		t.Errorf("statuses of the local cluster alone: %+v, want none", cs.Statuses())
	}

	cs.SetMoves(map[string]string{"a": reconcile.MoveKey("", "eu")})
	if !cs.MoveConfirmed("a", "", "eu") || cs.MoveConfirmed("a", "eu", "") || cs.MoveConfirmed("b", "", "eu") {
		t.Error("MoveConfirmed confirms other moves than the one recorded")
	}
}
