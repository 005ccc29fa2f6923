package chaos_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/storeops/storeops/internal/storeopsbin"
)

// Case 5: the secrets sweep. A fleet is created, upgraded and partly
// deleted with debug logs in text and JSON; every API endpoint, dashboard
// page and metric is read for every store, and `storeops plan` and
// `sync --once` are run; then every credential of every store, the
// instance key, the webhook secret and the API token are searched for in
// all of it (raw, base64, URL-encoded). Every other case ends with the
// same sweep of its own outputs.
func TestSecretsSweep(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "5 secrets sweep", "sec", map[string]storeSpec{
		"chaos-s-woo": {Type: "woocommerce"}, "chaos-s-med": {Type: "medusa"}, "chaos-s-gone": {Type: "woocommerce"},
	})
	dir := t.TempDir()
	gitToken := randomHex(20)
	e.secrets[gitToken] = "Git token"
	e.extra = []string{"--dashboard-read-auth"}
	e.env = []string{"STOREOPS_GIT_TOKEN=" + gitToken}

	text := e.start("text")
	rev := e.repo.Head(t, "main")
	e.waitConverged(text, rev)
	e.res.Iterations++
	e.declared["chaos-s-woo"] = storeSpec{Type: "woocommerce", Title: "Upgraded"}
	delete(e.declared, "chaos-s-gone")
	rev = e.commit("upgrade one, delete one")
	text.hook(rev)
	e.waitConverged(text, rev)
	e.res.Converged++
	e.collectSecrets()
	readEverything(t, text)
	text.stop()

	// A second replica logging JSON, restarted from scratch.
	e.res.Iterations++
	js := e.start("json", "--log-format", "json")
	e.waitConverged(js, rev)
	e.res.Converged++
	readEverything(t, js)

	// The commands people run by hand.
	e.declared["chaos-s-med"] = storeSpec{Type: "medusa", Title: "Planned"}
	e.commit("a change to plan")
	ctx := context.Background()
	env := append(os.Environ(), "STOREOPS_GIT_TOKEN="+gitToken)
	for _, args := range [][]string{
		{"plan", "--repo", e.repo.URL(), "--kubeconfig", e.c.Kubeconfig, "--instance", e.instance},
		{"plan", "--repo", e.repo.URL(), "--kubeconfig", e.c.Kubeconfig, "--instance", e.instance, "-o", "json"},
		{"validate", "-f", writeFile(t, dir, "stores.yaml", e.file())},
	} {
		_, out, err := storeopsbin.Run(ctx, binary, env, args...)
		if err != nil {
			t.Fatal(err)
		}
		e.out.add("storeops "+args[0], out)
	}
	e.collectSecrets()
	leaks := e.sweep()
	for _, l := range leaks {
		t.Errorf("secret leaked: %s", l)
	}
	texts := e.out.all()
	size := 0
	for _, s := range texts {
		size += len(s)
	}
	t.Logf("swept %d outputs (%d bytes) for %d secret values", len(texts), size, len(e.secrets))
}

// readEverything fetches every endpoint and page for every store.
func readEverything(t *testing.T, d *daemon) {
	t.Helper()
	paths := []string{"/healthz", "/readyz", "/metrics", "/api/v1/stores", "/api/v1/syncs", "/api/v1/status", "/api/v1/health", "/", "/sync", "/login"}
	stores, ok := d.stores()
	if !ok {
		t.Fatal("GET /api/v1/stores failed")
	}
	for n := range stores {
		paths = append(paths, "/api/v1/stores/"+n, "/api/v1/stores/"+n+"/pods", "/api/v1/stores/"+n+"/events", "/api/v1/stores/"+n+"/quota", "/stores/"+n)
	}
	for _, p := range paths {
		if code, _ := d.fetch(p, d.authHeader); code != http.StatusOK {
			t.Errorf("GET %s: %d", p, code)
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
