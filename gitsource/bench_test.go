package gitsource_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/gittest"
)

// BenchmarkFetchUnchanged measures the polling cost when the branch has
// not moved: one ref listing over local HTTP.
func BenchmarkFetchUnchanged(b *testing.B) {
	srv := gittest.NewServer(b)
	repo := srv.NewRepo(b, "r", map[string]string{"stores.yaml": storesV1})
	src := newSource(b, gitsource.Config{URL: repo.URL()})
	fetch(b, src)
	b.ResetTimer()
	for b.Loop() {
		if snap := fetch(b, src); !snap.Unchanged {
			b.Fatal("branch moved")
		}
	}
}

// BenchmarkFetchNewCommit measures fetching one new commit into a warm
// cache (the commit is made outside the timer).
func BenchmarkFetchNewCommit(b *testing.B) {
	for _, dir := range []string{"memory", "disk"} {
		b.Run(dir, func(b *testing.B) {
			srv := gittest.NewServer(b)
			repo := srv.NewRepo(b, "r", map[string]string{"stores.yaml": storesV1})
			cfg := gitsource.Config{URL: repo.URL()}
			if dir == "disk" {
				cfg.Dir = b.TempDir()
			}
			src := newSource(b, cfg)
			fetch(b, src)
			i := 0
			for b.Loop() {
				b.StopTimer()
				i++
				repo.Commit(b, map[string]string{"stores.yaml": storesV1 + "# " + strconv.Itoa(i) + "\n"}, "Edit")
				b.StartTimer()
				if snap := fetch(b, src); snap.Unchanged {
					b.Fatal("new commit not seen")
				}
			}
		})
	}
}

// BenchmarkFirstFetch measures a cold start: shallow fetch of the branch
// into an empty in-memory cache.
func BenchmarkFirstFetch(b *testing.B) {
	srv := gittest.NewServer(b)
	repo := srv.NewRepo(b, "r", map[string]string{"stores.yaml": storesV1})
	for b.Loop() {
		src, err := gitsource.New(gitsource.Config{URL: repo.URL()}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := src.Fetch(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
