package reconcile

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/storeops/storeops/render"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// A namespace another writer of this instance updated between its
// creation and its seal (readiness marks and status labels are written as
// soon as the informers see it) is sealed anyway, not left to fail the
// install.
func TestCreatedNamespaceIsSealedDespiteAConflict(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("create", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
		a.(k8stesting.CreateAction).GetObject().(metav1.Object).SetUID("uid-of-a") // as the API server does
		return false, nil, nil
	})
	conflicts := 1
	client.PrependReactor("update", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts == 0 {
			return false, nil, nil
		}
		conflicts--
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "namespaces"}, "store-a", nil)
	})
	c := &ClusterApplier{client: client, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Instance: Instance{Name: DefaultInstance, Key: []byte("a key of this instance")}}
	cfg, err := render.Parse("stores.yaml", []byte("stores:\n  - {name: a, type: woocommerce}\n"), render.Limits{MaxStores: 10})
	if err != nil {
		t.Fatal(err)
	}
	ds := render.Render(cfg)
	withInstance(ds, DefaultInstance)
	d := ds[0]
	made, err := c.createNamespace(context.Background(), &d)
	ns := made.ns
	if err != nil {
		t.Fatalf("create and seal: %v", err)
	}
	live, err := client.CoreV1().Namespaces().Get(context.Background(), ns.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Instance.Sealed(live) || conflicts != 0 {
		t.Fatalf("namespace not sealed after a conflict (conflicts left %d): %v", conflicts, live.Annotations)
	}
}
