package forge_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storeops/storeops/forge"
)

// ghPulls is where the fake API, a GitHub Enterprise Server on a
// loopback address, serves the pull requests: under /api/v3.
const ghPulls = "/api/v3/repos/acme/config/pulls"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ghPull is a GitHub pull request object as the API sends it (the part
// of it the client reads, and the head's and base's label and sha).
func ghPull(n int, head, state string, created time.Time, mergedAt *time.Time) map[string]any {
	return map[string]any{
		"number": n, "html_url": fmt.Sprintf("https://github.com/acme/config/pull/%d", n),
		"state": state, "title": "Add store " + head, "body": "body " + head,
		"created_at": created.Format(time.RFC3339), "merged_at": mergedAt,
		"head": ghBranch("acme", head, 1296269),
		"base": ghBranch("acme", "main", 1296269),
	}
}

// ghBranch is the head or base of a GitHub pull request: branch of the
// repository owner/config whose id is repoID.
func ghBranch(owner, branch string, repoID int64) map[string]any {
	return map[string]any{
		"label": owner + ":" + branch, "ref": branch, "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
		"repo": map[string]any{"id": repoID, "name": "config", "full_name": owner + "/config"},
	}
}

func newGitHub(t *testing.T, api *fakeAPI) forge.Forge {
	t.Helper()
	return mustNew(t, forge.Config{Kind: forge.KindGitHub, BaseURL: api.URL, Repo: "acme/config", Token: testToken})
}

// checkGitHubHeaders checks the headers GitHub's REST API asks for.
func checkGitHubHeaders(t *testing.T, r request) {
	t.Helper()
	want := map[string]string{
		"Authorization":        "Bearer " + testToken,
		"Accept":               "application/vnd.github+json",
		"X-Github-Api-Version": "2022-11-28",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s %s: header %s = %q, want %q", r.Method, r.Path, k, got, v)
		}
	}
	if r.Body != nil && r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: Content-Type %q", r.Method, r.Path, r.Header.Get("Content-Type"))
	}
}

