package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// completeBash sources the bash completion script and asks it to
// complete the words of line (the last one is completed; "" for a new
// word), as bash does on Tab.
func completeBash(t *testing.T, script string, line ...string) []string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	words := append([]string{"storeops"}, line...)
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	prog := `source "$1"
COMP_WORDS=(` + strings.Join(quoted, " ") + `)
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_storeops
printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog, "bash", script)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", line, err, out)
	}
	return strings.Fields(string(out))
}

func TestBashCompletion(t *testing.T) {
	code, script, stderr := runCLI(t, "completion", "bash")
	if code != exitOK {
		t.Fatalf("completion bash: exit %d\n%s", code, stderr)
	}
	path := filepath.Join(t.TempDir(), "storeops.bash")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	has := func(got []string, want ...string) bool {
		set := map[string]bool{}
		for _, g := range got {
			set[g] = true
		}
		for _, w := range want {
			if !set[w] {
				return false
			}
		}
		return true
	}
	for _, tt := range []struct {
		line     []string
		want     []string
		wantNone []string
	}{
		{[]string{""}, []string{"adopt", "completion", "confirm-deletions", "confirm-move", "get", "plan", "reconcile", "schema", "serve", "sync", "validate", "version"}, nil},
		{[]string{"pl"}, []string{"plan"}, []string{"sync"}},
		{[]string{"plan", "--git-"}, []string{"--git-url", "--git-branch", "--git-path"}, []string{"--repo", "--kubeconfig"}},
		{[]string{"plan", "--"}, []string{"--context", "--kubeconfig", "--diff", "--timeout"}, []string{"--repo"}},
		{[]string{"plan", "-o", ""}, []string{"text", "json"}, []string{"yaml"}},
		{[]string{"get", "-o", ""}, []string{"table", "wide", "json", "yaml"}, nil},
		{[]string{"sync", "--log-level", ""}, []string{"debug", "info", "warn", "error"}, nil},
		{[]string{"serve", "--log-format", "j"}, []string{"json"}, []string{"text"}},
		{[]string{"get", ""}, []string{"stores", "syncs"}, nil},
		{[]string{"get", "-o", "wide", "s"}, []string{"stores", "syncs"}, nil},
		{[]string{"get", "stores", ""}, nil, []string{"stores", "syncs"}},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish"}, nil},
		{[]string{"serve", "--webhook-secret-g"}, []string{"--webhook-secret-github-file", "--webhook-secret-gitlab-file"}, nil},
		{[]string{"reconcile", "--w"}, []string{"--wait", "--wait-timeout"}, nil},
		{[]string{"bogus", "--"}, nil, []string{"--git-url"}},
	} {
		got := completeBash(t, path, tt.line...)
		if !has(got, tt.want...) {
			t.Errorf("%q: got %v, want %v among them", tt.line, got, tt.want)
		}
		for _, w := range tt.wantNone {
			if has(got, w) {
				t.Errorf("%q: got %v, want no %s", tt.line, got, w)
			}
		}
	}
	// A flag taking a file completes file names.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stores.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := completeBash(t, path, "validate", "-f", filepath.Join(dir, "sto")); !has(got, filepath.Join(dir, "stores.yaml")) {
		t.Errorf("validate -f: got %v", got)
	}
}

// TestOtherShells: the zsh and fish scripts come from the same flags;
// where the shells are installed, they parse.
func TestOtherShells(t *testing.T) {
	for shell, want := range map[string][]string{
		"zsh":  {"#compdef storeops", "bashcompinit", "complete -F _storeops storeops", "--git-url"},
		"fish": {"complete -c storeops -n __fish_use_subcommand -a plan", "-l git-url -x", "-s f -r -F", "-l context -x -a '(kubectl config get-contexts -o name 2>/dev/null)'"},
	} {
		code, script, stderr := runCLI(t, "completion", shell)
		if code != exitOK {
			t.Fatalf("completion %s: exit %d\n%s", shell, code, stderr)
		}
		for _, w := range want {
			if !strings.Contains(script, w) {
				t.Errorf("completion %s lacks %q", shell, w)
			}
		}
		if strings.Contains(script, " --repo ") || strings.Contains(script, "-l repo ") {
			t.Errorf("completion %s offers the deprecated --repo", shell)
		}
		if bin, err := exec.LookPath(shell); err == nil {
			path := filepath.Join(t.TempDir(), "storeops."+shell)
			if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "-n", path).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", shell, err, out)
			}
		}
	}
	if code, _, _ := runCLI(t, "completion", "powershell"); code != exitUsage {
		t.Errorf("completion powershell: exit %d", code)
	}
	if code, _, _ := runCLI(t, "completion"); code != exitUsage {
		t.Errorf("completion: exit %d", code)
	}
}

// TestEveryCommandParsesThroughParseFlags: completion reads each
// command's flags by running it with parseFlags capturing them; a command
// that parsed its flags another way would run instead.
func TestEveryCommandParsesThroughParseFlags(t *testing.T) {
	sets := capturedFlags()
	for name := range commands {
		if name != "completion" && sets[name] == nil {
			t.Errorf("storeops %s does not parse its flags with parseFlags", name)
		}
	}
}
