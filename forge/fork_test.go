package forge_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storeops/storeops/forge"
)

// headOf is what a plan preview needs of a pull request: its head
// branch, whether that is in a fork, and the ref of the base repository
// that holds its head commit.
type headOf struct {
	Number  int
	Head    string
	Fork    bool
	HeadRef string
}

func heads(prs []forge.PullRequest) []headOf {
	out := make([]headOf, 0, len(prs))
	for _, p := range prs {
		out = append(out, headOf{p.Number, p.Head, p.Fork, p.HeadRef})
	}
	return out
}

// forkCase is a List test with pull requests from the repository
// itself and from forks, one of them from a branch that has the name of
// a branch of the repository, and FindOpen of that name.
type forkCase struct {
	name     string
	pulls    string // "/escaped/path" of the pull requests
	newForge func(*testing.T, *fakeAPI) forge.Forge
	list     []any // newest first
	want     []headOf
	findOpen int // the number FindOpen("feature", "main") returns
}

func TestListForks(t *testing.T) {
	// GitHub: a fork's head repository is another one; a deleted fork's
	// is null.
	ghFork := ghPull(12, "feature", "open", t0, nil)
	ghFork["head"] = ghBranch("mallory", "feature", 4242)
	ghGone := ghPull(11, "fix", "open", t0.Add(-time.Minute), nil)
	ghGone["head"].(map[string]any)["repo"] = nil
	ghGone["head"].(map[string]any)["label"] = "unknown:fix"

	// GitLab: a fork's source project is another one.
	glFork := glMR(12, "feature", "opened", t0)
	glFork["source_project_id"] = 77

	// Gitea: a fork's head repo_id is another one, -1 once the fork is
	// deleted (its ref is then refs/pull/<N>/head, its label the
	// branch); a pull request pushed with AGit has no label and the
	// base's repo_id.
	gtFork := giteaPull(12, "feature", "open", t0)
	gtFork["head"].(map[string]any)["repo_id"] = 9
	gtGone := giteaPull(11, "fix", "open", t0.Add(-time.Minute))
	gtGone["head"].(map[string]any)["repo_id"] = -1
	gtGone["head"].(map[string]any)["ref"] = "refs/pull/11/head"
	gtAGit := giteaPull(10, "", "open", t0.Add(-2*time.Minute))
	gtAGit["head"].(map[string]any)["ref"] = "refs/pull/10/head"
	gtAGit["head"].(map[string]any)["label"] = ""
	gtDeleted := giteaPull(9, "old", "closed", t0.Add(-3*time.Minute))
	gtDeleted["head"].(map[string]any)["ref"] = "refs/pull/9/head"

	for _, tc := range []forkCase{{
		name: "github", pulls: ghPulls, newForge: newGitHub,
		list: []any{ghFork, ghGone, ghPull(10, "feature", "open", t0.Add(-2*time.Minute), nil)},
		want: []headOf{
			{12, "feature", true, "refs/pull/12/head"},
			{11, "fix", true, "refs/pull/11/head"},
			{10, "feature", false, "refs/pull/10/head"},
		},
		findOpen: 10,
	}, {
		name: "gitlab", pulls: glMRs, newForge: newGitLab,
		list: []any{glFork, glMR(10, "feature", "opened", t0.Add(-2*time.Minute))},
		want: []headOf{
			{12, "feature", true, "refs/merge-requests/12/head"},
			{10, "feature", false, "refs/merge-requests/10/head"},
		},
		findOpen: 10,
	}, {
		name: "gitea", pulls: "/api/v1/repos/acme/config/pulls",
		newForge: func(t *testing.T, api *fakeAPI) forge.Forge {
			return mustNew(t, forge.Config{Kind: forge.KindGitea, BaseURL: api.URL, Repo: "acme/config", Token: testToken})
		},
		list: []any{gtFork, gtGone, gtAGit, gtDeleted, giteaPull(8, "feature", "open", t0.Add(-4*time.Minute))},
		want: []headOf{
			{12, "feature", true, "refs/pull/12/head"},
			{11, "fix", true, "refs/pull/11/head"},
			{10, "refs/pull/10/head", false, "refs/pull/10/head"},
			{9, "old", false, "refs/pull/9/head"},
			{8, "feature", false, "refs/pull/8/head"},
		},
		findOpen: 8,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t, map[string]route{"GET " + tc.pulls: reply(http.StatusOK, tc.list)})
			f := tc.newForge(t, api)
			got, err := f.List(context.Background(), "", 0)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, heads(got)); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
			// Storeops' own branch of that name, never the fork's.
			pr, err := f.FindOpen(context.Background(), "feature", "main")
			if err != nil || pr == nil || pr.Number != tc.findOpen || pr.Fork {
				t.Errorf("FindOpen(feature) = %+v, %v; want #%d", pr, err, tc.findOpen)
			}
		})
	}
}
