package proposals_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storeops/storeops/forge"
	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/proposals"
	"github.com/storeops/storeops/render"
)

// storesYAML is the base file of the tests: comments everywhere, two
// stores.
const storesYAML = `# The stores of the test shop.
defaults:
  baseDomain: shops.test # every store gets <name>.shops.test
  plan: small

stores:
  # Alice sells books.
  - name: alice
    type: woocommerce

  # Bob sells bikes.
  - name: bob
    type: medusa
    plan: medium
`

// memForge is a forge that keeps its pull requests in memory.
type memForge struct {
	mu    sync.Mutex
	prs   []forge.PullRequest
	opens int
}

var _ forge.Forge = (*memForge)(nil)

func (f *memForge) FindOpen(_ context.Context, head, base string) (*forge.PullRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.prs {
		if p.Head == head && p.Base == base && p.State == forge.StateOpen {
			return &p, nil
		}
	}
	return nil, nil
}

func (f *memForge) Open(_ context.Context, head, base, title, body string) (*forge.PullRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens++
	n := len(f.prs) + 1
	p := forge.PullRequest{Number: n, URL: fmt.Sprintf("https://forge.test/pulls/%d", n), State: forge.StateOpen,
		Head: head, Base: base, Title: title, Body: body, Created: time.Date(2026, 1, 1, 0, n, 0, 0, time.UTC)}
	f.prs = append(f.prs, p)
	return &p, nil
}

func (f *memForge) List(_ context.Context, prefix string, limit int) ([]forge.PullRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []forge.PullRequest
	for i := len(f.prs) - 1; i >= 0 && len(out) < limit; i-- {
		if strings.HasPrefix(f.prs[i].Head, prefix) {
			out = append(out, f.prs[i])
		}
	}
	return out, nil
}

func (f *memForge) setState(number int, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prs[number-1].State = state
}

type fixture struct {
	srv   *gittest.Server
	repo  *gittest.Repo
	forge *memForge
	p     *proposals.GitProposer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "config", map[string]string{"stores.yaml": storesYAML})
	src, err := gitsource.New(gitsource.Config{URL: repo.URL()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: srv, repo: repo, forge: &memForge{}}
	f.p, err = proposals.New(proposals.Config{Source: src, Forge: f.forge,
		Author: gitsource.Signature{Name: "storeops", Email: "storeops@shops.test"}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestProposeCreate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	base := f.repo.Head(t, "main")
	s := render.NewStore{Name: "anna", Type: "woocommerce", AdminEmail: "anna@shops.test"}

	got, err := f.p.ProposeCreate(ctx, s, "dana\n`evil`")
	if err != nil {
		t.Fatal(err)
	}
	want := proposals.Proposal{Kind: proposals.KindCreate, Store: "anna", Branch: "storeops/add-anna", Number: 1,
		URL: "https://forge.test/pulls/1", Title: "Add store anna (woocommerce, small)", State: proposals.StateOpen,
		Author: "dana evil", Created: got.Created}
	if got != want {
		t.Errorf("proposal\n got %+v\nwant %+v", got, want)
	}
	tip := f.repo.Head(t, got.Branch)
	if parents := f.repo.Parents(t, tip); len(parents) != 1 || parents[0] != base {
		t.Errorf("branch parents %v, want [%s]", parents, base)
	}
	content := f.repo.ReadFile(t, got.Branch, "stores.yaml")
	wantContent := strings.Replace(storesYAML, "  # Bob sells bikes.",
		"  - name: anna\n    type: woocommerce\n    admin:\n      email: anna@shops.test\n\n  # Bob sells bikes.", 1)
	if content != wantContent {
		t.Errorf("stores.yaml on the branch:\n%s\nwant:\n%s", content, wantContent)
	}
	if msg := f.repo.Message(t, tip); !strings.Contains(msg, "Add store anna (woocommerce, small)") ||
		!strings.Contains(msg, "Requested by `dana evil`") {
		t.Errorf("commit message %q", msg)
	}
	body := f.forge.prs[0].Body
	for _, part := range []string{
		"```diff\n--- a/stores.yaml\n+++ b/stores.yaml\n@@ -8,6 +8,11 @@\n",
		"+  - name: anna\n+    type: woocommerce\n+    admin:\n+      email: anna@shops.test\n+\n",
		"   # Bob sells bikes.\n", "| Namespace | `store-anna` |", "| Domain | anna.shops.test |",
		"| Plan | small: up to 20 pods", "Requested by `dana evil` on the storeops dashboard.",
	} {
		if !strings.Contains(body, part) {
			t.Errorf("body lacks %q:\n%s", part, body)
		}
	}

	// Asking again returns the open pull request and pushes nothing.
	f.srv.ResetCounts()
	again, err := f.p.ProposeCreate(ctx, s, "erin")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Existing || again.Number != 1 || again.Author != "dana evil" {
		t.Errorf("second proposal %+v, want #1 existing by dana evil", again)
	}
	if c := f.srv.Counts(); c.ReceivePack != 0 || f.forge.opens != 1 {
		t.Errorf("second proposal pushed %d times, opened %d pull requests", c.ReceivePack, f.forge.opens)
	}
}

func TestProposeRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		do     func() error
		fields []string // FieldErrors keys
		is     error
	}{
		{name: "invalid name", fields: []string{"name"}, do: func() error {
			_, err := f.p.ProposeCreate(ctx, render.NewStore{Name: "Bad_Name", Type: "woocommerce"}, "u")
			return err
		}},
		{name: "unknown type and plan", fields: []string{"plan", "type"}, do: func() error {
			_, err := f.p.ProposeCreate(ctx, render.NewStore{Name: "ok", Type: "shopify", Plan: "huge"}, "u")
			return err
		}},
		{name: "store exists", fields: []string{"name"}, do: func() error {
			_, err := f.p.ProposeCreate(ctx, render.NewStore{Name: "alice", Type: "medusa"}, "u")
			return err
		}},
		{name: "delete a missing store", is: render.ErrNoSuchStore, do: func() error {
			_, err := f.p.ProposeDelete(ctx, "zed", "u")
			return err
		}},
		{name: "delete an invalid name", fields: []string{"name"}, do: func() error {
			_, err := f.p.ProposeDelete(ctx, "../main", "u")
			return err
		}},
	}
	f.srv.ResetCounts()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if tt.fields != nil {
				var fe render.FieldErrors
				if !errors.As(err, &fe) {
					t.Fatalf("err = %v, want FieldErrors", err)
				}
				var keys []string
				for k := range fe {
					keys = append(keys, k)
				}
				if strings.Join(sorted(keys), ",") != strings.Join(tt.fields, ",") {
					t.Errorf("fields %v, want %v", fe, tt.fields)
				}
			}
		})
	}
	if c := f.srv.Counts(); c.ReceivePack != 0 || f.forge.opens != 0 {
		t.Errorf("refused proposals pushed %d times, opened %d pull requests", c.ReceivePack, f.forge.opens)
	}
}

