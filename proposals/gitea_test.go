package proposals_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/storeops/storeops/forge"
	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/giteatest"
	"github.com/storeops/storeops/proposals"
	"github.com/storeops/storeops/render"
)

// giteaProposer creates repository name on g with storesYAML and returns
// a proposer for it.
func giteaProposer(t *testing.T, g *giteatest.Gitea, name string) *proposals.GitProposer {
	t.Helper()
	clone := g.CreateRepo(t, name, map[string]string{"stores.yaml": storesYAML})
	src, err := gitsource.New(gitsource.Config{URL: clone, Auth: gitsource.Auth{Token: g.Token()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fg, err := forge.New(forge.Config{Kind: forge.KindGitea, BaseURL: g.URL(), Repo: g.RepoPath(name), Token: g.Token()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := proposals.New(proposals.Config{Source: src, Forge: fg})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGitea(t *testing.T) {
	g := giteatest.Start(t)
	ctx := context.Background()

	t.Run("create, then again", func(t *testing.T) {
		p := giteaProposer(t, g, "create")
		base, _ := g.BranchHead(t, "create", "main")
		got, err := p.ProposeCreate(ctx, render.NewStore{Name: "carol", Type: "medusa", Plan: "large"}, "dana")
		if err != nil {
			t.Fatal(err)
		}
		if got.Branch != "storeops/add-carol" || got.Existing || got.State != proposals.StateOpen || got.Author != "dana" ||
			got.Title != "Add store carol (medusa, large)" || !strings.HasPrefix(got.URL, g.URL()+"/"+g.RepoPath("create")+"/pulls/") {
			t.Errorf("proposal %+v", got)
		}
		pulls := g.Pulls(t, "create")
		if len(pulls) != 1 {
			t.Fatalf("%d pull requests, want 1", len(pulls))
		}
		pr := pulls[0]
		if pr.Number != got.Number || pr.Head.Ref != got.Branch || pr.Base.Ref != "main" || pr.Title != got.Title {
			t.Errorf("pull request on Gitea %+v", pr)
		}
		for _, part := range []string{"+  - name: carol\n+    type: medusa\n+    plan: large\n", "`store-carol`",
			"Requested by `dana`"} {
			if !strings.Contains(pr.Body, part) {
				t.Errorf("body lacks %q:\n%s", part, pr.Body)
			}
		}
		head, _ := g.BranchHead(t, "create", got.Branch)
		if len(head.Parents) != 1 || head.Parents[0] != base.Commit {
			t.Errorf("branch %+v, want one commit on %s", head, base.Commit)
		}
		content := g.ReadFile(t, "create", got.Branch, "stores.yaml")
		cfg, err := render.Parse("stores.yaml", []byte(content), render.Limits{})
		if err != nil {
			t.Fatalf("stores.yaml on the branch: %v\n%s", err, content)
		}
		if s, ok := cfg.Store("carol"); !ok || s.Type != render.Medusa || s.Plan != render.PlanLarge {
			t.Errorf("store on the branch: %+v, %v", s, ok)
		}
		for _, comment := range []string{"# The stores of the test shop.", "# every store gets <name>.shops.test",
			"# Alice sells books.", "# Bob sells bikes."} {
			if !strings.Contains(content, comment) {
				t.Errorf("comment %q lost:\n%s", comment, content)
			}
		}

		again, err := p.ProposeCreate(ctx, render.NewStore{Name: "carol", Type: "medusa", Plan: "large"}, "erin")
		if err != nil {
			t.Fatal(err)
		}
		if !again.Existing || again.Number != got.Number || again.Author != "dana" {
			t.Errorf("again: %+v, want #%d existing", again, got.Number)
		}
		if after, _ := g.BranchHead(t, "create", got.Branch); after.Commit != head.Commit {
			t.Errorf("branch moved from %s to %s", head.Commit, after.Commit)
		}
		if n := len(g.Pulls(t, "create")); n != 1 {
			t.Errorf("%d pull requests after asking again, want 1", n)
		}
	})

	t.Run("refused", func(t *testing.T) {
		p := giteaProposer(t, g, "refused")
		_, err := p.ProposeCreate(ctx, render.NewStore{Name: "-bad-", Type: "woocommerce"}, "u")
		var fe render.FieldErrors
		if !errors.As(err, &fe) || fe["name"] == "" {
			t.Errorf("invalid name: %v, want FieldErrors on name", err)
		}
		if _, ok := g.BranchHead(t, "refused", "storeops/add--bad-"); ok {
			t.Error("a branch was pushed for an invalid name")
		}
		if _, err := p.ProposeDelete(ctx, "zed", "u"); !errors.Is(err, render.ErrNoSuchStore) {
			t.Errorf("delete of a missing store: %v, want ErrNoSuchStore", err)
		}
		if _, ok := g.BranchHead(t, "refused", "storeops/remove-zed"); ok {
			t.Error("a branch was pushed for a missing store")
		}
		if n := len(g.Pulls(t, "refused")); n != 0 {
			t.Errorf("%d pull requests, want none", n)
		}
	})

	t.Run("merged", func(t *testing.T) {
		p := giteaProposer(t, g, "merged")
		del, err := p.ProposeDelete(ctx, "alice", "frank")
		if err != nil {
			t.Fatal(err)
		}
		g.Merge(t, "merged", del.Number)
		add, err := p.ProposeCreate(ctx, render.NewStore{Name: "carol", Type: "woocommerce"}, "gina")
		if err != nil {
			t.Fatal(err)
		}
		list, err := p.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 {
			t.Fatalf("list: %+v, want 2", list)
		}
		if l := list[0]; l.Number != add.Number || l.Kind != proposals.KindCreate || l.Store != "carol" || l.State != proposals.StateOpen || l.Author != "gina" {
			t.Errorf("list[0] = %+v", l)
		}
		if l := list[1]; l.Number != del.Number || l.Kind != proposals.KindDelete || l.Store != "alice" || l.State != proposals.StateMerged || l.Author != "frank" {
			t.Errorf("list[1] = %+v", l)
		}
		if main := g.ReadFile(t, "merged", "main", "stores.yaml"); strings.Contains(main, "alice") {
			t.Errorf("alice still on main after the merge:\n%s", main)
		}
	})

	t.Run("stale base", func(t *testing.T) {
		p := giteaProposer(t, g, "stale")
		first, err := p.ProposeCreate(ctx, render.NewStore{Name: "carol", Type: "woocommerce"}, "u")
		if err != nil {
			t.Fatal(err)
		}
		old, _ := g.BranchHead(t, "stale", first.Branch)
		g.ClosePull(t, "stale", first.Number)
		edited := strings.Replace(storesYAML, "# The stores of the test shop.", "# The stores of the test shop, edited on main.", 1)
		newBase := g.WriteFile(t, "stale", "main", "stores.yaml", edited, "Edit the header")

		second, err := p.ProposeCreate(ctx, render.NewStore{Name: "carol", Type: "woocommerce"}, "u")
		if err != nil {
			t.Fatal(err)
		}
		if second.Existing || second.Number == first.Number || second.Branch != first.Branch {
			t.Errorf("second proposal %+v after closing #%d", second, first.Number)
		}
		head, _ := g.BranchHead(t, "stale", second.Branch)
		if head.Commit == old.Commit || len(head.Parents) != 1 || head.Parents[0] != newBase {
			t.Errorf("branch %+v, want a new commit on %s", head, newBase)
		}
		content := g.ReadFile(t, "stale", second.Branch, "stores.yaml")
		if !strings.Contains(content, "edited on main") || !strings.Contains(content, "- name: carol") {
			t.Errorf("stores.yaml on the rebuilt branch:\n%s", content)
		}
	})

}
