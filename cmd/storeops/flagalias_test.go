package main

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestRepositoryFlagOneName: every command reading stores.yaml from Git
// names the repository --git-url; plan's and sync's old --repo still
// works (as a flag, with =, and as $STOREOPS_REPO) with a warning, and is
// not listed by -h.
func TestRepositoryFlagOneName(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-repo")
	for _, cmd := range []string{"plan", "sync", "serve"} {
		code, _, stderr := runCLI(t, cmd, "-h")
		if code != exitOK || !strings.Contains(stderr, "-git-url") || strings.Contains(stderr, "\n  -repo") {
			t.Errorf("storeops %s -h: want --git-url and no --repo\n%s", cmd, stderr)
		}
	}
	for _, tt := range []struct {
		args       []string
		deprecated bool
	}{
		{[]string{"plan", "--git-url", missing}, false},
		{[]string{"plan", "--repo", missing}, true},
		{[]string{"plan", "-repo=" + missing}, true},
		{[]string{"sync", "--once", "--repo", missing}, true},
	} {
		args, deprecated := tt.args, tt.deprecated
		code, _, stderr := runCLI(t, args...)
		if code != exitFailed || !strings.Contains(stderr, "repository "+missing) {
			t.Errorf("%v: exit %d, want %d and the repository read\n%s", args, code, exitFailed, stderr)
		}
		if warned := strings.Contains(stderr, "--repo is deprecated, use --git-url"); warned != deprecated {
			t.Errorf("%v: deprecation warning %v, want %v\n%s", args, warned, deprecated, stderr)
		}
	}
	t.Setenv("STOREOPS_REPO", missing)
	code, _, stderr := runCLI(t, "plan")
	if code != exitFailed || !strings.Contains(stderr, "repository "+missing) || !strings.Contains(stderr, "$STOREOPS_REPO is deprecated, use $STOREOPS_GIT_URL") {
		t.Errorf("$STOREOPS_REPO: exit %d\n%s", code, stderr)
	}
	t.Setenv("STOREOPS_GIT_URL", missing+"-new")
	if code, _, stderr := runCLI(t, "plan"); code != exitFailed || !strings.Contains(stderr, "repository "+missing+"-new") || strings.Contains(stderr, "deprecated") {
		t.Errorf("$STOREOPS_GIT_URL wins over $STOREOPS_REPO: exit %d\n%s", code, stderr)
	}
	os.Unsetenv("STOREOPS_GIT_URL")
	os.Unsetenv("STOREOPS_REPO")
	// Not in serve's flags would be an error like any unknown flag; serve
	// has --git-url, so it takes the old name too.
	if code, _, stderr := runCLI(t, "serve", "--repo", missing, "-h"); code != exitOK || !strings.Contains(stderr, "deprecated") {
		t.Errorf("serve --repo: exit %d\n%s", code, stderr)
	}
}

// TestRewriteDeprecated reads arguments as flag.Parse does: the value of
// a flag that takes one is not a flag name, and parsing stops at the first
// argument that is not a flag.
func TestRewriteDeprecated(t *testing.T) {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.String("git-url", "", "")
	fs.String("git-path", "", "")
	fs.Bool("v", false, "")
	var warnings strings.Builder
	for in, want := range map[string]string{
		"--repo x":                "--git-url x",
		"-repo=x -v":              "-git-url=x -v",
		"-v --repo x":             "-v --git-url x",
		"-v=false --repo x":       "-v=false --git-url x",
		"--git-path --repo":       "--git-path --repo", // --repo is git-path's value
		"--git-path p --repo x":   "--git-path p --git-url x",
		"store --repo x":          "store --repo x", // after the first argument
		"-- --repo x":             "-- --repo x",
		"--no-such-flag --repo x": "--no-such-flag --git-url x",
		"--git-url y":             "--git-url y",
	} {
		if got := strings.Join(rewriteDeprecated(fs, strings.Fields(in), &warnings), " "); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
	if got := aliasesOf("git-url"); !reflect.DeepEqual(got, []string{"repo"}) {
		t.Errorf("aliases of git-url: %v", got)
	}
}
