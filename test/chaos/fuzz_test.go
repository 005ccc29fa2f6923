package chaos_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzTime is how long each fuzzer of the render package runs in the full
// run: STOREOPS_CHAOS_FUZZTIME, else 60 seconds.
func fuzzTime() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("STOREOPS_CHAOS_FUZZTIME")); err == nil && d > 0 {
		return d
	}
	return time.Minute
}

// fuzzers lists the Fuzz functions of the _test.go files in dir.
func fuzzers(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(`)
	var names []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(src, -1) {
			names = append(names, string(m[1]))
		}
	}
	sort.Strings(names)
	return names
}

// goTool is the go command: $GO (the Makefile's), else the one on PATH.
func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

var fuzzExecs = regexp.MustCompile(`execs: (\d+)`)

// Case 9: every fuzzer of the render package (the stores.yaml parser and
// the comment-preserving edits) runs for a fixed time (one worker, so
// that it does not starve the cluster cases), a row each: iterations are
// the inputs it tried; a failure fails the case, with the failing input
// left in render/testdata/fuzz to reproduce. Full run only: the reduced
// set runs the seed corpora as ordinary tests (go test ./render).
func TestFuzzRender(t *testing.T) {
	if !full {
		t.Skip("fuzzing for a fixed time runs only in the full run (make chaos); go test ./render runs the seed corpora")
	}
	dir := filepath.Join("..", "..", "render")
	names := fuzzers(t, dir)
	if len(names) == 0 {
		t.Fatal("no fuzzer found in render")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			res := newResult(t, "9 fuzz render "+name+" for "+fuzzTime().String())
			ctx, cancel := context.WithTimeout(context.Background(), fuzzTime()+10*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, goTool(), "test", "-run", "^$", "-fuzz", "^"+name+"$",
				"-fuzztime", fuzzTime().String(), "-parallel", "1", ".")
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			// The execs of the last progress line the fuzzer printed.
			if all := fuzzExecs.FindAllSubmatch(out, -1); len(all) > 0 {
				res.Iterations, _ = strconv.Atoi(string(all[len(all)-1][1]))
			}
			if err != nil {
				t.Fatalf("go test -fuzz %s: %v\n%s", name, err, tailLines(string(out), 60))
			}
			res.Converged = res.Iterations
			t.Logf("%s: %d inputs in %s\n%s", name, res.Iterations, fuzzTime(), strings.TrimSpace(tailLines(string(out), 3)))
		})
	}
}