func TestProposeDeleteAndList(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	got, err := f.p.ProposeDelete(ctx, "alice", "frank")
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Remove store alice" || got.Branch != "storeops/remove-alice" || got.Kind != proposals.KindDelete {
		t.Errorf("proposal %+v", got)
	}
	content := f.repo.ReadFile(t, got.Branch, "stores.yaml")
	if strings.Contains(content, "alice") || !strings.Contains(content, "# Bob sells bikes.") {
		t.Errorf("stores.yaml on the branch:\n%s", content)
	}
	body := f.forge.prs[0].Body
	for _, part := range []string{"**Warning: merging deletes the store and all its data.**", "`store-alice`",
		"-  # Alice sells books.\n-  - name: alice\n-    type: woocommerce\n"} {
		if !strings.Contains(body, part) {
			t.Errorf("body lacks %q:\n%s", part, body)
		}
	}

	if _, err := f.p.ProposeCreate(ctx, render.NewStore{Name: "carol", Type: "medusa", Plan: "large"}, "gina"); err != nil {
		t.Fatal(err)
	}
	f.forge.setState(1, forge.StateMerged)
	// A branch under the prefix that storeops did not name is left out,
	// and so is a fork's branch that has the name of a storeops branch.
	f.forge.prs = append(f.forge.prs, forge.PullRequest{Number: 3, Head: "storeops/experiment", State: forge.StateOpen},
		forge.PullRequest{Number: 4, Head: "storeops/add-mallory", Fork: true, State: forge.StateOpen})

	list, err := f.p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, p := range list {
		lines = append(lines, fmt.Sprintf("#%d %s %s %s by %s", p.Number, p.Kind, p.Store, p.State, p.Author))
	}
	want := []string{"#2 create carol open by gina", "#1 delete alice merged by frank"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("list:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseBranch(t *testing.T) {
	for _, kind := range []proposals.Kind{proposals.KindCreate, proposals.KindDelete} {
		k, s, ok := proposals.ParseBranch(proposals.Branch(kind, "shop-1"))
		if !ok || k != kind || s != "shop-1" {
			t.Errorf("ParseBranch(Branch(%s, shop-1)) = %s, %s, %v", kind, k, s, ok)
		}
	}
	for _, b := range []string{"main", "storeops/", "storeops/add-", "storeops/rename-x", "storeops/add-Bad_Name"} {
		if _, _, ok := proposals.ParseBranch(b); ok {
			t.Errorf("ParseBranch(%q) accepted", b)
		}
	}
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}
