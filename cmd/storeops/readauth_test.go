package main

import (
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storeops/storeops/reconcile"
	"golang.org/x/crypto/bcrypt"
)

// buildDashboard parses args as serve's dashboard flags and builds it.
func buildDashboard(t *testing.T, args ...string) (http.Handler, error) {
	t.Helper()
	var f dashboardFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := f.build(&engine{board: reconcile.NewBoard()}, sourceFlags{}, nil, log)
	if err != nil || d == nil {
		return nil, err
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	return d.GuardAPI(ok), nil
}

// TestReadsRequireLoginByDefault: without --anonymous-reads, serve
// refuses to start with no way to log in, and the status API answers an
// anonymous reader 401.
func TestReadsRequireLoginByDefault(t *testing.T) {
	if _, err := buildDashboard(t); err == nil || !strings.Contains(err.Error(), "--anonymous-reads") {
		t.Fatalf("no login configured and no --anonymous-reads: %v, want a refusal naming --anonymous-reads", err)
	}
	if _, err := buildDashboard(t, "--dashboard=false"); err == nil {
		t.Fatal("--dashboard=false without --anonymous-reads: the status API would have no login")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost+6)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	api, err := buildDashboard(t, "--dashboard-users-file", users)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/status", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("anonymous GET /api/v1/status: %d, want 401", rec.Code)
	}

	// The opt-in.
	for _, args := range [][]string{{"--anonymous-reads"}, {"--anonymous-reads", "--dashboard-users-file", users}} {
		api, err := buildDashboard(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/status", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("%v: anonymous GET /api/v1/status: %d, want 200", args, rec.Code)
		}
	}
}
