package e2e_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
)

// Stores spread over two clusters by stores.yaml: the local one (the
// cluster storeops runs against) and eu, a second control plane on other
// ports registered by a Secret.
const spread = `stores:
  - {name: mc-home-a, type: woocommerce}
  - {name: mc-home-b, type: medusa}
  - {name: mc-eu-a, type: woocommerce, cluster: eu}
  - {name: mc-eu-b, type: medusa, cluster: eu}
`

// hasNamespace reports whether client's cluster has the namespace of
// store.
func hasNamespace(t *testing.T, client kubernetes.Interface, store string) bool {
	t.Helper()
	_, err := client.CoreV1().Namespaces().Get(context.Background(), "store-"+store, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// TestStoresOnTwoClusters: stores.yaml places stores on two clusters; each
// store's namespace and release live on its cluster only. The eu cluster's
// API server stopped mid-sync holds its stores (the status says why) while
// the local cluster's go on; back, it catches up. Moving a store between
// clusters is refused until a person confirms it with confirm-move.
func TestStoresOnTwoClusters(t *testing.T) {
	home := testcluster.Get(t)
	eu := testcluster.Get(t, testcluster.WithNodes(2)) // a second control plane: other options, other cluster
	if eu.Kubeconfig == home.Kubeconfig {
		t.Skip("needs two local control planes")
	}
	ns := home.Namespace(t, "storeops-mc")
	names := []string{"mc-home-a", "mc-home-b", "mc-home-c", "mc-eu-a", "mc-eu-b", "mc-eu-c", "mc-nowhere"}
	cleanupStores(t, names...)
	t.Cleanup(func() {
		for _, n := range names {
			_ = eu.Client.CoreV1().Namespaces().Delete(context.Background(), "store-"+n, metav1.DeleteOptions{})
		}
	})

	// Register eu: its kubeconfig in a Secret of storeops' namespace.
	kubeconfig, err := os.ReadFile(eu.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	_, err = home.Client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-eu", Labels: map[string]string{"storeops.dev/cluster": "eu"}},
		Data:       map[string][]byte{"kubeconfig": kubeconfig},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "config", map[string]string{"stores.yaml": spread})
	d := startDaemon(t, repo.URL(), "--clusters", "--instance", "mc", "--leader-election-namespace", ns)
	for _, n := range []string{"mc-home-a", "mc-home-b", "mc-eu-a", "mc-eu-b"} {
		d.waitPhase(n, reconcile.PhaseReady)
	}
	for _, c := range []struct {
		store    string
		home, eu bool
	}{{"mc-home-a", true, false}, {"mc-home-b", true, false}, {"mc-eu-a", false, true}, {"mc-eu-b", false, true}} {
		if h, e := hasNamespace(t, home.Client, c.store), hasNamespace(t, eu.Client, c.store); h != c.home || e != c.eu {
			t.Errorf("%s: namespace on the local cluster %t, on eu %t; want %t, %t", c.store, h, e, c.home, c.eu)
		}
	}
	if st, _ := d.store("mc-eu-a"); st.Cluster != "eu" {
		t.Errorf("status of mc-eu-a: cluster %q, want eu", st.Cluster)
	}
	// The store's pods are read from its own cluster.
	var pods web.PodList
	if code := d.getJSON("/api/v1/stores/mc-eu-a/pods", &pods); code != http.StatusOK || len(pods.Pods) == 0 {
		t.Errorf("pods of mc-eu-a: status %d, %d pods; want those on eu", code, len(pods.Pods))
	}
	if cs := d.status().Clusters; len(cs) != 2 || cs[0].Name != "local" || !cs[0].Ready || cs[1].Name != "eu" || !cs[1].Ready {
		t.Errorf("status clusters %+v, want local and eu, both ready", cs)
	}

	// eu's API server stops; a push adds a store on each cluster and
	// changes one on eu.
	eu.Pause(t, "kube-apiserver")
	resumed := false
	defer func() {
		if !resumed {
			eu.Resume(t, "kube-apiserver")
		}
	}()
	d.waitUntil("eu shown unreachable", func() bool {
		cs := d.status().Clusters
		return len(cs) == 2 && !cs[1].Ready
	})
	next := strings.Replace(spread, "{name: mc-eu-a, type: woocommerce, cluster: eu}", "{name: mc-eu-a, type: woocommerce, cluster: eu, options: {title: Renamed}}", 1) +
		"  - {name: mc-home-c, type: woocommerce}\n  - {name: mc-eu-c, type: woocommerce, cluster: eu}\n  - {name: mc-nowhere, type: medusa, cluster: nowhere}\n"
	rev := repo.Commit(t, map[string]string{"stores.yaml": next}, "a store on each cluster")
	d.push("main", rev)
	d.waitPhase("mc-home-c", reconcile.PhaseReady)
	for _, n := range []string{"mc-eu-a", "mc-eu-c"} {
		d.waitPhase(n, reconcile.PhaseHeld)
		if st, _ := d.store(n); !strings.Contains(st.Message, "cluster eu has not answered") {
			t.Errorf("%s held with %q, want the reason", n, st.Message)
		}
	}
	if st, _ := d.store("mc-nowhere"); st.Phase != reconcile.PhaseHeld || !strings.Contains(st.Message, "cluster nowhere is not registered") {
		t.Errorf("mc-nowhere: %s %q, want Held as not registered", st.Phase, st.Message)
	}
	if st, _ := d.store("mc-home-a"); st.Phase != reconcile.PhaseReady {
		t.Errorf("mc-home-a while eu is down: %s %q", st.Phase, st.Message)
	}

	// storeops plan shows them held too.
	code, out := run(t, "plan", "--git-url", repo.URL(), "--kubeconfig", home.Kubeconfig, "--instance", "mc",
		"--leader-election-namespace", ns, "--clusters", "--diff=false")
	if code == 1 || !contains(out, "= mc-eu-c held: cluster eu", "= mc-nowhere held: cluster nowhere is not registered") {
		t.Errorf("plan while eu is down: exit %d\n%s", code, out)
	}

	// eu back: it catches up.
	eu.Resume(t, "kube-apiserver")
	resumed = true
	d.waitPhase("mc-eu-c", reconcile.PhaseReady)
	d.waitUntil("mc-eu-a upgraded to the new revision", func() bool {
		st, _ := d.store("mc-eu-a")
		return st.Phase == reconcile.PhaseReady && st.AppliedRevision == rev
	})
	if hasNamespace(t, home.Client, "mc-eu-c") || !hasNamespace(t, eu.Client, "mc-eu-c") {
		t.Error("mc-eu-c is not on eu alone")
	}

	// Moving mc-home-a to eu is refused: it would delete its data here.
	uid := func(client kubernetes.Interface, store string) string {
		n, err := client.CoreV1().Namespaces().Get(context.Background(), "store-"+store, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return string(n.UID)
	}
	before := uid(home.Client, "mc-home-a")
	moved := strings.Replace(next, "{name: mc-home-a, type: woocommerce}", "{name: mc-home-a, type: woocommerce, cluster: eu}", 1)
	rev = repo.Commit(t, map[string]string{"stores.yaml": moved}, "move mc-home-a to eu")
	d.push("main", rev)
	d.waitPhase("mc-home-a", reconcile.PhaseBlocked)
	if st, _ := d.store("mc-home-a"); !strings.Contains(st.Message, "storeops confirm-move mc-home-a --from local --to eu") {
		t.Errorf("blocked move says %q, want how to confirm it", st.Message)
	}
	if uid(home.Client, "mc-home-a") != before || hasNamespace(t, eu.Client, "mc-home-a") {
		t.Fatal("an unconfirmed move changed something")
	}
	// A confirmation of another move changes nothing; the right one moves it.
	if code, out := run(t, "confirm-move", "--kubeconfig", home.Kubeconfig, "--leader-election-namespace", ns, "--instance", "mc", "--from", "eu", "--to", "local", "mc-home-a"); code != 0 {
		t.Fatalf("confirm-move: exit %d\n%s", code, out)
	}
	if code, out := run(t, "confirm-move", "--kubeconfig", home.Kubeconfig, "--leader-election-namespace", ns, "--instance", "mc", "--from", "local", "--to", "local", "mc-home-a"); code == 0 || !strings.Contains(out, "the same cluster") {
		t.Errorf("confirm-move to the same cluster: exit %d\n%s", code, out)
	}
	if st, _ := d.store("mc-home-a"); st.Phase != reconcile.PhaseBlocked || uid(home.Client, "mc-home-a") != before {
		t.Fatalf("after confirming another move: %s, namespace %s (was %s)", st.Phase, uid(home.Client, "mc-home-a"), before)
	}
	if code, out := run(t, "confirm-move", "--kubeconfig", home.Kubeconfig, "--leader-election-namespace", ns, "--instance", "mc", "--from", "local", "--to", "eu", "mc-home-a"); code != 0 {
		t.Fatalf("confirm-move: exit %d\n%s", code, out)
	}
	d.waitUntil("mc-home-a Ready on eu", func() bool {
		st, _ := d.store("mc-home-a")
		return st.Phase == reconcile.PhaseReady && st.Cluster == "eu"
	})
	if hasNamespace(t, home.Client, "mc-home-a") {
		// Deleted from the local cluster (its namespace may still be
		// terminating): it must at least be going.
		n, err := home.Client.CoreV1().Namespaces().Get(context.Background(), "store-mc-home-a", metav1.GetOptions{})
		if err == nil && n.DeletionTimestamp == nil {
			t.Error("mc-home-a moved to eu but its namespace on the local cluster stays")
		}
	}
	// Nothing else moved.
	for _, n := range []string{"mc-home-b", "mc-home-c"} {
		if !hasNamespace(t, home.Client, n) || hasNamespace(t, eu.Client, n) {
			t.Errorf("%s is not on the local cluster alone", n)
		}
	}
}
