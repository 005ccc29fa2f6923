package gitsource_test

import (
	"context"
	"errors"
	"testing"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/gittest"
)

const storesV2 = storesV1 + "  - name: beta\n    type: medusa\n"

func propose(t *testing.T, src *gitsource.Source, req gitsource.ProposeRequest) string {
	t.Helper()
	sha, err := src.Propose(context.Background(), req)
	if err != nil {
		t.Fatalf("Propose: %v", err)
	}
	return sha
}

func TestPropose(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"stores.yaml": storesV1, "README": "x"})
	src := newSource(t, gitsource.Config{URL: repo.URL()})
	base := repo.Head(t, "main")
	req := gitsource.ProposeRequest{
		Branch:  "storeops/add-beta",
		Content: []byte(storesV2),
		Message: "Add store beta",
		Author:  gitsource.Signature{Name: "Dana Shop", Email: "dana@example.com"},
	}

	sha := propose(t, src, req)
	if got := repo.Head(t, "storeops/add-beta"); got != sha {
		t.Fatalf("branch head = %s, Propose returned %s", got, sha)
	}
	if got := repo.ReadFile(t, sha, "stores.yaml"); got != storesV2 {
		t.Errorf("proposed stores.yaml = %q", got)
	}
	if got := repo.ReadFile(t, sha, "README"); got != "x" {
		t.Errorf("other files changed: README = %q", got)
	}
	if got := repo.Parents(t, sha); len(got) != 1 || got[0] != base {
		t.Errorf("parents = %v, want [%s]", got, base)
	}
	if got := repo.Message(t, sha); got != "Add store beta\n\n" && got != "Add store beta\n" {
		t.Errorf("message = %q", got)
	}
	if repo.Head(t, "main") != base {
		t.Error("Propose moved the base branch")
	}

	// Asking again on the same base pushes nothing.
	srv.ResetCounts()
	if again := propose(t, src, req); again != sha {
		t.Errorf("second Propose = %s, want the existing %s", again, sha)
	}
	if c := srv.Counts(); c.ReceivePack != 0 {
		t.Errorf("second Propose pushed: %+v", c)
	}

	// The base moves on: the branch is rebuilt on the new head.
	newBase := repo.Commit(t, map[string]string{"README": "y"}, "Edit README")
	rebuilt := propose(t, src, req)
	if rebuilt == sha {
		t.Fatal("Propose kept the branch on the stale base")
	}
	if got := repo.Parents(t, rebuilt); len(got) != 1 || got[0] != newBase {
		t.Errorf("rebuilt parents = %v, want [%s]", got, newBase)
	}
	if got := repo.ReadFile(t, rebuilt, "README"); got != "y" {
		t.Errorf("rebuilt branch lacks the new base's README: %q", got)
	}
	if got := repo.Head(t, "storeops/add-beta"); got != rebuilt {
		t.Errorf("branch head = %s, want %s", got, rebuilt)
	}

	// New content on the same base replaces the proposal.
	req.Content = []byte(storesV2 + "  - name: gamma\n    type: medusa\n")
	replaced := propose(t, src, req)
	if got := repo.ReadFile(t, "storeops/add-beta", "stores.yaml"); replaced == rebuilt || got != string(req.Content) {
		t.Errorf("replaced proposal: head %s content %q", replaced, got)
	}
}

func TestProposeNewNestedFile(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"README": "x"})
	src := newSource(t, gitsource.Config{URL: repo.URL(), Path: "clusters/eu/stores.yaml"})
	sha := propose(t, src, gitsource.ProposeRequest{Branch: "add-eu", Content: []byte(storesV1), Message: "EU"})
	if got := repo.ReadFile(t, sha, "clusters/eu/stores.yaml"); got != storesV1 {
		t.Fatalf("content = %q", got)
	}
}

func TestProposeErrors(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"stores.yaml": storesV1})
	src := newSource(t, gitsource.Config{URL: repo.URL()})
	ok := gitsource.ProposeRequest{Branch: "p", Content: []byte(storesV2), Message: "m"}
	for _, tc := range []struct {
		name string
		edit func(*gitsource.ProposeRequest)
		want error
	}{
		{"same content", func(r *gitsource.ProposeRequest) { r.Content = []byte(storesV1) }, gitsource.ErrNoChange},
		{"base as branch", func(r *gitsource.ProposeRequest) { r.Branch = "main" }, gitsource.ErrConfig},
		{"no branch", func(r *gitsource.ProposeRequest) { r.Branch = "" }, gitsource.ErrConfig},
		{"bad branch", func(r *gitsource.ProposeRequest) { r.Branch = "a b" }, gitsource.ErrConfig},
		{"no message", func(r *gitsource.ProposeRequest) { r.Message = "" }, gitsource.ErrConfig},
		{"escaping path", func(r *gitsource.ProposeRequest) { r.Path = "../x" }, gitsource.ErrConfig},
		{"half an author", func(r *gitsource.ProposeRequest) { r.Author.Name = "x" }, gitsource.ErrConfig},
		{"missing base", func(r *gitsource.ProposeRequest) { r.BaseBranch = "nope" }, gitsource.ErrBranchNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ok
			tc.edit(&req)
			if _, err := src.Propose(context.Background(), req); !errors.Is(err, tc.want) {
				t.Fatalf("Propose error = %v, want %v", err, tc.want)
			}
		})
	}
	if c := srv.Counts(); c.ReceivePack != 0 {
		t.Fatalf("a refused proposal pushed: %+v", c)
	}
}

func TestProposeAuth(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"stores.yaml": storesV1})
	srv.RequireAuth(gittest.Credentials{Token: "push-token"})
	req := gitsource.ProposeRequest{Branch: "p", Content: []byte(storesV2), Message: "m"}

	bad := newSource(t, gitsource.Config{URL: repo.URL(), Auth: gitsource.Auth{Token: "nope"}})
	if _, err := bad.Propose(context.Background(), req); !errors.Is(err, gitsource.ErrAuthFailed) {
		t.Fatalf("Propose with a wrong token: %v, want ErrAuthFailed", err)
	}
	good := newSource(t, gitsource.Config{URL: repo.URL(), Auth: gitsource.Auth{Token: "push-token"}})
	if sha := propose(t, good, req); repo.Head(t, "p") != sha {
		t.Fatal("branch not pushed")
	}
}
