package preview_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/storeops/storeops/forge"
	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/giteatest"
	"github.com/storeops/storeops/internal/preview"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

const two = "stores:\n  - name: a\n    type: woocommerce\n  - name: b\n    type: medusa\n"

// live stands for the cluster: stores a and b exist. It plans with the
// same rules as the reconciler for what a preview shows: installs of new
// stores, deletions of removed ones, the guard (at most one at once).
func live(cfg *render.Config, _ gitsource.Snapshot) ([]reconcile.Action, error) {
	desired := render.Render(cfg)
	declared := map[string]bool{}
	var actions []reconcile.Action
	for i := range desired {
		d := &desired[i]
		declared[d.Store.Name] = true
		if d.Store.Name != "a" && d.Store.Name != "b" {
			actions = append(actions, reconcile.Action{Kind: reconcile.ActInstall, Store: d.Store.Name, Desired: d, Reason: "not installed"})
		}
	}
	var deletes []string
	for _, n := range []string{"a", "b"} {
		if !declared[n] {
			deletes = append(deletes, n)
			actions = append(actions, reconcile.Action{Kind: reconcile.ActDelete, Store: n, Reason: "no longer declared"})
		}
	}
	if len(deletes) > 1 {
		return nil, &reconcile.MassDeletionError{Deletes: len(deletes), Managed: 2, Allowed: 1, Stores: deletes}
	}
	return actions, nil
}

type note struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
}

// comments returns storeops' comments on pull request number.
func comments(t *testing.T, g *giteatest.Gitea, number int) []note {
	t.Helper()
	var all, ours []note
	if code := g.API(t, http.MethodGet, "/repos/"+g.RepoPath("config")+"/issues/"+strconv.Itoa(number)+"/comments", nil, &all); code != http.StatusOK {
		t.Fatalf("comments: %d", code)
	}
	for _, c := range all {
		if strings.Contains(c.Body, preview.Marker) {
			ours = append(ours, c)
		}
	}
	return ours
}

// TestPreviewOnGitea: one comment per pull request that changes
// stores.yaml, edited in place on new pushes; located errors for an
// invalid file; the guard's refusal; nothing on a pull request that
// leaves stores.yaml alone.
func TestPreviewOnGitea(t *testing.T) {
	g := giteatest.Start(t)
	ctx := context.Background()
	clone := g.CreateRepo(t, "config", map[string]string{"stores.yaml": two, "README.md": "fleet\n"})
	branch := func(name, path, content string) {
		g.CreateBranch(t, "config", name, "main")
		g.WriteFile(t, "config", name, path, content, "change "+name)
	}
	branch("add-c", "stores.yaml", two+"  - name: c\n    type: woocommerce\n    domain: shop.c.example\n")
	branch("empty", "stores.yaml", "stores: []\n")
	branch("docs", "README.md", "the fleet\n")
	f, err := forge.New(forge.Config{Kind: forge.KindGitea, BaseURL: g.URL(), Repo: g.RepoPath("config"), Token: g.Token()})
	if err != nil {
		t.Fatal(err)
	}
	c, ok := forge.Comments(f)
	if !ok {
		t.Fatal("the Gitea client has no comments")
	}
	prs := map[string]int{}
	for _, b := range []string{"add-c", "empty", "docs"} {
		pr, err := f.Open(ctx, b, "main", "Change "+b, "")
		if err != nil {
			t.Fatal(err)
		}
		prs[b] = pr.Number
	}
	p := preview.New(preview.Config{Forge: f, Comments: c, Plan: live,
		Git: gitsource.Config{URL: clone, Branch: "main", Auth: gitsource.Auth{Token: g.Token()}}})
	if err := p.Scan(ctx); err != nil {
		t.Fatal(err)
	}

	add := comments(t, g, prs["add-c"])
	if len(add) != 1 || !strings.Contains(add[0].Body, "- install c (woocommerce, small, shop.c.example)") {
		t.Fatalf("add-c comments: %+v", add)
	}
	empty := comments(t, g, prs["empty"])
	if len(empty) != 1 || !strings.Contains(empty[0].Body, "- REFUSED by the mass-deletion guard: refusing to delete 2 of 2 stores (a, b)") ||
		!strings.Contains(empty[0].Body, "storeops confirm-deletions <revision>") {
		t.Fatalf("empty comments: %+v", empty)
	}
	if docs := comments(t, g, prs["docs"]); len(docs) != 0 {
		t.Fatalf("a pull request leaving stores.yaml alone got %+v", docs)
	}

	// A scan with nothing new writes nothing; a push to the branch edits
	// the one comment in place.
	if err := p.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	g.WriteFile(t, "config", "add-c", "stores.yaml", two+"  - name: c\n    type: shopify\n", "typo")
	if err := p.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	after := comments(t, g, prs["add-c"])
	if len(after) != 1 || after[0].ID != add[0].ID {
		t.Fatalf("want the same one comment, edited; got %+v (was %d)", after, add[0].ID)
	}
	if !strings.Contains(after[0].Body, "is invalid") || !strings.Contains(after[0].Body, "- stores.yaml:7:11: stores[2].type: unknown store type \"shopify\"") {
		t.Fatalf("invalid file comment:\n%s", after[0].Body)
	}

	// Removing one store is allowed, and says what it destroys.
	g.WriteFile(t, "config", "add-c", "stores.yaml", "stores:\n  - name: a\n    type: woocommerce\n", "drop b")
	if err := p.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	after = comments(t, g, prs["add-c"])
	if len(after) != 1 || !strings.Contains(after[0].Body, "**delete b — data will be destroyed") {
		t.Fatalf("deletion comment: %+v", after)
	}

	// What the dashboard shows.
	pvs := p.Previews()
	if len(pvs) != 2 || pvs[0].Number != prs["empty"] || pvs[0].Refused == "" || pvs[1].Changes[0] != "delete b — data will be destroyed (its database, uploads and credentials)" {
		t.Fatalf("previews: %+v", pvs)
	}
}
