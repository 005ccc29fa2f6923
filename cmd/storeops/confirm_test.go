package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/storeops/storeops/gitsource"
	"k8s.io/client-go/kubernetes/fake"
)

// TestCommitCannotConfirmItsOwnDeletions: the trailer that used to lift
// the mass-deletion guard from the destructive commit itself is ignored;
// only a revision confirmed from outside, 7 or more hex digits of it,
// counts.
func TestCommitCannotConfirmItsOwnDeletions(t *testing.T) {
	snap := gitsource.Snapshot{Revision: "3f2a9c1d4e5b6a7980123456789abcdef0123456",
		Message: "remove every store\n\nStoreops-Confirm-Deletions: yes\n"}
	if confirmsDeletions(snap, "") {
		t.Error("the commit's own trailer confirmed its deletions")
	}
	for rev, want := range map[string]bool{"3f2a9c1": true, "3F2A9C1D4E": true, snap.Revision: true,
		"3f2a9c": false, "3f2a9c2": false, "yes": false, "3f2a9c1 ": false} {
		if got := confirmsDeletions(snap, rev); got != want {
			t.Errorf("confirmed %q: %v, want %v", rev, got, want)
		}
	}
}

// TestProposerPushesWithItsOwnToken: with --git-push-token-file the
// proposer's Git source uses that token, never the fetch token (file or
// environment), so the fetch token can be read-only.
func TestProposerPushesWithItsOwnToken(t *testing.T) {
	dir := t.TempDir()
	fetch, push := filepath.Join(dir, "fetch"), filepath.Join(dir, "push")
	_ = os.WriteFile(fetch, []byte("read-only-token\n"), 0o600)
	_ = os.WriteFile(push, []byte("push-token\n"), 0o600)
	t.Setenv(gitsource.EnvToken, "")
	src := sourceFlags{url: "https://git.example.com/ops/stores.git", auth: gitsource.AuthFiles{Username: "bot", TokenFile: fetch}}
	f := dashboardFlags{pushTokenFile: push}
	own := f.pushSource(src)
	a, err := gitsource.AuthFromEnvAndFiles(own.auth, own.getenv)
	if err != nil || a.Token != "push-token" || a.Username != "bot" {
		t.Fatalf("push auth: %v, token %q user %q", err, a.Token, a.Username)
	}
	// The fetch token in the environment is not mixed in.
	t.Setenv(gitsource.EnvToken, "read-only-token")
	if a, err := gitsource.AuthFromEnvAndFiles(own.auth, own.getenv); err != nil || a.Token != "push-token" {
		t.Fatalf("push auth with $%s set: %v, token %q", gitsource.EnvToken, err, a.Token)
	}
	// Without the flag, the fetch credentials, as before.
	if own := (&dashboardFlags{}).pushSource(src); own.auth.TokenFile != fetch {
		t.Fatalf("without --git-push-token-file: %+v", own.auth)
	}
}

// TestConfirmationOnTheLease: what storeops confirm-deletions writes is
// what plan and sync --once read, on the instance's sync-request Lease.
func TestConfirmationOnTheLease(t *testing.T) {
	client := fake.NewClientset()
	f := &engineFlags{instance: "storeops"}
	f.lease.namespace = "storeops"
	e := &engine{client: client, flags: f}
	if got := e.leaseConfirmation(context.Background()); got != "" {
		t.Fatalf("no Lease: %q", got)
	}
	for _, rev := range []string{"3f2a9c1", "abcdef0123"} { // create, then patch
		if err := writeConfirmation(context.Background(), client, "storeops", f.syncLeaseName(), rev); err != nil {
			t.Fatal(err)
		}
		if got := e.leaseConfirmation(context.Background()); got != rev {
			t.Fatalf("confirmed %q, read %q", rev, got)
		}
	}
}
