package gittest

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/storeops/storeops/internal/devgit"
)

// Author is the identity of the commits the helpers make.
const (
	AuthorName  = "Store Tester"
	AuthorEmail = "tester@storeops.test"
)

// Repo is a bare repository served by a Server, with a private work
// tree used by the helpers to make commits. The work tree talks to the
// bare repository through the file system, so helpers never show up in
// the server's request counters.
type Repo struct {
	// Name is the repository's name, as in NewRepo.
	Name string
	// Dir is the bare repository on disk.
	Dir string

	srv  *Server
	home string // HOME for git, keeps the user's config out
	mu   sync.Mutex
	work string
}

// NewRepo creates the bare repository name (a slash-separated path,
// without ".git") with one commit on main holding files (path to
// content), and allows pushes over HTTP to it.
func (s *Server) NewRepo(tb testing.TB, name string, files map[string]string) *Repo {
	tb.Helper()
	r := &Repo{Name: name, Dir: s.repoDir(name), srv: s, home: tb.TempDir()}
	r.work = filepath.Join(r.home, "work")
	r.git(tb, "", "init", "--quiet", "--bare", "--initial-branch=main", r.Dir)
	r.git(tb, r.Dir, "config", "http.receivepack", "true")
	r.git(tb, "", "init", "--quiet", "--initial-branch=main", r.work)
	r.git(tb, r.work, "remote", "add", "origin", r.Dir)
	r.writeAndPush(tb, "main", files, nil, "Initial commit", nil)
	return r
}

// URL is the HTTP URL clients clone the repository from.
func (r *Repo) URL() string { return r.srv.URL() + "/" + r.Name + ".git" }

// Commit writes files (path to content) on main, commits them with msg,
// pushes, and returns the new commit's SHA-1. With no files it makes an
// empty commit.
func (r *Repo) Commit(tb testing.TB, files map[string]string, msg string) string {
	tb.Helper()
	return r.CommitTo(tb, "main", files, msg)
}

// CommitTo is Commit on branch. A branch that does not exist yet starts
// from main.
func (r *Repo) CommitTo(tb testing.TB, branch string, files map[string]string, msg string) string {
	tb.Helper()
	return r.writeAndPush(tb, branch, files, nil, msg, nil)
}

// CommitSigned is Commit with a commit signed by sign, which is handed
// the commit as it is signed (its object without the signature) and
// returns the ASCII-armored signature to attach (Signer.Sign is one). A
// sign returning something other than the signature of payload makes a
// commit whose signature does not match it.
func (r *Repo) CommitSigned(tb testing.TB, files map[string]string, msg string, sign func(payload []byte) string) string {
	tb.Helper()
	return r.writeAndPush(tb, "main", files, nil, msg, sign)
}

// Remove deletes paths on branch in one commit and returns its SHA-1.
func (r *Repo) Remove(tb testing.TB, branch, msg string, paths ...string) string {
	tb.Helper()
	return r.writeAndPush(tb, branch, nil, paths, msg, nil)
}

