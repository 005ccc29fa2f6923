package manifestdiff

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnifiedSmall(t *testing.T) {
	a := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\n"
	b := "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\n"
	want := `--- a
+++ b
@@ -1,5 +1,5 @@
 a
-b
+B
 c
 d
 e
@@ -11,3 +11,4 @@
 k
 l
 m
+n
`
	if got := Unified("a", "b", a, b); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := Unified("a", "b", a, a); got != "" {
		t.Errorf("equal texts: %q", got)
	}
	if got, want := Unified("/dev/null", "b", "", "x\ny\n"), "--- /dev/null\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n"; got != want {
		t.Errorf("new file: got\n%s\nwant\n%s", got, want)
	}
	if got, want := Unified("a", "/dev/null", "x\n", ""), "--- a\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"; got != want {
		t.Errorf("removed file: got\n%s\nwant\n%s", got, want)
	}
}

// TestUnifiedIsMinimalAndApplies: on random texts the script turns a into
// b, is as short as an LCS allows, and, where GNU patch is installed, the
// diff applies.
func TestUnifiedIsMinimalAndApplies(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	patch, _ := exec.LookPath("patch")
	for i := 0; i < 300; i++ {
		a, b := randomLines(r), randomLines(r)
		es := editScript(a, b)
		var gotA, gotB []string
		changes := 0
		for _, e := range es {
			if e.op != '+' {
				gotA = append(gotA, e.line)
			}
			if e.op != '-' {
				gotB = append(gotB, e.line)
			}
			if e.op != ' ' {
				changes++
			}
		}
		if strings.Join(gotA, "\n") != strings.Join(a, "\n") || strings.Join(gotB, "\n") != strings.Join(b, "\n") {
			t.Fatalf("script does not turn %q into %q: %v", a, b, es)
		}
		if want := len(a) + len(b) - 2*lcs(a, b); changes != want {
			t.Fatalf("%q -> %q: %d changes, shortest is %d", a, b, changes, want)
		}
		if patch != "" && i < 40 {
			dir := t.TempDir()
			ta, tb := join(a), join(b)
			if err := os.WriteFile(filepath.Join(dir, "f"), []byte(ta), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(patch, "-s", "f")
			cmd.Dir = dir
			cmd.Stdin = strings.NewReader(Unified("f", "f", ta, tb))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("patch: %v\n%s\n%s", err, out, Unified("f", "f", ta, tb))
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != tb {
				t.Fatalf("patched %q, want %q", got, tb)
			}
		}
	}
}

func join(ls []string) string {
	if len(ls) == 0 {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}

func randomLines(r *rand.Rand) []string {
	n := r.IntN(30)
	out := make([]string, n)
	for i := range out {
		out[i] = string(rune('a' + r.IntN(4)))
	}
	return out
}

func lcs(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

// TestParseKeepsFinalNewlines: a block scalar that ends a document keeps
// its final newline, as applying the manifest does.
func TestParseKeepsFinalNewlines(t *testing.T) {
	objs, err := Parse("---\nkind: ConfigMap\ndata:\n  a: |\n    x\n---\nkind: ConfigMap\ndata:\n  b: |\n    y\n")
	if err != nil || len(objs) != 2 {
		t.Fatalf("%v %v", objs, err)
	}
	if a := objs[0]["data"].(map[string]any)["a"]; a != "x\n" {
		t.Errorf("a = %q", a)
	}
	if b := objs[1]["data"].(map[string]any)["b"]; b != "y\n" {
		t.Errorf("b = %q", b)
	}
}
