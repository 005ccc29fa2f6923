package forge_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

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
