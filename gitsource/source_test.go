package gitsource_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/gittest"
)

const storesV1 = "stores:\n  - name: alpha\n    type: woocommerce\n"

func newSource(t testing.TB, cfg gitsource.Config) *gitsource.Source {
	t.Helper()
	src, err := gitsource.New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return src
}

func fetch(t testing.TB, src *gitsource.Source) gitsource.Snapshot {
	t.Helper()
	snap, err := src.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return snap
}

func TestFetch(t *testing.T) {
	for _, dir := range []string{"memory", "disk"} {
		t.Run(dir, func(t *testing.T) {
			srv := gittest.NewServer(t)
			repo := srv.NewRepo(t, "org/stores", map[string]string{"stores.yaml": storesV1, "README": "x"})
			cfg := gitsource.Config{URL: repo.URL()}
			if dir == "disk" {
				cfg.Dir = t.TempDir() + "/cache"
			}
			src := newSource(t, cfg)

			first := fetch(t, src)
			want := gitsource.Snapshot{
				Revision: repo.Head(t, "main"),
				Path:     "stores.yaml",
				Data:     []byte(storesV1),
				Author:   gittest.AuthorName + " <" + gittest.AuthorEmail + ">",
				Message:  "Initial commit\n",
			}
			if diff := cmp.Diff(want, first, cmpSnapshot); diff != "" {
				t.Errorf("first Fetch (-want +got):\n%s", diff)
			}
			if first.Time.IsZero() {
				t.Error("Time is zero")
			}
			if c := srv.Counts(); c.UploadPack == 0 {
				t.Errorf("first Fetch made no upload-pack request: %+v", c)
			}

			srv.ResetCounts()
			second := fetch(t, src)
			if !second.Unchanged || second.Revision != first.Revision || string(second.Data) != storesV1 {
				t.Errorf("second Fetch = %+v, want the same revision, Unchanged", second)
			}
			if c := srv.Counts(); c.UploadPack != 0 || c.InfoRefs != 1 {
				t.Errorf("unchanged Fetch: counts = %+v, want 1 info/refs and no upload-pack", c)
			}

			storesV2 := storesV1 + "  - name: beta\n    type: medusa\n"
			sha := repo.Commit(t, map[string]string{"stores.yaml": storesV2}, "Add beta")
			third := fetch(t, src)
			if third.Unchanged || third.Revision != sha || string(third.Data) != storesV2 || third.Message != "Add beta\n" {
				t.Errorf("third Fetch = %+v, want revision %s with beta", third, sha)
			}

			// A fresh Source on the same disk cache needs no download.
			if dir == "disk" {
				srv.ResetCounts()
				again := fetch(t, newSource(t, cfg))
				if again.Revision != sha || string(again.Data) != storesV2 {
					t.Errorf("Fetch from reopened cache = %+v", again)
				}
				if c := srv.Counts(); c.UploadPack != 0 {
					t.Errorf("reopened cache: counts = %+v, want no upload-pack", c)
				}
			}
		})
	}
}

var cmpSnapshot = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Time" || p.String() == "Commit" }, cmp.Ignore())

func TestFetchDataIsACopy(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"stores.yaml": storesV1})
	src := newSource(t, gitsource.Config{URL: repo.URL()})
	first := fetch(t, src)
	first.Data[0] = 'X'
	if second := fetch(t, src); string(second.Data) != storesV1 {
		t.Fatalf("changing a snapshot's Data changed the cache: %q", second.Data)
	}
}

func TestFetchNestedPathAndBranch(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"README": "x"})
	sha := repo.CommitTo(t, "prod", map[string]string{"clusters/eu/stores.yaml": storesV1}, "EU stores")
	src := newSource(t, gitsource.Config{URL: repo.URL(), Branch: "prod", Path: "./clusters/eu/stores.yaml"})
	snap := fetch(t, src)
	if snap.Revision != sha || snap.Path != "clusters/eu/stores.yaml" || string(snap.Data) != storesV1 {
		t.Fatalf("Fetch = %+v", snap)
	}
}

