package reconcile_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// cutAfter passes requests until one matching cut has succeeded, then
// fails every later one, as a process killed right after that request.
type cutAfter struct {
	next http.RoundTripper
	cut  func(*http.Request) bool
	dead atomic.Bool
}

func (c *cutAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.dead.Load() {
		return nil, errors.New("killed")
	}
	resp, err := c.next.RoundTrip(r)
	if err == nil && resp.StatusCode < 300 && c.cut(r) {
		c.dead.Store(true)
	}
	return resp, err
}

// installKilledAfterNamespaceCreate runs an install of store whose applier
// dies right after its namespace was created, before the seal.
func installKilledAfterNamespaceCreate(t *testing.T, store string) {
	t.Helper()
	c := testcluster.Get(t)
	cut := &cutAfter{cut: func(r *http.Request) bool {
		return r.Method == http.MethodPost && r.URL.Path == "/api/v1/namespaces"
	}}
	applier := applierWrapped(t, func(rt http.RoundTripper) http.RoundTripper { cut.next = rt; return cut })
	ctx := context.Background()
	d := desiredStore(t, store, "woocommerce")
	if err := applier.Apply(ctx, reconcile.Action{Kind: reconcile.ActInstall, Store: store, Desired: d}, ""); err == nil {
		t.Fatal("the killed install succeeded")
	}
	ns, err := c.Client.CoreV1().Namespaces().Get(ctx, render.NamespacePrefix+store, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the namespace was not created before the kill: %v", err)
	}
	if ns.Annotations[reconcile.AnnotationOwner] != "" || ns.Annotations[reconcile.AnnotationIntent] == "" {
		t.Fatalf("killed before the seal, the namespace has annotations %v", ns.Annotations)
	}
}

// intentRecorded reports whether the instance key Secret records a
// creation intent for store.
func intentRecorded(t *testing.T, client kubernetes.Interface, store string) bool {
	t.Helper()
	sec, err := client.CoreV1().Secrets("default").Get(context.Background(), "storeops-instance-"+reconcile.DefaultInstance, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k := range sec.Annotations {
		if strings.HasSuffix(k, "/"+store) && strings.HasPrefix(k, "intent.") {
			return true
		}
	}
	return false
}

// A storeops killed between creating a store's namespace and sealing it
// leaves a namespace with its creation intent, recorded on the instance
// key Secret: the next run seals it and converges (it used to leave the
// store Blocked as "not created by instance" for good).
func TestNamespaceCreatedButNotSealedIsSealedByTheNextRun(t *testing.T) {
	h := newHarness(t, map[string]string{"stores.yaml": "stores:\n  - {name: it-a, type: woocommerce}\n"})
	t.Cleanup(func() { h.deleteNamespaces("it-a") })
	installKilledAfterNamespaceCreate(t, "it-a")
	if !intentRecorded(t, h.client, "it-a") {
		t.Fatal("no intent recorded before the namespace was created")
	}
	h.mustSync()
	h.waitFor("store Ready", allReady("it-a"))
	ns, err := h.client.CoreV1().Namespaces().Get(context.Background(), "store-it-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Annotations[reconcile.AnnotationOwner] == "" || ns.Annotations[reconcile.AnnotationIntent] != "" {
		t.Fatalf("namespace not sealed, or its intent left: %v", ns.Annotations)
	}
	if intentRecorded(t, h.client, "it-a") {
		t.Fatal("the intent is still recorded after the seal")
	}
}

// The intent of a namespace is of no use to anyone else: copied onto a
// namespace of the same name created by hand once storeops' record of it
// is gone (sealed, or never made), or onto one of another name, the
// namespace is neither adopted, written to, nor deleted.
func TestCopiedIntentIsNotAdopted(t *testing.T) {
	h := newHarness(t, map[string]string{"stores.yaml": "stores:\n  - {name: it-ok, type: woocommerce}\n"})
	t.Cleanup(func() { h.deleteNamespaces("it-ok", "it-cp", "it-other") })
	ctx := context.Background()
	installKilledAfterNamespaceCreate(t, "it-cp")
	orig, err := h.client.CoreV1().Namespaces().Get(ctx, "store-it-cp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	intent := orig.Annotations[reconcile.AnnotationIntent]
	// Someone deletes it and creates it again with the intent copied,
	// after storeops' record of it is gone.
	if err := h.client.CoreV1().Namespaces().Delete(ctx, "store-it-cp", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "store-it-cp gone", func() bool { return h.namespaceGone("it-cp") })
	_, err = h.client.CoreV1().Secrets("default").Patch(ctx, "storeops-instance-"+reconcile.DefaultInstance, "application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"intent.storeops.dev/it-cp":null}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	squat := func(store string) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: render.NamespacePrefix + store, Labels: map[string]string{}, Annotations: map[string]string{
			reconcile.AnnotationIntent: intent}}}
		for k, v := range orig.Labels {
			ns.Labels[k] = v
		}
		ns.Labels[render.LabelStore] = store
		if _, err := h.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	squat("it-cp")
	squat("it-other")

	h.repo.Commit(t, map[string]string{"stores.yaml": "stores:\n  - {name: it-ok, type: woocommerce}\n  - {name: it-cp, type: woocommerce}\n  - {name: it-other, type: woocommerce}\n"}, "declare them")
	h.waitFor("namespaces seen", func(s *reconcile.Snapshot) bool {
		_, a := s.Store("it-cp")
		_, b := s.Store("it-other")
		return a && b
	})
	rec, _ := h.sync(false)
	for _, a := range rec.Actions {
		if a.Store == "it-cp" && a.Error == "" {
			t.Fatalf("acted on the namespace with a copied intent: %+v", a)
		}
		if a.Store == "it-other" {
			t.Fatalf("acted on the namespace with another's intent: %+v", a)
		}
	}
	h.waitFor("it-other Blocked", phaseIs("it-other", reconcile.PhaseBlocked))
	// Removed from stores.yaml: not deleted either.
	h.repo.Commit(t, map[string]string{"stores.yaml": "stores:\n  - {name: it-ok, type: woocommerce}\n"}, "drop them")
	rec, _ = h.sync(false)
	for _, a := range rec.Actions {
		if (a.Store == "it-cp" || a.Store == "it-other") && a.Error == "" {
			t.Fatalf("acted on a squatted namespace: %+v", a)
		}
	}
	for _, store := range []string{"it-cp", "it-other"} {
		ns, err := h.client.CoreV1().Namespaces().Get(ctx, render.NamespacePrefix+store, metav1.GetOptions{})
		if err != nil || ns.DeletionTimestamp != nil {
			t.Fatalf("squatted namespace %s deleted: %v", store, err)
		}
		if ns.Annotations[reconcile.AnnotationOwner] != "" {
			t.Fatalf("squatted namespace %s sealed", store)
		}
		secrets, err := h.client.CoreV1().Secrets(ns.Name).List(ctx, metav1.ListOptions{})
		if err != nil || len(secrets.Items) != 0 {
			t.Fatalf("secrets written into squatted namespace %s: %v %d", store, err, len(secrets.Items))
		}
	}
}
