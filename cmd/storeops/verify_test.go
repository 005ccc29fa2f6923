package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifySignaturesKeyringThatDoesNotParse: serve, plan and sync
// --once fail before contacting anything, naming the keyring file, given
// by the flag or by $STOREOPS_VERIFY_SIGNATURES.
func TestVerifySignaturesKeyringThatDoesNotParse(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "keys.asc")
	if err := os.WriteFile(bad, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.asc")
	for _, args := range [][]string{
		{"serve", "--listen", "127.0.0.1:0", "--git-url", repo, "--verify-signatures", bad},
		{"serve", "--listen", "127.0.0.1:0", "--git-url", repo, "--verify-signatures", missing},
		{"plan", "--git-url", repo, "--verify-signatures", bad},
		{"sync", "--once", "--git-url", repo, "--verify-signatures", bad},
	} {
		code, _, stderr := runCLI(t, args...)
		file := args[len(args)-1]
		if code != exitFailed || !strings.Contains(stderr, "--verify-signatures: keyring "+file) {
			t.Errorf("storeops %s: exit %d, want %d naming %s\n%s", strings.Join(args, " "), code, exitFailed, file, stderr)
		}
	}
	t.Setenv("STOREOPS_VERIFY_SIGNATURES", bad)
	code, _, stderr := runCLI(t, "serve", "--listen", "127.0.0.1:0", "--git-url", repo)
	if code != exitFailed || !strings.Contains(stderr, bad) {
		t.Errorf("storeops serve with $STOREOPS_VERIFY_SIGNATURES: exit %d\n%s", code, stderr)
	}
}