// Head returns the commit branch points to, or "" when it does not exist.
func (r *Repo) Head(tb testing.TB, branch string) string {
	tb.Helper()
	out, err := r.run("", "--git-dir", r.Dir, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// UpdateRef points ref (a full name, e.g. refs/pull/3/head, as a forge
// keeps the head of a pull request) at commit rev in the bare
// repository, creating or moving it, and returns rev.
func (r *Repo) UpdateRef(tb testing.TB, ref, rev string) string {
	tb.Helper()
	r.git(tb, "", "--git-dir", r.Dir, "update-ref", ref, rev)
	return rev
}

// Parents returns the parents of commit rev.
func (r *Repo) Parents(tb testing.TB, rev string) []string {
	tb.Helper()
	out := r.git(tb, "", "--git-dir", r.Dir, "rev-list", "--parents", "-n", "1", rev)
	fields := strings.Fields(out)
	if len(fields) == 0 {
		tb.Fatalf("gittest: no commit %s", rev)
	}
	return fields[1:]
}

// ReadFile returns the content of path at rev (a commit or branch).
func (r *Repo) ReadFile(tb testing.TB, rev, path string) string {
	tb.Helper()
	return r.git(tb, "", "--git-dir", r.Dir, "show", rev+":"+path)
}

// Message returns the full message of commit rev.
func (r *Repo) Message(tb testing.TB, rev string) string {
	tb.Helper()
	return r.git(tb, "", "--git-dir", r.Dir, "log", "-1", "--format=%B", rev)
}

func (r *Repo) writeAndPush(tb testing.TB, branch string, files map[string]string, remove []string, msg string, sign func([]byte) string) string {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.git(tb, r.work, "fetch", "--quiet", "--prune", "origin")
	switch {
	case r.Head(tb, branch) != "":
		r.git(tb, r.work, "checkout", "--quiet", "--force", "-B", branch, "origin/"+branch)
	case r.Head(tb, "main") != "":
		r.git(tb, r.work, "checkout", "--quiet", "--force", "-B", branch, "origin/main")
	default:
		r.git(tb, r.work, "checkout", "--quiet", "--orphan", branch)
	}
	for p, content := range files {
		full := filepath.Join(r.work, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			tb.Fatalf("gittest: %v", err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			tb.Fatalf("gittest: %v", err)
		}
	}
	for _, p := range remove {
		r.git(tb, r.work, "rm", "--quiet", "--", p)
	}
	r.git(tb, r.work, "add", "--all")
	if sign == nil {
		r.git(tb, r.work, "commit", "--quiet", "--allow-empty", "-m", msg)
	} else {
		r.commitSigned(tb, msg, sign)
	}
	r.git(tb, r.work, "push", "--quiet", "origin", "HEAD:refs/heads/"+branch)
	return strings.TrimSpace(r.git(tb, r.work, "rev-parse", "HEAD"))
}

func (r *Repo) git(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	out, err := r.run(dir, args...)
	if err != nil {
		tb.Fatalf("gittest: git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (r *Repo) run(dir string, args ...string) (string, error) {
	cmd := exec.Command(devgit.GitPath, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+r.home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME="+AuthorName,
		"GIT_AUTHOR_EMAIL="+AuthorEmail,
		"GIT_COMMITTER_NAME="+AuthorName,
		"GIT_COMMITTER_EMAIL="+AuthorEmail,
	)
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	return buf.String(), err
}

// commitSigned commits the index of the work tree on its branch, with
// the signature sign makes.
func (r *Repo) commitSigned(tb testing.TB, msg string, sign func([]byte) string) {
	tb.Helper()
	now := time.Now()
	c := &object.Commit{
		Author:    object.Signature{Name: AuthorName, Email: AuthorEmail, When: now},
		Committer: object.Signature{Name: AuthorName, Email: AuthorEmail, When: now},
		Message:   msg + "\n",
		TreeHash:  plumbing.NewHash(strings.TrimSpace(r.git(tb, r.work, "write-tree"))),
	}
	if parent, err := r.run(r.work, "rev-parse", "--verify", "--quiet", "HEAD"); err == nil {
		c.ParentHashes = []plumbing.Hash{plumbing.NewHash(strings.TrimSpace(parent))}
	}
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		tb.Fatalf("gittest: encode commit: %v", err)
	}
	c.PGPSignature = sign(objectBytes(tb, payload))
	signed := &plumbing.MemoryObject{}
	if err := c.Encode(signed); err != nil {
		tb.Fatalf("gittest: encode commit: %v", err)
	}
	file := filepath.Join(r.home, "commit")
	if err := os.WriteFile(file, objectBytes(tb, signed), 0o644); err != nil {
		tb.Fatalf("gittest: %v", err)
	}
	hash := strings.TrimSpace(r.git(tb, r.work, "hash-object", "-t", "commit", "-w", file))
	r.git(tb, r.work, "update-ref", "HEAD", hash)
}

func objectBytes(tb testing.TB, o plumbing.EncodedObject) []byte {
	tb.Helper()
	rd, err := o.Reader()
	if err != nil {
		tb.Fatalf("gittest: %v", err)
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		tb.Fatalf("gittest: %v", err)
	}
	return data
}
