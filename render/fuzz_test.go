package render_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/storeops/storeops/render"
)

func addSeeds(f *testing.F) {
	for _, pattern := range []string{"testdata/valid/*.yaml", "testdata/invalid/*.yaml", "../stores.example.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, p := range files {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
}

// FuzzParse checks that Parse never panics, that every error is located,
// and that a file it accepts re-encodes and re-parses to the same stores.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := render.Parse("f.yaml", data, render.Limits{})
		if err != nil {
			for _, e := range render.Errors(err) {
				if e.Line < 1 || e.Column < 1 {
					t.Fatalf("unlocated error %#v", e)
				}
			}
			if render.Errors(err) == nil {
				t.Fatalf("error without location: %v", err)
			}
			return
		}
		out, err := render.Encode(cfg)
		if err != nil {
			t.Fatal(err)
		}
		again, err := render.Parse("f.yaml", out, render.Limits{})
		if err != nil {
			t.Fatalf("re-encoded file rejected: %v\n%s", err, out)
		}
		ignoreLine := cmpopts.IgnoreFields(render.Store{}, "Line")
		if diff := cmp.Diff(cfg.Stores(), again.Stores(), ignoreLine); diff != "" {
			t.Fatalf("stores changed through Encode (-first +second):\n%s", diff)
		}
		if diff := cmp.Diff(cfg.Defaults(), again.Defaults()); diff != "" {
			t.Fatalf("defaults changed through Encode:\n%s", diff)
		}
		// Rendering accepted input never panics.
		render.Render(cfg)
	})
}

// FuzzAddRemove checks that adding a store to an accepted file with a store
// list and removing it again gives back the original bytes. (A file without
// stores gets a list it keeps.)
func FuzzAddRemove(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if cfg, err := render.Parse("f.yaml", data, render.Limits{}); err != nil || cfg.Len() == 0 {
			return
		}
		added, err := render.AddStore("f.yaml", data, render.NewStore{Name: "fuzz-new", Type: "medusa"}, render.Limits{})
		if err != nil {
			return // some layouts cannot be edited; that is reported, not panicked on
		}
		removed, err := render.RemoveStore("f.yaml", added, "fuzz-new")
		if err != nil {
			t.Fatalf("remove after add: %v\n%s", err, added)
		}
		if string(removed) != string(data) {
			t.Fatalf("round trip changed the file:\n%q\n%q\n%q", data, added, removed)
		}
	})
}
