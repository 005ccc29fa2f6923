// Package devgit is the small Git server `make run` starts: bare
// repositories served over Git's smart HTTP protocol by `git http-backend`,
// and, like a forge, a signed push webhook sent to storeops after every
// push. It is for local use on loopback, not for production.
package devgit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// GitPath is the git executable, here and in package gittest.
var GitPath = "/usr/bin/git"

// Backend serves the bare repositories under root (each "<name>.git"),
// clones, fetches and pushes, with `git http-backend`.
func Backend(root string) http.Handler {
	return &cgi.Handler{
		Path: GitPath,
		Args: []string{"http-backend"},
		Dir:  root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + root,
		},
	}
}

// Notifier wraps a Backend: after each push it posts a generic push webhook
// (`{"ref": "refs/heads/<branch>", "after": "<sha>"}`, signed with
// X-Storeops-Signature: sha256=<HMAC-SHA256 of the body>) for every branch
// that moved.
type Notifier struct {
	Next   http.Handler
	Root   string
	URL    string
	Secret []byte
	Client *http.Client
	Log    *slog.Logger
}

// ServeHTTP serves the request, then notifies for a push.
func (n *Notifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/git-receive-pack") || n.URL == "" {
		n.Next.ServeHTTP(w, r)
		return
	}
	repo := filepath.Join(n.Root, filepath.FromSlash(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/git-receive-pack")))
	before := heads(repo)
	n.Next.ServeHTTP(w, r)
	for branch, sha := range heads(repo) {
		if before[branch] != sha {
			go n.notify(branch, sha)
		}
	}
}

func (n *Notifier) notify(branch, sha string) {
	body, _ := json.Marshal(map[string]string{"ref": "refs/heads/" + branch, "after": sha})
	mac := hmac.New(sha256.New, n.Secret)
	mac.Write(body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		n.Log.Error("webhook", "error", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Storeops-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	client := n.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		n.Log.Warn("webhook not delivered", "branch", branch, "error", err)
		return
	}
	resp.Body.Close()
	n.Log.Info("webhook delivered", "branch", branch, "revision", sha, "status", resp.StatusCode)
}

// heads returns the branches of a bare repository and their commits.
func heads(repo string) map[string]string {
	out := map[string]string{}
	b, err := exec.Command(GitPath, "--git-dir", repo, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/").Output()
	if err != nil {
		return out
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if name, sha, ok := strings.Cut(line, " "); ok {
			out[name] = sha
		}
	}
	return out
}

// InitRepo creates the bare repository dir (pushes allowed) with one commit
// on main holding files. An existing repository is left as it is.
func InitRepo(dir string, files map[string][]byte, message string) error {
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return nil
	}
	work, err := os.MkdirTemp("", "devgit-init-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	for name, data := range files {
		p := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	env := append(os.Environ(), "GIT_AUTHOR_NAME=storeops", "GIT_AUTHOR_EMAIL=storeops@localhost",
		"GIT_COMMITTER_NAME=storeops", "GIT_COMMITTER_EMAIL=storeops@localhost", "GIT_CONFIG_NOSYSTEM=1")
	for _, args := range [][]string{
		{"init", "--bare", "--initial-branch=main", dir},
		{"--git-dir", dir, "config", "http.receivepack", "true"},
		{"-C", work, "init", "--initial-branch=main"},
		{"-C", work, "add", "-A"},
		{"-C", work, "commit", "-q", "-m", message},
		{"-C", work, "push", "-q", dir, "main:main"},
	} {
		cmd := exec.Command(GitPath, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}
