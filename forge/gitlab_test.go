package forge_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storeops/storeops/forge"
)

// The project path is one URL-encoded segment.
const glMRs = "/api/v4/projects/shops%2Fplatform%2Fconfig/merge_requests"

// glMR is a GitLab merge request object as the API sends it (the part of
// it the client reads, and its sha).
func glMR(iid int, source, state string, created time.Time) map[string]any {
	return map[string]any{
		"iid": iid, "id": 1000 + iid, "project_id": 42, "web_url": fmt.Sprintf("https://gitlab.example/shops/platform/config/-/merge_requests/%d", iid),
		"state": state, "title": "Add store " + source, "description": "body " + source,
		"created_at": created.Format(time.RFC3339), "source_branch": source, "target_branch": "main",
		"source_project_id": 42, "target_project_id": 42, "sha": "8888888888888888888888888888888888888888",
	}
}

func newGitLab(t *testing.T, api *fakeAPI) forge.Forge {
	t.Helper()
	return mustNew(t, forge.Config{Kind: forge.KindGitLab, BaseURL: api.URL + "/", Repo: "shops/platform/config", Token: testToken})
}

func TestGitLabOpen(t *testing.T) {
	existing := glMR(3, "storeops/remove-acme", "opened", t0)
	tests := []struct {
		name     string
		post     route
		list     route
		want     int
		wantErr  error
		wantReqs []string
	}{
		{name: "created", post: reply(http.StatusCreated, glMR(4, "storeops/remove-acme", "opened", t0)), want: 4,
			wantReqs: []string{"POST " + glMRs}},
		{name: "another open merge request", want: 3,
			post:     reply(http.StatusConflict, `{"message":["Another open merge request already exists for this source branch: !3"]}`),
			list:     reply(http.StatusOK, []any{existing}),
			wantReqs: []string{"POST " + glMRs, "GET " + glMRs}},
		{name: "conflict without an open one", wantErr: forge.ErrConflict,
			post:     reply(http.StatusConflict, `{"message":["Another open merge request already exists for this source branch: !3"]}`),
			list:     reply(http.StatusOK, []any{}),
			wantReqs: []string{"POST " + glMRs, "GET " + glMRs}},
		{name: "unauthorized", wantErr: forge.ErrAuth,
			post:     reply(http.StatusUnauthorized, `{"message":"401 Unauthorized"}`),
			wantReqs: []string{"POST " + glMRs}},
		{name: "project not found", wantErr: forge.ErrNotFound,
			post:     reply(http.StatusNotFound, `{"message":"404 Project Not Found"}`),
			wantReqs: []string{"POST " + glMRs}},
		// GitLab answers validation errors with 400, not 422 (lib/api/helpers.rb
		// render_validation_error!, bad_request!). Before, the client took
		// them for no known error at all.
		{name: "validation error", wantErr: forge.ErrConflict,
			post:     reply(http.StatusBadRequest, `{"message":{"title":["can't be blank"]}}`),
			list:     reply(http.StatusOK, []any{}),
			wantReqs: []string{"POST " + glMRs, "GET " + glMRs}},
		{name: "same source and target", wantErr: forge.ErrConflict,
			post:     reply(http.StatusBadRequest, `{"message":["You can't use same project/branch for source and target"]}`),
			list:     reply(http.StatusOK, []any{}),
			wantReqs: []string{"POST " + glMRs, "GET " + glMRs}},
		{name: "validation error, an open one exists", want: 3,
			post:     reply(http.StatusBadRequest, `{"message":{"source_branch":["is invalid"]}}`),
			list:     reply(http.StatusOK, []any{existing}),
			wantReqs: []string{"POST " + glMRs, "GET " + glMRs}},
	}
	open := openTest{
		pulls: glMRs, newForge: newGitLab, header: checkGitLabHeaders,
		head: "storeops/remove-acme", title: "Remove store acme",
		wantBody: map[string]any{"source_branch": "storeops/remove-acme", "target_branch": "main",
			"title": "Remove store acme", "description": "the body"},
		wantQuery: map[string]string{"state": "opened", "source_branch": "storeops/remove-acme", "target_branch": "main", "per_page": "100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := open.run(t, tt.post, tt.list, tt.wantErr, tt.wantReqs)
			if tt.want != 0 {
				if got == nil || got.Number != tt.want || got.State != forge.StateOpen || got.Head != "storeops/remove-acme" || got.Base != "main" ||
					!strings.HasSuffix(got.URL, fmt.Sprintf("/merge_requests/%d", tt.want)) || !got.Created.Equal(t0) {
					t.Errorf("got %+v, want !%d", got, tt.want)
				}
			}
		})
	}
}

// checkGitLabHeaders checks that the token travels in PRIVATE-TOKEN only.
func checkGitLabHeaders(t *testing.T, r request) {
	t.Helper()
	if got := r.Header.Get("PRIVATE-TOKEN"); got != testToken {
		t.Errorf("%s %s: PRIVATE-TOKEN %q", r.Method, r.Path, got)
	}
	if got := r.Header.Get("Authorization"); got != "" {
		t.Errorf("%s %s: unexpected Authorization %q", r.Method, r.Path, got)
	}
}

func TestGitLabFindOpenIgnoresForks(t *testing.T) {
	fork := glMR(9, "storeops/add-acme", "opened", t0)
	fork["source_project_id"] = 77
	api := newFakeAPI(t, map[string]route{"GET " + glMRs: reply(http.StatusOK, []any{fork})})
	got, err := newGitLab(t, api).FindOpen(context.Background(), "storeops/add-acme", "main")
	if err != nil || got != nil {
		t.Errorf("FindOpen = %+v, %v; want nil, nil", got, err)
	}
}

func TestGitLabList(t *testing.T) {
	api := newFakeAPI(t, map[string]route{"GET " + glMRs: reply(http.StatusOK, []any{
		glMR(6, "storeops/add-e", "locked", t0),
		glMR(5, "storeops/add-d", "merged", t0.Add(-time.Minute)),
		glMR(4, "fix-typo", "opened", t0.Add(-2*time.Minute)),
		glMR(3, "storeops/remove-c", "closed", t0.Add(-3*time.Minute)),
		glMR(2, "storeops/add-b", "opened", t0.Add(-4*time.Minute)),
	})})
	got, err := newGitLab(t, api).List(context.Background(), "storeops/", 0)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, p := range got {
		states = append(states, fmt.Sprintf("!%d %s %s", p.Number, p.Head, p.State))
	}
	want := []string{"!6 storeops/add-e open", "!5 storeops/add-d merged", "!3 storeops/remove-c closed", "!2 storeops/add-b open"}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
	wantQ := map[string]string{"state": "all", "order_by": "created_at", "sort": "desc", "per_page": "100", "page": "1"}
	if diff := cmp.Diff(wantQ, api.requests()[0].Query); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
}
