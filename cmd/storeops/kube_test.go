package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// twoClusters writes a kubeconfig with the contexts "a" (current) and
// "b", each an API server that records the paths it is asked for and
// answers every request with an empty Lease.
func twoClusters(t *testing.T) (kubeconfig string, hits func(ctx string) []string) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string][]string{}
	server := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[name] = append(seen[name], r.Method+" "+r.URL.Path)
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"storeops-leader-sync","namespace":"storeops"}}`)
		}))
		t.Cleanup(s.Close)
		return s
	}
	a, b := server("a"), server("b")
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: a
clusters:
- name: a
  cluster: {server: %q}
- name: b
  cluster: {server: %q}
users:
- name: u
  user: {token: not-a-secret}
contexts:
- name: a
  context: {cluster: a, user: u}
- name: b
  context: {cluster: b, user: u}
`, a.URL, b.URL)
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig, func(ctx string) []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen[ctx]...)
	}
}

// TestKubeContext: --context picks a context of the kubeconfig, as
// kubectl's does; without it the current context is used; an unknown
// context is an error naming it.
func TestKubeContext(t *testing.T) {
	kubeconfig, _ := twoClusters(t)
	hostOf := func(f kubeFlags) string {
		cfg, _, err := kubeConfig(f)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		return cfg.Host
	}
	if a, b := hostOf(kubeFlags{kubeconfig: kubeconfig}), hostOf(kubeFlags{kubeconfig: kubeconfig, context: "b"}); a == b {
		t.Fatalf("--context b talks to the current context's server %s", a)
	}
	if _, _, err := kubeConfig(kubeFlags{kubeconfig: kubeconfig, context: "prod"}); err == nil || !strings.Contains(err.Error(), `"prod"`) {
		t.Fatalf("unknown context: %v", err)
	}
}

// TestContextFlagOfEveryClusterCommand: each command that talks to a
// cluster takes --context (and $STOREOPS_CONTEXT), and sends its requests
// to that context's server.
func TestContextFlagOfEveryClusterCommand(t *testing.T) {
	for _, name := range []string{"adopt", "confirm-deletions", "plan", "reconcile", "serve", "sync"} {
		code, _, stderr := runCLI(t, name, "-h")
		if code != exitOK || !strings.Contains(stderr, "-context") || !strings.Contains(stderr, "-kubeconfig") {
			t.Errorf("storeops %s -h: no --context next to --kubeconfig\n%s", name, stderr)
		}
	}
	kubeconfig, hits := twoClusters(t)
	confirm := func(flags ...string) (int, string, string) {
		args := append([]string{"confirm-deletions", "--kubeconfig", kubeconfig, "--leader-election-namespace", "storeops"}, flags...)
		return runCLI(t, append(args, "3f2a9c1")...)
	}
	if code, stdout, stderr := confirm("--context", "b"); code != exitOK {
		t.Fatalf("confirm-deletions --context b: exit %d\n%s%s", code, stdout, stderr)
	}
	if len(hits("a")) != 0 || len(hits("b")) != 1 {
		t.Fatalf("--context b: requests to a %v, to b %v", hits("a"), hits("b"))
	}
	t.Setenv("STOREOPS_CONTEXT", "a")
	if code, stdout, stderr := confirm(); code != exitOK || len(hits("a")) != 1 {
		t.Fatalf("$STOREOPS_CONTEXT=a: exit %d, requests to a %v\n%s%s", code, hits("a"), stdout, stderr)
	}
	t.Setenv("STOREOPS_CONTEXT", "prod")
	if code, _, stderr := confirm(); code != exitFailed || !strings.Contains(stderr, `context "prod"`) {
		t.Fatalf("$STOREOPS_CONTEXT=prod: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := confirm("--context", "b"); code != exitOK || len(hits("b")) != 2 {
		t.Fatalf("the command line must win over $STOREOPS_CONTEXT: exit %d, requests to b %v\n%s", code, hits("b"), stderr)
	}
}
