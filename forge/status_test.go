package forge_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/storeops/storeops/forge"
)

// TestSetStatusRequests checks the request each forge documents for a
// commit status: GitHub's and Gitea's POST /repos/{owner}/{repo}/statuses/{sha}
// with state and context, GitLab's POST /projects/{id}/statuses/{sha}
// with name and "failed" for a failure. (TestCommitStatusOnGitea in
// internal/commitstatus runs the Gitea one against a real Gitea.)
func TestSetStatusRequests(t *testing.T) {
	cases := []struct {
		kind, prefix, path string
		want               map[string]any
	}{
		{forge.KindGitHub, "/api/v3", "/api/v3/repos/ops/config/statuses/abc123",
			map[string]any{"state": "failure", "context": "storeops/sync", "target_url": "https://storeops.example/sync"}},
		{forge.KindGitea, "", "/api/v1/repos/ops/config/statuses/abc123",
			map[string]any{"state": "failure", "context": "storeops/sync", "target_url": "https://storeops.example/sync"}},
		{forge.KindGitLab, "", "/api/v4/projects/ops%2Fconfig/statuses/abc123",
			map[string]any{"state": "failed", "name": "storeops/sync", "target_url": "https://storeops.example/sync"}},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			var got map[string]any
			var path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path = r.URL.EscapedPath()
				if r.Method != http.MethodPost {
					t.Errorf("method %s", r.Method)
				}
				_ = json.NewDecoder(r.Body).Decode(&got)
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte("{}"))
			}))
			defer srv.Close()
			f, err := forge.New(forge.Config{Kind: c.kind, BaseURL: srv.URL + c.prefix, Repo: "ops/config", Token: "t0ken"})
			if err != nil {
				t.Fatal(err)
			}
			s, ok := forge.Statuses(f)
			if !ok {
				t.Fatal("no status API")
			}
			long := strings.Repeat("x", 200)
			err = s.SetStatus(context.Background(), "abc123", forge.CommitStatus{Context: "storeops/sync", State: forge.StatusFailure,
				Description: long, TargetURL: "https://storeops.example/sync"})
			if err != nil {
				t.Fatal(err)
			}
			if path != c.path {
				t.Errorf("path %s, want %s", path, c.path)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			if d, _ := got["description"].(string); len([]rune(d)) != forge.MaxStatusDescription || !strings.HasSuffix(d, "…") {
				t.Errorf("description not shortened to %d characters: %d", forge.MaxStatusDescription, len([]rune(d)))
			}
			if err := s.SetStatus(context.Background(), "abc123", forge.CommitStatus{State: "bogus"}); !errors.Is(err, forge.ErrConfig) {
				t.Errorf("bad state: %v", err)
			}
		})
	}
}
