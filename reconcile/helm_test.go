package reconcile

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"helm.sh/helm/v3/pkg/kube"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// Every store's Helm client shares one validator, so that the server's
// OpenAPI documents are fetched and parsed once, not at each install; a
// validator that failed is not kept.
func TestHelmConfigsShareOneValidator(t *testing.T) {
	h, err := newHelmConfigs(&rest.Config{Host: "http://127.0.0.1:1"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	validator := func(ns string) any {
		t.Helper()
		c, err := h.For(ns)
		if err != nil {
			t.Fatal(err)
		}
		v, err := c.KubeClient.(*kube.Client).Factory.Validator(metav1.FieldValidationStrict)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	first := validator("store-a")
	if again := validator("store-b"); again != first {
		t.Fatal("two namespaces got two validators")
	}
	// Nothing listens on the server's address: the validator cannot learn
	// whether the server validates fields, and is dropped.
	manifest := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
	if err := first.(*sharedSchema).ValidateBytes(manifest); err == nil {
		t.Fatal("validated against a server that does not answer")
	}
	if after := validator("store-a"); after == first {
		t.Fatal("a validator that failed was kept")
	}
}

// The Helm configurations of only the namespaces acted on last are kept:
// a fleet's worth would hold a client set per store.
func TestHelmConfigsKeepOnlyTheRecentOnes(t *testing.T) {
	h, err := newHelmConfigs(&rest.Config{Host: "http://127.0.0.1:1"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	get := func(ns string) any {
		t.Helper()
		c, err := h.For(ns)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := get("store-0")
	for i := 1; i < 3*keptConfigs; i++ {
		get(fmt.Sprintf("store-%d", i))
		if i%10 == 0 {
			get("store-0") // used all along: kept
		}
	}
	if n := len(h.configs); n > keptConfigs {
		t.Fatalf("%d configurations kept, want at most %d", n, keptConfigs)
	}
	if get("store-0") != first {
		t.Error("the configuration of a namespace used all along was dropped")
	}
	again := get("store-1")
	if again == nil || len(h.configs) > keptConfigs {
		t.Fatalf("store-1 again: %v, %d kept", again, len(h.configs))
	}
}