func TestFetchErrors(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{
		"stores.yaml":   strings.Repeat("#", 2048),
		"dir/file.yaml": "x",
	})
	for _, tc := range []struct {
		name string
		cfg  gitsource.Config
		want error
		text string
	}{
		{"missing file", gitsource.Config{Path: "nope.yaml"}, gitsource.ErrFileNotFound, "nope.yaml at "},
		{"directory", gitsource.Config{Path: "dir"}, gitsource.ErrFileNotFound, "dir at "},
		{"missing branch", gitsource.Config{Branch: "nope"}, gitsource.ErrBranchNotFound, "nope"},
		{"too large", gitsource.Config{MaxFileSize: 1024}, gitsource.ErrFileTooLarge, "2048 bytes, limit 1024"},
		{"missing repository", gitsource.Config{URL: srv.URL() + "/nope.git"}, nil, "nope.git"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.URL == "" {
				tc.cfg.URL = repo.URL()
			}
			_, err := newSource(t, tc.cfg).Fetch(context.Background())
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %q is not %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not mention %q", err, tc.text)
			}
			// Only a file that a later commit may fix names its commit.
			var rev *gitsource.RevisionError
			fileErr := errors.Is(err, gitsource.ErrFileNotFound) || errors.Is(err, gitsource.ErrFileTooLarge)
			if got := errors.As(err, &rev); got != fileErr || (got && rev.Revision != repo.Head(t, "main")) {
				t.Errorf("error %q: RevisionError %+v, want one naming the head only for a file error", err, rev)
			}
		})
	}
}

func TestFetchMissingFileThenFixed(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"stores.yaml": storesV1})
	src := newSource(t, gitsource.Config{URL: repo.URL()})
	good := fetch(t, src)

	gone := repo.Remove(t, "main", "Remove stores", "stores.yaml")
	for range 2 { // a failed revision is neither remembered as good nor as bad
		_, err := src.Fetch(context.Background())
		if !errors.Is(err, gitsource.ErrFileNotFound) || !strings.Contains(err.Error(), gone) {
			t.Fatalf("Fetch after removal: %v, want ErrFileNotFound at %s", err, gone)
		}
		var rev *gitsource.RevisionError
		if !errors.As(err, &rev) || rev.Revision != gone {
			t.Fatalf("Fetch after removal: %v, want a RevisionError naming %s", err, gone)
		}
	}
	fixed := repo.Commit(t, map[string]string{"stores.yaml": storesV1}, "Restore stores")
	snap := fetch(t, src)
	if snap.Unchanged || snap.Revision != fixed || snap.Revision == good.Revision {
		t.Fatalf("Fetch after restore = %+v, want revision %s", snap, fixed)
	}
}

func TestFetchServerDownThenBack(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"stores.yaml": storesV1})
	src := newSource(t, gitsource.Config{URL: repo.URL(), Timeout: 10 * time.Second})
	first := fetch(t, src)

	srv.Stop()
	_, err := src.Fetch(context.Background())
	if err == nil {
		t.Fatal("Fetch with the server down succeeded")
	}
	if !strings.Contains(err.Error(), "list refs "+repo.URL()) {
		t.Errorf("error %q lacks context", err)
	}
	if errors.Is(err, gitsource.ErrAuthFailed) || errors.Is(err, gitsource.ErrFileNotFound) {
		t.Errorf("network error %q classified as permanent", err)
	}

	srv.Start(t)
	sha := repo.Commit(t, map[string]string{"stores.yaml": storesV1 + "# more\n"}, "More")
	snap := fetch(t, src)
	if snap.Revision != sha || snap.Revision == first.Revision {
		t.Fatalf("Fetch after restart = %+v, want %s", snap, sha)
	}
}

func TestFetchAuth(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"stores.yaml": storesV1})
	srv.RequireAuth(gittest.Credentials{Token: "right-token", Username: "shop", Password: "pw"})

	for _, tc := range []struct {
		name string
		auth gitsource.Auth
		ok   bool
	}{
		{"none", gitsource.Auth{}, false},
		{"wrong token", gitsource.Auth{Token: "wrong-token"}, false},
		{"right token", gitsource.Auth{Token: "right-token"}, true},
		{"wrong password", gitsource.Auth{Username: "shop", Password: "nope"}, false},
		{"right password", gitsource.Auth{Username: "shop", Password: "pw"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newSource(t, gitsource.Config{URL: repo.URL(), Auth: tc.auth})
			snap, err := src.Fetch(context.Background())
			if tc.ok {
				if err != nil || string(snap.Data) != storesV1 {
					t.Fatalf("Fetch = %+v, %v", snap, err)
				}
				return
			}
			if !errors.Is(err, gitsource.ErrAuthFailed) {
				t.Fatalf("Fetch error = %v, want ErrAuthFailed", err)
			}
			if strings.Contains(err.Error(), "wrong-token") || strings.Contains(err.Error(), "nope") {
				t.Fatalf("error %q leaks the secret", err)
			}
			t.Logf("refused as expected: %v", err)
		})
	}
}

