package gitsource_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/gittest"
)

// TestFetchRef reads the file at a ref that is no branch, as a forge
// keeps the head of a pull request (a fork's included) in the base
// repository: refs/pull/<N>/head. A branch whose name is the ref's short
// name holds other content and is never what is read.
func TestFetchRef(t *testing.T) {
	for _, dir := range []string{"memory", "disk"} {
		t.Run(dir, func(t *testing.T) {
			srv := gittest.NewServer(t)
			repo := srv.NewRepo(t, "org/stores", map[string]string{"stores.yaml": storesV1})
			storesV2 := storesV1 + "  - name: beta\n    type: medusa\n"
			storesV3 := storesV1 + "  - name: gamma\n    type: medusa\n"
			// The pull request's commits are on no branch of the
			// repository: made on a scratch branch, kept by the ref only.
			head := repo.UpdateRef(t, "refs/pull/3/head", repo.CommitTo(t, "scratch", map[string]string{"stores.yaml": storesV2}, "Add beta"))
			decoy := repo.CommitTo(t, "pull/3/head", map[string]string{"stores.yaml": "stores: []\n"}, "Same name, other content")
			repo.CommitTo(t, "scratch", map[string]string{"stores.yaml": storesV3}, "Not pushed to the pull request")

			cfg := gitsource.Config{URL: repo.URL(), Ref: "refs/pull/3/head"}
			if dir == "disk" {
				cfg.Dir = t.TempDir() + "/cache"
			}
			src := newSource(t, cfg)
			if got := src.Config(); got.Branch != "" || got.Ref != "refs/pull/3/head" {
				t.Errorf("Config() = %+v, want the ref and no branch", got)
			}
			if h, err := src.Head(context.Background()); err != nil || h != head {
				t.Fatalf("Head = %s, %v; want %s", h, err, head)
			}
			first := fetch(t, src)
			if first.Revision != head || string(first.Data) != storesV2 || first.Unchanged {
				t.Fatalf("first Fetch = %+v, want %s with beta", first, head)
			}
			if first.Revision == decoy {
				t.Fatal("the branch of the same name was read")
			}
			srv.ResetCounts()
			if again := fetch(t, src); !again.Unchanged || again.Revision != head {
				t.Errorf("second Fetch = %+v, want the same revision, Unchanged", again)
			}
			if c := srv.Counts(); c.UploadPack != 0 {
				t.Errorf("unchanged ref: counts = %+v, want no upload-pack", c)
			}

			// A push to the pull request moves the ref, even to a commit
			// that does not descend from the previous one (a force push).
			moved := repo.UpdateRef(t, "refs/pull/3/head", repo.CommitTo(t, "other", map[string]string{"stores.yaml": storesV3}, "Force-pushed"))
			snap := fetch(t, src)
			if snap.Unchanged || snap.Revision != moved || string(snap.Data) != storesV3 {
				t.Fatalf("Fetch after the ref moved = %+v, want %s with gamma", snap, moved)
			}
			if dir == "disk" {
				cached, err := newSource(t, cfg).Cached()
				if err != nil || cached.Revision != moved {
					t.Errorf("Cached = %+v, %v; want %s", cached, err, moved)
				}
				// A branch source on the same cache does not see the
				// ref's commit as its branch's.
				branch := cfg
				branch.Ref, branch.Branch = "", "pull/3/head"
				if c, err := newSource(t, branch).Cached(); !errors.Is(err, gitsource.ErrNoCache) {
					t.Errorf("Cached of the branch = %+v, %v; want ErrNoCache", c, err)
				}
			}

			gone := newSource(t, gitsource.Config{URL: repo.URL(), Ref: "refs/pull/4/head"})
			if _, err := gone.Fetch(context.Background()); !errors.Is(err, gitsource.ErrBranchNotFound) || !strings.Contains(err.Error(), "refs/pull/4/head") {
				t.Errorf("Fetch of a missing ref: %v, want ErrBranchNotFound naming it", err)
			}
		})
	}
}

func TestRefConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  gitsource.Config
		text string // "" when valid
	}{
		{gitsource.Config{Ref: "refs/pull/12/head"}, ""},
		{gitsource.Config{Ref: "refs/merge-requests/12/head"}, ""},
		{gitsource.Config{Ref: "refs/pull/12/head", Branch: "main"}, "give one"},
		{gitsource.Config{Ref: "pull/12/head"}, "give the full name"},
		{gitsource.Config{Ref: "refs/"}, "give the full name"},
		{gitsource.Config{Ref: "refs/heads/feature"}, "is a branch"},
		{gitsource.Config{Ref: "refs/pull/*/head"}, "no pattern"},
		{gitsource.Config{Ref: "refs/pull/12/"}, "no pattern"},
		{gitsource.Config{Ref: "refs/pull/12/head.lock"}, "refs/pull/12/head.lock"},
		{gitsource.Config{Ref: "refs/pull/../head"}, "refs/pull/../head"},
		{gitsource.Config{Ref: "refs/pull/12/he ad"}, "refs/pull/12/he ad"},
		{gitsource.Config{Ref: "refs/fetched/pull/12/head"}, "refs/fetched/"},
	} {
		tc.cfg.URL = "https://git.example/org/stores.git"
		_, err := gitsource.New(tc.cfg, nil)
		switch {
		case tc.text == "" && err != nil:
			t.Errorf("New(%+v): %v", tc.cfg, err)
		case tc.text != "" && (!errors.Is(err, gitsource.ErrConfig) || !strings.Contains(err.Error(), tc.text)):
			t.Errorf("New(ref %q, branch %q) = %v, want ErrConfig mentioning %q", tc.cfg.Ref, tc.cfg.Branch, err, tc.text)
		}
	}
}

// A source of a ref has no base branch to propose on by default.
func TestProposeFromRefNeedsBase(t *testing.T) {
	src := newSource(t, gitsource.Config{URL: "https://git.example/org/stores.git", Ref: "refs/pull/12/head"})
	_, err := src.Propose(context.Background(), gitsource.ProposeRequest{Branch: "storeops/x", Content: []byte("stores: []\n"), Message: "m"})
	if !errors.Is(err, gitsource.ErrConfig) || !strings.Contains(err.Error(), "no base branch") {
		t.Errorf("Propose = %v, want ErrConfig: no base branch", err)
	}
}
