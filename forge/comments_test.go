package forge_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/storeops/storeops/forge"
)

// TestUpsertCommentRequests checks each forge's documented calls: list
// the comments (GitHub and Gitea issue comments, GitLab merge request
// notes), then edit storeops' own (PATCH, GitLab PUT) or create one.
// (TestPreviewOnGitea in internal/preview runs Gitea's for real.)
func TestUpsertCommentRequests(t *testing.T) {
	cases := []struct {
		kind, prefix, list, edit, editMethod string
	}{
		{forge.KindGitHub, "/api/v3", "/api/v3/repos/ops/config/issues/7/comments", "/api/v3/repos/ops/config/issues/comments/42", http.MethodPatch},
		{forge.KindGitea, "", "/api/v1/repos/ops/config/issues/7/comments", "/api/v1/repos/ops/config/issues/comments/42", http.MethodPatch},
		{forge.KindGitLab, "", "/api/v4/projects/ops%2Fconfig/merge_requests/7/notes", "/api/v4/projects/ops%2Fconfig/merge_requests/7/notes/42", http.MethodPut},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			existing := []map[string]any{{"id": 41, "body": "LGTM"}}
			var calls []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls = append(calls, r.Method+" "+r.URL.EscapedPath())
				var in map[string]any
				_ = json.NewDecoder(r.Body).Decode(&in)
				switch {
				case r.Method == http.MethodGet && r.URL.EscapedPath() == c.list:
					_ = json.NewEncoder(w).Encode(existing)
				case r.Method == http.MethodPost && r.URL.EscapedPath() == c.list:
					existing = append(existing, map[string]any{"id": 42, "body": in["body"]})
					w.WriteHeader(http.StatusCreated)
					_, _ = w.Write([]byte(`{"id":42}`))
				case r.Method == c.editMethod && r.URL.EscapedPath() == c.edit:
					existing[1]["body"] = in["body"]
					_, _ = w.Write([]byte(`{"id":42}`))
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			f, err := forge.New(forge.Config{Kind: c.kind, BaseURL: srv.URL + c.prefix, Repo: "ops/config", Token: "t0ken"})
			if err != nil {
				t.Fatal(err)
			}
			cm, _ := forge.Comments(f)
			ctx := context.Background()
			for i, step := range []struct {
				body    string
				changed bool
			}{
				{"<!-- m -->\none", true},  // created
				{"<!-- m -->\none", false}, // unchanged: no write
				{"<!-- m -->\ntwo", true},  // edited in place
			} {
				changed, err := cm.UpsertComment(ctx, 7, "<!-- m -->", step.body)
				if err != nil || changed != step.changed {
					t.Fatalf("step %d: changed=%v err=%v; calls %v", i, changed, err, calls)
				}
			}
			if len(existing) != 2 || existing[1]["body"] != "<!-- m -->\ntwo" {
				t.Fatalf("comments on the forge: %v; calls %v", existing, calls)
			}
		})
	}
}