func TestFetchConcurrent(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"stores.yaml": storesV1})
	src := newSource(t, gitsource.Config{URL: repo.URL()})
	head := repo.Head(t, "main")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			snap, err := src.Fetch(context.Background())
			if err == nil && snap.Revision != head {
				err = errors.New("wrong revision " + snap.Revision)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if c := srv.Counts(); c.UploadPack != 1 {
		t.Errorf("8 concurrent fetches of one revision made %d upload-pack requests, want 1", c.UploadPack)
	}
}

func TestHead(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"stores.yaml": storesV1})
	src := newSource(t, gitsource.Config{URL: repo.URL()})
	got, err := src.Head(context.Background())
	if err != nil || got != repo.Head(t, "main") {
		t.Fatalf("Head = %q, %v; want %s", got, err, repo.Head(t, "main"))
	}
	if c := srv.Counts(); c.UploadPack != 0 {
		t.Fatalf("Head fetched: %+v", c)
	}
}

func TestFetchCanceled(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"stores.yaml": storesV1})
	src := newSource(t, gitsource.Config{URL: repo.URL()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Fetch(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch with canceled context: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]gitsource.Config{
		"no URL":              {},
		"password in URL":     {URL: "https://user:secret@example.com/r.git"},
		"absolute path":       {URL: "https://example.com/r.git", Path: "/etc/passwd"},
		"escaping path":       {URL: "https://example.com/r.git", Path: "../x"},
		"bad branch":          {URL: "https://example.com/r.git", Branch: "a..b"},
		"full ref":            {URL: "https://example.com/r.git", Branch: "refs/heads/main"},
		"ssh URL without key": {URL: "git@example.com:org/r.git"},
		"key on https":        {URL: "https://example.com/r.git", Auth: gitsource.Auth{SSHKey: []byte("k"), KnownHostsFile: "/dev/null"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := gitsource.New(cfg, nil)
			if !errors.Is(err, gitsource.ErrConfig) {
				t.Fatalf("New error = %v, want ErrConfig", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error %q leaks the password", err)
			}
		})
	}
}

func TestFetchTimeout(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"stores.yaml": storesV1})
	srv.Hang()
	// The server holds the first fetch until the client gives up, so the
	// timeout decides it whatever the load; the recovery fetch gets the
	// same generous bound, which a busy machine does not reach.
	src := newSource(t, gitsource.Config{URL: repo.URL(), Timeout: 5 * time.Second})
	if _, err := src.Fetch(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch from a server that does not answer: %v, want DeadlineExceeded", err)
	}
	srv.Release()
	if snap := fetch(t, src); string(snap.Data) != storesV1 {
		t.Fatalf("Fetch after the server recovered = %+v", snap)
	}
}

// A restart while the remote is down serves the revision last fetched
// into the cache dir.
func TestCachedRevisionAfterRestart(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "r", map[string]string{"stores.yaml": storesV1})
	dir := filepath.Join(t.TempDir(), "cache")
	first := newSource(t, gitsource.Config{URL: repo.URL(), Dir: dir})
	want := fetch(t, first)

	srv.Stop()
	restarted := newSource(t, gitsource.Config{URL: repo.URL(), Dir: dir, Timeout: 5 * time.Second})
	if _, err := restarted.Fetch(context.Background()); err == nil {
		t.Fatal("Fetch from a stopped server succeeded")
	}
	got, err := restarted.Cached()
	if err != nil {
		t.Fatalf("Cached: %v", err)
	}
	if got.Revision != want.Revision || string(got.Data) != storesV1 {
		t.Fatalf("Cached = %s %q, want %s", got.Revision, got.Data, want.Revision)
	}
	if _, err := newSource(t, gitsource.Config{URL: repo.URL()}).Cached(); !errors.Is(err, gitsource.ErrNoCache) {
		t.Fatalf("Cached without a cache dir: %v", err)
	}
	if _, err := newSource(t, gitsource.Config{URL: repo.URL(), Dir: filepath.Join(t.TempDir(), "empty")}).Cached(); !errors.Is(err, gitsource.ErrNoCache) {
		t.Fatalf("Cached before any fetch: %v", err)
	}
}