func TestGitHubOpen(t *testing.T) {
	merged := t0.Add(time.Hour)
	existing := ghPull(7, "storeops/add-acme", "open", t0, nil)
	tests := []struct {
		name     string
		post     route
		list     route
		want     *forge.PullRequest
		wantErr  error
		wantReqs []string
	}{{
		name: "created",
		post: reply(http.StatusCreated, ghPull(8, "storeops/add-acme", "open", t0, nil)),
		want: &forge.PullRequest{Number: 8, URL: "https://github.com/acme/config/pull/8", State: "open",
			Head: "storeops/add-acme", Base: "main", HeadRef: "refs/pull/8/head", Title: "Add store storeops/add-acme",
			Body: "body storeops/add-acme", Created: t0},
		wantReqs: []string{"POST " + ghPulls},
	}, {
		name: "already exists returns the open one",
		post: reply(http.StatusUnprocessableEntity, `{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for acme:storeops/add-acme."}]}`),
		list: reply(http.StatusOK, []any{existing}),
		want: &forge.PullRequest{Number: 7, URL: "https://github.com/acme/config/pull/7", State: "open",
			Head: "storeops/add-acme", Base: "main", HeadRef: "refs/pull/7/head", Title: "Add store storeops/add-acme",
			Body: "body storeops/add-acme", Created: t0},
		wantReqs: []string{"POST " + ghPulls, "GET " + ghPulls},
	}, {
		name:     "422 without an open one",
		post:     reply(http.StatusUnprocessableEntity, `{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"No commits between main and storeops/add-acme"}]}`),
		list:     reply(http.StatusOK, []any{ghPull(3, "storeops/add-acme", "closed", t0, &merged)}),
		wantErr:  forge.ErrConflict,
		wantReqs: []string{"POST " + ghPulls, "GET " + ghPulls},
	}, {
		name:     "bad credentials",
		post:     reply(http.StatusUnauthorized, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`),
		wantErr:  forge.ErrAuth,
		wantReqs: []string{"POST " + ghPulls},
	}, {
		name:     "token without write access",
		post:     reply(http.StatusForbidden, `{"message":"Resource not accessible by personal access token"}`),
		wantErr:  forge.ErrAuth,
		wantReqs: []string{"POST " + ghPulls},
	}, {
		name:     "no such repository",
		wantErr:  forge.ErrNotFound,
		wantReqs: []string{"POST " + ghPulls},
	}}
	open := openTest{
		pulls: ghPulls, newForge: newGitHub, header: checkGitHubHeaders,
		head: "storeops/add-acme", title: "Add store acme",
		wantBody:  map[string]any{"title": "Add store acme", "head": "storeops/add-acme", "base": "main", "body": "the body"},
		wantQuery: map[string]string{"state": "open", "head": "acme:storeops/add-acme", "base": "main", "per_page": "100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := open.run(t, tt.post, tt.list, tt.wantErr, tt.wantReqs)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pull request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGitHubFindOpen(t *testing.T) {
	fork := ghPull(5, "storeops/add-acme", "open", t0, nil)
	fork["head"] = ghBranch("mallory", "storeops/add-acme", 4242)
	tests := []struct {
		name    string
		answer  route
		want    int // number, 0 for nil
		wantErr error
	}{
		{"none", reply(http.StatusOK, []any{}), 0, nil},
		{"found", reply(http.StatusOK, []any{ghPull(4, "storeops/add-acme", "open", t0, nil)}), 4, nil},
		{"other branch ignored", reply(http.StatusOK, []any{ghPull(4, "storeops/add-acme2", "open", t0, nil)}), 0, nil},
		{"fork ignored", reply(http.StatusOK, []any{fork}), 0, nil},
		{"bad credentials", reply(http.StatusUnauthorized, `{"message":"Bad credentials"}`), 0, forge.ErrAuth},
		{"server error", reply(http.StatusBadGateway, "<html>bad gateway</html>"), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, map[string]route{"GET " + ghPulls: tt.answer})
			got, err := newGitHub(t, api).FindOpen(context.Background(), "storeops/add-acme", "main")
			if tt.name == "server error" {
				var apiErr *forge.APIError
				if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadGateway || !strings.Contains(err.Error(), "bad gateway") {
					t.Fatalf("err = %v, want an APIError 502 with the body", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			switch {
			case tt.want == 0 && got != nil:
				t.Errorf("got #%d, want none", got.Number)
			case tt.want != 0 && (got == nil || got.Number != tt.want):
				t.Errorf("got %+v, want #%d", got, tt.want)
			}
		})
	}
}

func TestGitHubList(t *testing.T) {
	merged := t0.Add(time.Hour)
	page1 := make([]any, 0, 100)
	for i := 0; i < 100; i++ {
		head := fmt.Sprintf("feature-%d", i)
		if i == 10 {
			head = "storeops/add-b"
		}
		page1 = append(page1, ghPull(300-i, head, "open", t0.Add(-time.Duration(i)*time.Minute), nil))
	}
	page2 := []any{
		ghPull(150, "storeops/remove-c", "closed", t0.Add(-200*time.Minute), &merged),
		ghPull(149, "storeops/add-d", "closed", t0.Add(-201*time.Minute), nil),
	}
	api := newFakeAPI(t, map[string]route{"GET " + ghPulls: func(w http.ResponseWriter, r request) {
		switch r.Query["page"] {
		case "1":
			writeJSON(w, http.StatusOK, page1)
		case "2":
			writeJSON(w, http.StatusOK, page2)
		default:
			writeJSON(w, http.StatusOK, []any{})
		}
	}})
	got, err := newGitHub(t, api).List(context.Background(), "storeops/", 10)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, p := range got {
		states = append(states, fmt.Sprintf("#%d %s %s", p.Number, p.Head, p.State))
	}
	want := []string{"#290 storeops/add-b open", "#150 storeops/remove-c merged", "#149 storeops/add-d closed"}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
	reqs := api.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 pages", len(reqs))
	}
	wantQ := map[string]string{"state": "all", "sort": "created", "direction": "desc", "per_page": "100", "page": "1"}
	if diff := cmp.Diff(wantQ, reqs[0].Query); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}

	got, err = newGitHub(t, api).List(context.Background(), "storeops/", 1)
	if err != nil || len(got) != 1 || got[0].Number != 290 {
		t.Errorf("limit 1: %v, %v", got, err)
	}
}
