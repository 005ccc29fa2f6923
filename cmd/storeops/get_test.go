package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
	"sigs.k8s.io/yaml"
)

// TestGetAgainstTheAPI runs `storeops get` against the status API of
// package web, behind a bearer token as --dashboard-tokens-file gives.
func TestGetAgainstTheAPI(t *testing.T) {
	board := reconcile.NewBoard()
	now := time.Now()
	board.Publish(&reconcile.Snapshot{Revision: "5dd6d03458f0c8b5e0d3c5b1d0b9f7e1c2a3b4c5", Stores: []reconcile.StoreStatus{
		{Name: "acme", Type: "woocommerce", Plan: "small", Domain: "acme.example.com", Declared: true, Phase: reconcile.PhaseReady,
			Message: "4 workloads ready", Since: now.Add(-3 * time.Hour), AppliedRevision: "5dd6d03458f0c8b5e0d3c5b1d0b9f7e1c2a3b4c5",
			ReleaseRevision: 2, ReleaseStatus: "deployed", ChartVersion: "0.3.1"},
		{Name: "bolt", Type: "medusa", Plan: "large", Declared: true, Phase: reconcile.PhaseFailed, Message: "last action failed: helm install bolt: timed out", Since: now.Add(-90 * time.Second)},
	}, History: []reconcile.SyncRecord{
		{Revision: "94429859f127a1b2c3d4", Trigger: "webhook gitea", Start: now, Duration: 2300 * time.Millisecond,
			Actions: []reconcile.ActionLog{{Store: "bolt", Kind: "install"}}, Errors: []string{"install bolt: timed out"}},
		{Revision: "0123456789abcdef", Trigger: "schedule", Start: now.Add(-time.Minute), Refused: &reconcile.Refusal{Reason: "InvalidConfig", Message: "stores.yaml:3:11: bad"}},
	}})
	api, err := web.New(web.Config{Board: board})
	if err != nil {
		t.Fatal(err)
	}
	const token = "tok-0123456789abcdef"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"login required"}`))
			return
		}
		api.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Without a token: refused, and told how to give one.
	if code, _, stderr := runCLI(t, "get", "stores", "--server", srv.URL); code != exitFailed || !strings.Contains(stderr, "--token-file or $STOREOPS_TOKEN") {
		t.Fatalf("without a token: exit %d: %s", code, stderr)
	}
	t.Setenv("STOREOPS_SERVER", srv.URL)
	t.Setenv("STOREOPS_TOKEN_FILE", tokenFile)

	code, out, stderr := runCLI(t, "get", "stores")
	if code != exitOK {
		t.Fatalf("get stores: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[1], "acme") || !strings.Contains(lines[1], "Ready") ||
		!strings.Contains(lines[1], "3h") || !strings.Contains(lines[2], "Failed") || !strings.Contains(lines[2], "90s") {
		t.Fatalf("table:\n%s", out)
	}
	if _, out, _ := runCLI(t, "get", "stores", "-o", "wide", "--phase", "Ready"); !strings.Contains(out, "acme.example.com") ||
		!strings.Contains(out, "5dd6d03458f0") || !strings.Contains(out, "2 (deployed)") || strings.Contains(out, "bolt") {
		t.Fatalf("wide, Ready only:\n%s", out)
	}
	if _, out, _ := runCLI(t, "get", "-o", "json", "stores", "bolt"); !func() bool {
		var list web.StoreList
		return json.Unmarshal([]byte(out), &list) == nil && len(list.Stores) == 1 && list.Stores[0].Name == "bolt"
	}() {
		t.Fatalf("json, one store:\n%s", out)
	}
	_, out, _ = runCLI(t, "get", "syncs", "-o", "yaml")
	var syncs web.SyncList
	if err := yaml.Unmarshal([]byte(out), &syncs); err != nil || len(syncs.Syncs) != 2 || syncs.Syncs[1].Refused == nil {
		t.Fatalf("yaml syncs (%v):\n%s", err, out)
	}
	if _, out, _ := runCLI(t, "get", "syncs", "-o", "wide"); !strings.Contains(out, "1 failed") || !strings.Contains(out, "refused (InvalidConfig)") ||
		!strings.Contains(out, "stores.yaml:3:11: bad") {
		t.Fatalf("wide syncs:\n%s", out)
	}
	if code, _, _ := runCLI(t, "get", "pods"); code != exitUsage {
		t.Fatalf("get pods: exit %d", code)
	}
}
