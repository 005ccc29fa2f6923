package devgit_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/devgit"
)

// TestPushSendsSignedWebhook pushes to the served repository with the git
// CLI and expects a generic push webhook that gitsource accepts.
func TestPushSendsSignedWebhook(t *testing.T) {
	secret := []byte("local-secret")
	pushes := make(chan gitsource.Push, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := gitsource.ParsePush(gitsource.Generic, secret, r, 0)
		if err != nil {
			t.Errorf("webhook refused: %v", err)
			http.Error(w, err.Error(), gitsource.HTTPStatus(err))
			return
		}
		pushes <- p
		w.WriteHeader(http.StatusAccepted)
	}))
	defer hook.Close()

	root := t.TempDir()
	if err := devgit.InitRepo(filepath.Join(root, "stores.git"), map[string][]byte{"stores.yaml": []byte("stores: []\n")}, "start"); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(&devgit.Notifier{Next: devgit.Backend(root), Root: root, URL: hook.URL, Secret: secret, Log: log})
	defer srv.Close()

	work := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(devgit.GitPath, args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	git("clone", "-q", srv.URL+"/stores.git", ".")
	if err := os.WriteFile(filepath.Join(work, "stores.yaml"), []byte("stores:\n  - {name: a, type: medusa}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("commit", "-qam", "add a")
	git("push", "-q", "origin", "main")
	head := git("rev-parse", "HEAD")

	select {
	case p := <-pushes:
		if p.Branch != "main" || p.Revision+"\n" != head {
			t.Fatalf("push %+v, want main at %s", p, head)
		}
	case <-time.After(time.Minute):
		t.Fatal("no webhook within a minute of the push")
	}
	// A clone is not a push: no webhook.
	git("fetch", "-q")
	select {
	case p := <-pushes:
		t.Fatalf("webhook without a push: %+v", p)
	default:
	}
}
