package shard

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
)

func TestNamespaceOf(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/namespaces/store-a":                                    "store-a",
		"/api/v1/namespaces/store-a/secrets/x":                          "store-a",
		"/apis/apps/v1/namespaces/store-b/deployments/web":              "store-b",
		"/apis/networking.k8s.io/v1/namespaces/store-c/networkpolicies": "store-c",
		"/k8s/clusters/c-1/api/v1/namespaces/store-d/pods":              "store-d",
		"/api/v1/namespaces":                                            "",
		"/api/v1/nodes/n1":                                              "",
		"/apis/rbac.authorization.k8s.io/v1/clusterroles/x":             "",
		"/apis/apps/v1/deployments":                                     "",
		"/version":                                                      "",
	} {
		got, ok := namespaceOf(path)
		if got != want || ok != (want != "") {
			t.Errorf("namespaceOf(%q) = %q, %t; want %q", path, got, ok, want)
		}
	}
}

func TestFencedTransport(t *testing.T) {
	var hits atomic.Int32
	var lastBody atomic.Pointer[string]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		body := string(b)
		lastBody.Store(&body)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	m, err := New(Config{Client: fake.NewClientset(), Namespace: "ops", ID: "me", Shards: 8,
		StoreOfNamespace: func(ns string) (string, bool) {
			store, ok := strings.CutPrefix(ns, "store-")
			return store, ok
		}})
	if err != nil {
		t.Fatal(err)
	}
	// Find a store of a shard this member will hold and one of another.
	owned, other := "", ""
	for i := 0; owned == "" || other == ""; i++ {
		s := string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if m.ShardOf(s) == 3 && owned == "" {
			owned = s
		} else if m.ShardOf(s) != 3 && other == "" {
			other = s
		}
	}
	deadline := time.Now().Add(time.Hour)
	m.shards[3].own.Store(&deadline)
	client := &http.Client{Transport: m.Wrap(http.DefaultTransport)}

	var doBody func(method, path, body string) error
	do := func(method, path string) error {
		t.Helper()
		return doBody(method, path, "{}")
	}
	_ = do
	doBody = func(method, path, body string) error {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	for _, c := range []struct {
		method, path string
		refused      bool
	}{
		{"GET", "/api/v1/namespaces/store-" + other + "/secrets", false},
		{"HEAD", "/api/v1/namespaces/store-" + other, false},
		{"POST", "/api/v1/namespaces/store-" + owned + "/configmaps", false},
		{"PATCH", "/apis/apps/v1/namespaces/store-" + owned + "/deployments/web", false},
		{"POST", "/api/v1/namespaces/store-" + other + "/configmaps", true},
		{"PUT", "/apis/apps/v1/namespaces/store-" + other + "/deployments/web", true},
		{"PATCH", "/apis/apps/v1/namespaces/store-" + other + "/deployments/web", true},
		{"DELETE", "/api/v1/namespaces/store-" + other, true},
		{"DELETE", "/api/v1/namespaces/kube-system/pods/x", false}, // no store: the caller decides
		{"POST", "/api/v1/namespaces", false},                      // creates a namespace of no store ("{}")
		{"DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterroles/x", false},
	} {
		before := hits.Load()
		err := do(c.method, c.path)
		reached := hits.Load() != before
		if c.refused {
			if !errors.Is(err, ErrNotOwner) || reached {
				t.Errorf("%s %s: error %v, reached the server %t; want refused with ErrNotOwner", c.method, c.path, err, reached)
			}
		} else if err != nil || !reached {
			t.Errorf("%s %s: error %v, reached the server %t; want passed", c.method, c.path, err, reached)
		}
	}
	// Creating a store's namespace names it in the body only: it is
	// fenced by that name, and the body still reaches the server whole.
	for _, c := range []struct {
		store   string
		refused bool
	}{{owned, false}, {other, true}} {
		before := hits.Load()
		body := `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"store-` + c.store + `","labels":{"x":"y"}}}`
		err := doBody("POST", "/api/v1/namespaces", body)
		reached := hits.Load() != before
		if c.refused != errors.Is(err, ErrNotOwner) || reached == c.refused {
			t.Errorf("create namespace store-%s: error %v, reached the server %t; want refused %t", c.store, err, reached, c.refused)
		}
	}
	if got := lastBody.Load(); got == nil || !strings.Contains(*got, `"labels":{"x":"y"}`) {
		t.Errorf("the server got the namespace body %v, want it whole", got)
	}

	// The fence closes when the ownership deadline passes, without any
	// call.
	past := time.Now().Add(-time.Millisecond)
	m.shards[3].own.Store(&past)
	if err := do("POST", "/api/v1/namespaces/store-"+owned+"/configmaps"); !errors.Is(err, ErrNotOwner) {
		t.Errorf("after the deadline: %v, want ErrNotOwner", err)
	}
	if m.Owns(owned) {
		t.Error("Owns true after the deadline")
	}
	if n := m.shards[3].inflight.Load(); n != 0 {
		t.Errorf("%d requests counted in flight after all returned", n)
	}
}
