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

// TestPreviewForkOnGitea: a contributor forks the config repository,
// changes stores.yaml on a branch of the fork and opens a pull request
// into the repository. Its plan is commented on it, read from the ref
// Gitea keeps of its head in the repository (refs/pull/<N>/head), and
// follows the fork's pushes. The repository has a branch of the same
// name with other content, in a pull request of its own: each pull
// request is planned from its own head. Before, pull requests from
// forks were left out: no comment.
func TestPreviewForkOnGitea(t *testing.T) {
	g := giteatest.Start(t)
	ctx := context.Background()
	clone := g.CreateRepo(t, "config", map[string]string{"stores.yaml": two})
	bob := g.CreateUser(t, "bob")
	bob.Fork(t, "config")
	bob.CreateBranch(t, "config", "add-c", "main")
	bob.WriteFile(t, "config", "add-c", "stores.yaml", two+"  - name: c\n    type: woocommerce\n    domain: shop.c.example\n", "Add c")
	fork := bob.OpenPull(t, "config", "add-c", "main", "Add c")

	// The repository's own branch add-c adds another store.
	g.CreateBranch(t, "config", "add-c", "main")
	g.WriteFile(t, "config", "add-c", "stores.yaml", two+"  - name: d\n    type: medusa\n    domain: shop.d.example\n", "Add d")
	f, err := forge.New(forge.Config{Kind: forge.KindGitea, BaseURL: g.URL(), Repo: g.RepoPath("config"), Token: g.Token()})
	if err != nil {
		t.Fatal(err)
	}
	own, err := f.Open(ctx, "add-c", "main", "Add d", "")
	if err != nil {
		t.Fatal(err)
	}
	if own.Number == fork {
		t.Fatalf("one pull request #%d for both", fork)
	}
	c, _ := forge.Comments(f)
	p := preview.New(preview.Config{Forge: f, Comments: c, Plan: live,
		Git: gitsource.Config{URL: clone, Branch: "main", Auth: gitsource.Auth{Token: g.Token()}}})
	if err := p.Scan(ctx); err != nil {
		t.Fatal(err)
	}

	fromFork := comments(t, g, fork)
	if len(fromFork) != 1 || !strings.Contains(fromFork[0].Body, "- install c (woocommerce, small, shop.c.example)") ||
		strings.Contains(fromFork[0].Body, "install d") {
		t.Fatalf("comments on the fork's pull request #%d: %+v", fork, fromFork)
	}
	ours := comments(t, g, own.Number)
	if len(ours) != 1 || !strings.Contains(ours[0].Body, "- install d (medusa, small, shop.d.example)") ||
		strings.Contains(ours[0].Body, "install c") {
		t.Fatalf("comments on the repository's pull request #%d: %+v", own.Number, ours)
	}
	byNumber := map[int]preview.Preview{}
	for _, pv := range p.Previews() {
		byNumber[pv.Number] = pv
	}
	if pv := byNumber[fork]; !pv.Fork || pv.Head != "add-c" || pv.Ref != "refs/pull/"+strconv.Itoa(fork)+"/head" {
		t.Errorf("preview of the fork's pull request: %+v", pv)
	}
	if pv := byNumber[own.Number]; pv.Fork || pv.Ref != "refs/heads/add-c" {
		t.Errorf("preview of the repository's pull request: %+v", pv)
	}

	// A push to the fork's branch edits the one comment in place.
	sha := bob.WriteFile(t, "config", "add-c", "stores.yaml", "stores:\n  - name: a\n    type: woocommerce\n", "Drop b")
	if err := p.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	after := comments(t, g, fork)
	if len(after) != 1 || after[0].ID != fromFork[0].ID || !strings.Contains(after[0].Body, "**delete b — data will be destroyed") ||
		!strings.Contains(after[0].Body, "### storeops plan for "+sha[:12]) {
		t.Fatalf("comments on the fork's pull request after a push of %s: %+v", sha, after)
	}
	if ours := comments(t, g, own.Number); len(ours) != 1 || !strings.Contains(ours[0].Body, "- install d (") {
		t.Fatalf("comments on the repository's pull request after the fork's push: %+v", ours)
	}
}
