package forge_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/forge"
	"github.com/storeops/storeops/internal/giteatest"
)

// TestGitea runs the Gitea client against a real Gitea.
func TestGitea(t *testing.T) {
	g := giteatest.Start(t)
	ctx := context.Background()
	g.CreateRepo(t, "config", map[string]string{"stores.yaml": "stores: []\n"})
	for _, b := range []string{"storeops/add-a", "storeops/add-b", "storeops/remove-c", "feature"} {
		if status := g.API(t, http.MethodPost, "/repos/"+g.RepoPath("config")+"/branches",
			map[string]string{"new_branch_name": b, "old_branch_name": "main"}, nil); status != http.StatusCreated {
			t.Fatalf("create branch %s: %d", b, status)
		}
		g.WriteFile(t, "config", b, "stores.yaml", "stores: []\n# "+b+"\n", "Change for "+b)
	}
	f, err := forge.New(forge.Config{Kind: forge.KindGitea, BaseURL: g.URL(), Repo: g.RepoPath("config"), Token: g.Token()})
	if err != nil {
		t.Fatal(err)
	}

	if pr, err := f.FindOpen(ctx, "storeops/add-a", "main"); err != nil || pr != nil {
		t.Fatalf("FindOpen before opening = %+v, %v", pr, err)
	}
	a, err := f.Open(ctx, "storeops/add-a", "main", "Add a", "body of a")
	if err != nil {
		t.Fatal(err)
	}
	if a.Number == 0 || a.State != forge.StateOpen || a.Head != "storeops/add-a" || a.Base != "main" || a.Title != "Add a" ||
		a.Body != "body of a" || a.URL != g.URL()+"/"+g.RepoPath("config")+"/pulls/1" || a.Created.IsZero() {
		t.Errorf("Open = %+v", a)
	}
	found, err := f.FindOpen(ctx, "storeops/add-a", "main")
	if err != nil || found == nil || found.Number != a.Number {
		t.Errorf("FindOpen = %+v, %v; want #%d", found, err, a.Number)
	}
	if pr, err := f.FindOpen(ctx, "storeops/add-a", "other"); err != nil || pr != nil {
		t.Errorf("FindOpen into another base = %+v, %v", pr, err)
	}
	// Gitea answers 409 to a second pull request for the same branches.
	dup, err := f.Open(ctx, "storeops/add-a", "main", "Add a again", "")
	if err != nil || dup.Number != a.Number {
		t.Errorf("second Open = %+v, %v; want #%d", dup, err, a.Number)
	}

	b, err := f.Open(ctx, "storeops/add-b", "main", "Add b", "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Open(ctx, "storeops/remove-c", "main", "Remove c", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open(ctx, "feature", "main", "Feature", ""); err != nil {
		t.Fatal(err)
	}
	g.Merge(t, "config", b.Number)
	g.ClosePull(t, "config", c.Number)

	list, err := f.List(ctx, "storeops/", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range list {
		got = append(got, p.Head+" "+p.State)
	}
	want := []string{"storeops/remove-c closed", "storeops/add-b merged", "storeops/add-a open"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("List = %v, want %v", got, want)
	}
	if list, err := f.List(ctx, "storeops/", 1); err != nil || len(list) != 1 || list[0].Number != c.Number {
		t.Errorf("List limit 1 = %+v, %v", list, err)
	}

	// Opening without commits between the branches is refused.
	if _, err := f.Open(ctx, "main", "main", "Nothing", ""); err == nil {
		t.Error("Open main into main succeeded")
	}

	bad, err := forge.New(forge.Config{Kind: forge.KindGitea, BaseURL: g.URL(), Repo: g.RepoPath("config"), Token: "0123456789abcdef0123"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.List(ctx, "storeops/", 10); !errors.Is(err, forge.ErrAuth) || strings.Contains(err.Error(), "0123456789abcdef0123") {
		t.Errorf("bad token: %v, want ErrAuth without the token", err)
	}
	missing, err := forge.New(forge.Config{Kind: forge.KindGitea, BaseURL: g.URL(), Repo: g.RepoPath("nope"), Token: g.Token()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := missing.FindOpen(ctx, "x", "main"); !errors.Is(err, forge.ErrNotFound) {
		t.Errorf("missing repository: %v, want ErrNotFound", err)
	}
}

// fakeGitea is a contract server for Gitea's pull request list: it caps
// page sizes at max (Gitea's [api] MAX_RESPONSE_ITEMS), filters by state
// and base_branch, and sends Link (rel="next" while a page follows, as
// Gitea's genAPILinks) and X-Total-Count like Gitea.
func fakeGitea(t *testing.T, maxItems int, pulls []map[string]any) *fakeAPI {
	t.Helper()
	const path = "/api/v1/repos/acme/config/pulls"
	return newFakeAPI(t, map[string]route{"GET " + path: func(w http.ResponseWriter, r request) {
		var match []map[string]any
		for _, p := range pulls {
			state := r.Query["state"]
			if (state == "" || state == "all" || p["state"] == state) &&
				(r.Query["base_branch"] == "" || p["base"].(map[string]any)["ref"] == r.Query["base_branch"]) {
				match = append(match, p)
			}
		}
		size, _ := strconv.Atoi(r.Query["limit"])
		if size <= 0 || size > maxItems {
			size = maxItems
		}
		page, _ := strconv.Atoi(r.Query["page"])
		page = max(page, 1)
		from := min((page-1)*size, len(match))
		to := min(from+size, len(match))
		if pages := (len(match) + size - 1) / size; page < pages {
			q := url.Values{}
			for k, v := range r.Query {
				q.Set(k, v)
			}
			q.Set("page", strconv.Itoa(page+1))
			w.Header().Set("Link", fmt.Sprintf(`<http://gitea.example%s?%s>; rel="next",<http://gitea.example%s?page=%d>; rel="last"`, path, q.Encode(), path, pages))
		}
		w.Header().Set("X-Total-Count", strconv.Itoa(len(match)))
		writeJSON(w, http.StatusOK, match[from:to])
	}})
}

func giteaPull(n int, head, state string, created time.Time) map[string]any {
	return map[string]any{
		"number": n, "html_url": fmt.Sprintf("https://gitea.example/acme/config/pulls/%d", n), "state": state,
		"merged": false, "title": "PR " + head, "body": "", "created_at": created.Format(time.RFC3339),
		"head": map[string]any{"label": head, "ref": head, "sha": "0123456789abcdef0123456789abcdef01234567", "repo_id": 1},
		"base": map[string]any{"label": "main", "ref": "main", "sha": "89abcdef0123456789abcdef0123456789abcdef", "repo_id": 1},
	}
}

// A Gitea whose MAX_RESPONSE_ITEMS is below the client's page size
// answers short pages that are not the last. Before, the client stopped
// at the first short page: FindOpen missed an open pull request further
// down (and Open then failed on Gitea's 409), List missed the rest.
func TestGiteaCappedPages(t *testing.T) {
	var pulls []map[string]any
	for i := 25; i >= 1; i-- { // newest first, as Gitea lists them
		pulls = append(pulls, giteaPull(i, fmt.Sprintf("storeops/add-s%d", i), "open", t0.Add(time.Duration(i)*time.Minute)))
	}
	for _, max := range []int{1, 10, 24, 25, 50} {
		api := fakeGitea(t, max, pulls)
		f := mustNew(t, forge.Config{Kind: forge.KindGitea, BaseURL: api.URL, Repo: "acme/config", Token: testToken})
		pr, err := f.FindOpen(context.Background(), "storeops/add-s1", "main")
		if err != nil || pr == nil || pr.Number != 1 {
			t.Errorf("max %d: FindOpen the oldest = %+v, %v", max, pr, err)
		}
		if pr, err := f.FindOpen(context.Background(), "storeops/add-s99", "main"); err != nil || pr != nil {
			t.Errorf("max %d: FindOpen a missing one = %+v, %v", max, pr, err)
		}
		list, err := f.List(context.Background(), "storeops/", 50)
		if err != nil || len(list) != 25 || list[24].Number != 1 {
			t.Errorf("max %d: List = %d pull requests, %v", max, len(list), err)
		}
		// No request past the last page.
		if n, want := len(api.requests()), 3*((25+max-1)/max); max < 50 && n != want {
			t.Errorf("max %d: %d requests, want %d", max, n, want)
		}
	}
}

// TestGiteaSmallPages runs the client against a real Gitea whose
// MAX_RESPONSE_ITEMS (3) is below the page size it asks for (50). Before,
// the first short page was taken for the last: FindOpen missed the oldest
// open pull request, a second Open of it failed on Gitea's 409, and List
// returned only the newest three.
func TestGiteaSmallPages(t *testing.T) {
	g := giteatest.StartWith(t, giteatest.Options{MaxResponseItems: 3})
	ctx := context.Background()
	g.CreateRepo(t, "config", map[string]string{"stores.yaml": "stores: []\n"})
	f, err := forge.New(forge.Config{Kind: forge.KindGitea, BaseURL: g.URL(), Repo: g.RepoPath("config"), Token: g.Token()})
	if err != nil {
		t.Fatal(err)
	}
	var first *forge.PullRequest
	for i := 1; i <= 7; i++ {
		b := fmt.Sprintf("storeops/add-s%d", i)
		g.CreateBranch(t, "config", b, "main")
		g.WriteFile(t, "config", b, "stores.yaml", "stores: []\n# "+b+"\n", "Change for "+b)
		pr, err := f.Open(ctx, b, "main", "Add s"+strconv.Itoa(i), "")
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = pr
		}
	}
	found, err := f.FindOpen(ctx, "storeops/add-s1", "main")
	if err != nil || found == nil || found.Number != first.Number {
		t.Errorf("FindOpen of the oldest = %+v, %v; want #%d", found, err, first.Number)
	}
	again, err := f.Open(ctx, "storeops/add-s1", "main", "Add s1 again", "")
	if err != nil || again.Number != first.Number {
		t.Errorf("second Open of the oldest = %+v, %v; want #%d", again, err, first.Number)
	}
	list, err := f.List(ctx, "storeops/", 50)
	if err != nil || len(list) != 7 || list[6].Number != first.Number {
		t.Errorf("List = %d pull requests, %v; want 7", len(list), err)
	}
}
