package render_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/storeops/storeops/render"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files and expected errors")

// corpusLimits are small so that the size and count limits have small
// fixtures.
var corpusLimits = render.Limits{MaxStores: 5, MaxBytes: 4096}

// TestInvalidCorpus parses every file under testdata/invalid and compares
// the full error output with the file's .errors twin, line by line.
func TestInvalidCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("only %d invalid fixtures", len(files))
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := render.Parse(filepath.Base(path), data, corpusLimits)
			if err == nil {
				t.Fatalf("accepted: %d stores", cfg.Len())
			}
			if len(render.Errors(err)) == 0 {
				t.Fatalf("error carries no located problems: %v", err)
			}
			for _, e := range render.Errors(err) {
				if e.Line < 1 || e.Column < 1 || e.File != filepath.Base(path) {
					t.Errorf("badly located: %#v", e)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(path, ".yaml") + ".errors"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(got, "\n")); diff != "" {
				t.Errorf("errors differ (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidFixtures parses every file under testdata/valid and compares the
// parsed, defaulted stores with a golden file.
func TestValidFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../stores.example.yaml")
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := render.Parse(filepath.Base(path), data, render.Limits{})
			if err != nil {
				t.Fatalf("rejected:\n%v", err)
			}
			out, err := yaml.Marshal(map[string]any{"defaults": cfg.Defaults(), "stores": cfg.Stores()})
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "parsed", name+".golden.yaml"), out)
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./render -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func TestParseReportsAllErrorsInOrder(t *testing.T) {
	data := []byte("stores:\n  - name: A\n    type: x\n  - name: b_\n    type: woocommerce\n")
	_, err := render.Parse("stores.yaml", data, render.Limits{})
	errs := render.Errors(err)
	var got []string
	for _, e := range errs {
		got = append(got, e.Field)
	}
	want := []string{"stores[0].name", "stores[0].type", "stores[1].name"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestEmptyFileIsNoStores(t *testing.T) {
	for _, data := range []string{"", "# only a comment\n", "stores: []\n", "stores:\n"} {
		cfg, err := render.Parse("stores.yaml", []byte(data), render.Limits{})
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		if cfg.Len() != 0 {
			t.Errorf("%q: %d stores", data, cfg.Len())
		}
	}
}

func TestConfigIsImmutable(t *testing.T) {
	cfg, err := render.Parse("s.yaml", []byte("stores:\n  - {name: a, type: medusa}\n"), render.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Stores()
	s[0].Name = "changed"
	if got, _ := cfg.Store("a"); got.Name != "a" {
		t.Errorf("Stores() shares memory with the config")
	}
}
