package gitsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultBranch      = "main"
	DefaultPath        = "stores.yaml"
	DefaultTimeout     = time.Minute
	DefaultMaxFileSize = 1 << 20
)

const remoteName = "origin"

// Config says where the stores file lives and how to reach it.
type Config struct {
	// URL of the repository: https://host/owner/repo.git,
	// ssh://git@host/owner/repo.git or git@host:owner/repo.git. It must
	// not contain a password.
	URL string
	// Branch to track; DefaultBranch when empty and Ref is empty.
	Branch string
	// Ref, instead of Branch, is a ref of the remote that is not a
	// branch, given in full: the ref a forge keeps of the head of a pull
	// request in the base repository, refs/pull/<N>/head (GitHub, Gitea)
	// or refs/merge-requests/<N>/head (GitLab), which holds the head
	// commit of a pull request from a fork too. It is fetched into a
	// local ref of its own, under refs/fetched/, that no branch of the
	// remote maps to. Branch must be empty when Ref is set; such a
	// Source proposes only with an explicit ProposeRequest.BaseBranch.
	Ref string
	// Path of the file inside the repository, slash-separated and
	// relative; DefaultPath when empty.
	Path string
	// Auth are the credentials; the zero value is anonymous access.
	Auth Auth
	// Timeout bounds each call to the remote (on top of the caller's
	// context); DefaultTimeout when zero.
	Timeout time.Duration
	// Dir is the local cache: a bare repository that Fetch creates or
	// reuses, so a restart need not download again; it grows by one
	// revision's objects per change and may be deleted while no Source
	// uses it. Empty keeps only the current revision, in memory. Dir must be empty, missing, or a bare repository made
	// by an earlier Source; delete it to start over.
	Dir string
	// MaxFileSize is the largest file Fetch accepts; DefaultMaxFileSize
	// when zero.
	MaxFileSize int64
}

// Snapshot is the stores file at one commit of the tracked branch.
type Snapshot struct {
	// Revision is the commit's SHA-1 in hex.
	Revision string
	// Path is the file's path in the repository.
	Path string
	// Data is the file's content; each Snapshot has its own copy.
	Data []byte
	// Author is the commit's author, "Name <email>".
	Author string
	// Message is the commit message.
	Message string
	// Time is when the commit was made (committer time).
	Time time.Time
	// Unchanged is true when the branch had not moved since the previous
	// successful Fetch and nothing was downloaded.
	Unchanged bool
	// Commit is the commit object as Git stores it, its signature
	// included: what KeyRing.Verify checks.
	Commit []byte
}

// Source reads one file from one branch of a remote repository and
// proposes changes to it. Its methods are safe for concurrent use;
// Fetch calls run one at a time.
type Source struct {
	cfg    Config
	auth   transport.AuthMethod
	log    *slog.Logger
	lister *git.Remote // lists refs, backed by throwaway storage

	mu   sync.Mutex
	repo *git.Repository // cache, opened on first Fetch
	last Snapshot        // last successful Fetch; Revision "" if none
}

// New checks cfg, applies defaults and returns a Source. Nothing is
// contacted until the first call. logger may be nil.
func New(cfg Config, logger *slog.Logger) (*Source, error) {
	if err := checkURL(cfg.URL); err != nil {
		return nil, err
	}
	switch {
	case cfg.Ref != "" && cfg.Branch != "":
		return nil, fmt.Errorf("%w: branch %q and ref %q: give one", ErrConfig, cfg.Branch, cfg.Ref)
	case cfg.Ref != "":
		if err := checkRef(cfg.Ref); err != nil {
			return nil, err
		}
	default:
		if cfg.Branch == "" {
			cfg.Branch = DefaultBranch
		}
		if err := checkBranch(cfg.Branch); err != nil {
			return nil, err
		}
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	p, err := cleanPath(cfg.Path)
	if err != nil {
		return nil, err
	}
	cfg.Path = p
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = DefaultMaxFileSize
	}
	auth, err := cfg.Auth.method(cfg.URL)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{
		cfg:  cfg,
		auth: auth,
	}
	if cfg.Ref != "" {
		s.log = logger.With("url", cfg.URL, "ref", cfg.Ref, "path", cfg.Path)
	} else {
		s.log = logger.With("url", cfg.URL, "branch", cfg.Branch, "path", cfg.Path)
	}
	s.lister = git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: remoteName, URLs: []string{cfg.URL}})
	return s, nil
}

// Config returns the configuration with defaults applied.
func (s *Source) Config() Config { return s.cfg }

// Head returns the commit the tracked branch (or Config.Ref) points to
// on the remote, listing the remote's refs only (no fetch). It fails
// with ErrBranchNotFound when the branch or ref does not exist and
// ErrAuthFailed when the credentials are refused.
func (s *Source) Head(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	refs, err := s.listRefs(ctx)
	if err != nil {
		return "", err
	}
	h, ok := refs[s.remoteRef()]
	if !ok {
		return "", s.notFound()
	}
	return h.String(), nil
}

// remoteRef is the ref the Source reads on the remote: the branch, or
// Config.Ref.
func (s *Source) remoteRef() plumbing.ReferenceName {
	if s.cfg.Ref != "" {
		return plumbing.ReferenceName(s.cfg.Ref)
	}
	return plumbing.NewBranchReferenceName(s.cfg.Branch)
}

// localRef is where the cache keeps what remoteRef pointed to at the
// last fetch: refs/remotes/origin/<branch> for a branch,
// refs/fetched/<Ref without refs/> for Config.Ref, which no branch of
// the remote is fetched into.
func (s *Source) localRef() plumbing.ReferenceName {
	if s.cfg.Ref != "" {
		return plumbing.ReferenceName(fetchedPrefix + strings.TrimPrefix(s.cfg.Ref, "refs/"))
	}
	return plumbing.NewRemoteReferenceName(remoteName, s.cfg.Branch)
}

// fetchedPrefix is the namespace of the cache's copies of Config.Ref.
const fetchedPrefix = "refs/fetched/"

// notFound is the error for a remote without the branch or ref.
func (s *Source) notFound() error {
	if s.cfg.Ref != "" {
		return fmt.Errorf("%w: no ref %s on %s", ErrBranchNotFound, s.cfg.Ref, s.cfg.URL)
	}
	return fmt.Errorf("%w: %s on %s", ErrBranchNotFound, s.cfg.Branch, s.cfg.URL)
}

// Fetch returns the file at the head of the tracked branch. When the
// branch has not moved since the previous successful Fetch it returns
// that snapshot with Unchanged set, having only listed the remote's refs.
// Otherwise it fetches the new commit (shallow) and reads the file.
//
// On error the caller must keep its last good snapshot; see the package
// documentation. Errors wrap ErrBranchNotFound, ErrFileNotFound (with the
// path and revision), ErrFileTooLarge, ErrAuthFailed, or the transport
// error when the remote is unreachable. When the file at the new commit
// is missing or too large, the error is a *RevisionError naming that
// commit. Fetch remembers no such commit: polling a branch that stays on
// it reads it again each time, so a caller that remembers it compares
// Head with it before calling Fetch again.
func (s *Source) Fetch(ctx context.Context) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	head, err := s.Head(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	if head == s.last.Revision {
		snap := s.last
		snap.Data = bytes.Clone(snap.Data)
		snap.Commit = bytes.Clone(snap.Commit)
		snap.Unchanged = true
		s.log.Debug("branch unchanged", "revision", head)
		return snap, nil
	}

	start := time.Now()
	if s.cfg.Dir == "" {
		// A fresh depth-1 fetch is as cheap as an incremental one, and
		// keeps an in-memory cache from growing with every revision.
		s.repo = nil
	}
	repo, err := s.open()
	if err != nil {
		return Snapshot{}, err
	}
	commit, err := repo.CommitObject(plumbing.NewHash(head))
	if err != nil {
		// Not cached yet: fetch. The branch may have moved again since
		// the refs were listed; take whatever the fetch brought.
		if commit, err = s.fetch(ctx, repo); err != nil {
			return Snapshot{}, err
		}
	}
	snap, err := s.read(repo, commit)
	if err != nil {
		if errors.Is(err, ErrFileNotFound) || errors.Is(err, ErrFileTooLarge) {
			err = &RevisionError{Revision: commit.Hash.String(), Err: err}
		}
		return Snapshot{}, err
	}
	s.log.Info("fetched new revision", "revision", snap.Revision, "previous", s.last.Revision,
		"bytes", len(snap.Data), "took", time.Since(start))
	s.last = snap
	snap.Data = bytes.Clone(snap.Data)
	snap.Commit = bytes.Clone(snap.Commit)
	return snap, nil
}

// listRefs returns the commit of every ref of the remote that points to
// one (not HEAD, a symbolic ref), by full name: refs/heads/main,
// refs/pull/12/head.
func (s *Source) listRefs(ctx context.Context) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	refs, err := s.lister.ListContext(ctx, &git.ListOptions{Auth: s.auth})
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return map[plumbing.ReferenceName]plumbing.Hash{}, nil
		}
		return nil, s.remoteError("list refs", err)
	}
	out := make(map[plumbing.ReferenceName]plumbing.Hash, len(refs))
	for _, r := range refs {
		if r.Type() == plumbing.HashReference && strings.HasPrefix(r.Name().String(), "refs/") {
			out[r.Name()] = r.Hash()
		}
	}
	return out, nil
}

// remoteError wraps err from a remote operation with context, and with
// ErrAuthFailed when the host refused the credentials.
func (s *Source) remoteError(op string, err error) error {
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		return fmt.Errorf("%w (%s): %s %s: %w", ErrAuthFailed, s.cfg.Auth.Kind(), op, s.cfg.URL, err)
	}
	return fmt.Errorf("%s %s: %w", op, s.cfg.URL, err)
}

// open returns the cache repository, creating it on first use.
func (s *Source) open() (*git.Repository, error) {
	if s.repo != nil {
		return s.repo, nil
	}
	var repo *git.Repository
	var err error
	if s.cfg.Dir == "" {
		repo, err = git.Init(memory.NewStorage(), nil)
	} else {
		repo, err = openDir(s.cfg.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open cache %q: %w", s.cfg.Dir, err)
	}
	if err := setRemote(repo, s.cfg.URL); err != nil {
		return nil, fmt.Errorf("open cache %q: %w", s.cfg.Dir, err)
	}
	s.repo = repo
	return repo, nil
}

func openDir(dir string) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if err == nil {
		return repo, nil
	}
	if !errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%w: cache dir %s is neither empty nor a git repository", ErrConfig, dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return git.PlainInit(dir, true)
}

// setRemote points the origin remote at url.
func setRemote(repo *git.Repository, url string) error {
	if r, err := repo.Remote(remoteName); err == nil {
		if urls := r.Config().URLs; len(urls) == 1 && urls[0] == url {
			return nil
		}
		if err := repo.DeleteRemote(remoteName); err != nil {
			return err
		}
	}
	_, err := repo.CreateRemote(&config.RemoteConfig{Name: remoteName, URLs: []string{url}})
	return err
}

// fetch makes a depth-1 fetch of the tracked branch (or Config.Ref) and
// returns the commit it points to.
func (s *Source) fetch(ctx context.Context, repo *git.Repository) (*object.Commit, error) {
	local := s.localRef()
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", s.remoteRef(), local))
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{spec},
		Depth:      1,
		Tags:       git.NoTags,
		Auth:       s.auth,
		Force:      true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if errors.Is(err, git.NoMatchingRefSpecError{}) {
			return nil, s.notFound()
		}
		return nil, s.remoteError("fetch", err)
	}
	ref, err := repo.Reference(local, true)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: resolve %s: %w", s.cfg.URL, local, err)
	}
	commit, err := repo.CommitObject(ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("fetch %s: commit %s: %w", s.cfg.URL, ref.Hash(), err)
	}
	return commit, nil
}

// read builds the snapshot of the tracked file at commit, of repo.
func (s *Source) read(repo *git.Repository, commit *object.Commit) (Snapshot, error) {
	data, err := readFile(commit, s.cfg.Path, s.cfg.MaxFileSize)
	if err != nil {
		return Snapshot{}, err
	}
	raw, err := rawCommit(repo, commit.Hash)
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{
		Revision: commit.Hash.String(),
		Path:     s.cfg.Path,
		Data:     data,
		Author:   fmt.Sprintf("%s <%s>", commit.Author.Name, commit.Author.Email),
		Message:  commit.Message,
		Time:     commit.Committer.When,
		Commit:   raw,
	}, nil
}

// rawCommit returns the commit object h of repo as Git stores it, the
// very bytes its hash and signature are made of.
func rawCommit(repo *git.Repository, h plumbing.Hash) ([]byte, error) {
	obj, err := repo.Storer.EncodedObject(plumbing.CommitObject, h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	rd, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// readFile returns the regular file at p in commit, refusing files
// larger than limit.
func readFile(commit *object.Commit, p string, limit int64) ([]byte, error) {
	f, err := commit.File(p)
	if err != nil {
		if errors.Is(err, object.ErrFileNotFound) {
			return nil, fmt.Errorf("%w: %s at %s", ErrFileNotFound, p, commit.Hash)
		}
		return nil, fmt.Errorf("read %s at %s: %w", p, commit.Hash, err)
	}
	if !f.Mode.IsFile() || f.Mode == filemode.Symlink {
		return nil, fmt.Errorf("%w: %s at %s is not a regular file (mode %s)", ErrFileNotFound, p, commit.Hash, f.Mode)
	}
	if f.Size > limit {
		return nil, fmt.Errorf("%w: %s at %s is %d bytes, limit %d", ErrFileTooLarge, p, commit.Hash, f.Size, limit)
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", p, commit.Hash, err)
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", p, commit.Hash, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s at %s exceeds %d bytes", ErrFileTooLarge, p, commit.Hash, limit)
	}
	return data, nil
}

// cleanPath checks that p is a relative path inside the repository.
func cleanPath(p string) (string, error) {
	c := path.Clean(strings.ReplaceAll(p, "\\", "/"))
	if path.IsAbs(c) || c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: path %q must be relative and inside the repository", ErrConfig, p)
	}
	return c, nil
}

// checkRef checks that name is a full ref name that is not a branch
// (give a branch as Config.Branch): refs/pull/12/head.
func checkRef(name string) error {
	switch {
	case !strings.HasPrefix(name, "refs/") || name == "refs/":
		return fmt.Errorf("%w: ref %q: give the full name, e.g. refs/pull/12/head", ErrConfig, name)
	case strings.HasPrefix(name, "refs/heads/"):
		return fmt.Errorf("%w: ref %q is a branch: give it as the branch", ErrConfig, name)
	case strings.HasPrefix(name, fetchedPrefix):
		return fmt.Errorf("%w: ref %q: %s is where fetched refs are kept", ErrConfig, name, fetchedPrefix)
	case strings.ContainsAny(name, "*") || strings.HasSuffix(name, "/"):
		return fmt.Errorf("%w: ref %q: want one ref, no pattern", ErrConfig, name)
	}
	if err := plumbing.ReferenceName(name).Validate(); err != nil {
		return fmt.Errorf("%w: ref %q: %w", ErrConfig, name, err)
	}
	return nil
}

// checkBranch checks that name is a valid branch name.
func checkBranch(name string) error {
	if name == "" || strings.HasPrefix(name, "refs/") {
		return fmt.Errorf("%w: branch %q: give the short name, e.g. main", ErrConfig, name)
	}
	if err := plumbing.NewBranchReferenceName(name).Validate(); err != nil {
		return fmt.Errorf("%w: branch %q: %w", ErrConfig, name, err)
	}
	return nil
}

// Cached returns the tracked file at the revision last fetched into the
// on-disk cache (Config.Dir), without contacting the remote: what a
// restarted daemon serves while the remote is unreachable. It fails with
// ErrNoCache without a cache dir or before the first fetch.
func (s *Source) Cached() (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Dir == "" {
		return Snapshot{}, fmt.Errorf("%w: no cache dir", ErrNoCache)
	}
	if _, err := os.Stat(s.cfg.Dir); err != nil {
		return Snapshot{}, fmt.Errorf("%w: %v", ErrNoCache, err)
	}
	repo, err := s.open()
	if err != nil {
		return Snapshot{}, err
	}
	ref, err := repo.Reference(s.localRef(), true)
	if err != nil {
		return Snapshot{}, fmt.Errorf("%w: %s not fetched yet", ErrNoCache, s.remoteRef().Short())
	}
	commit, err := repo.CommitObject(ref.Hash())
	if err != nil {
		return Snapshot{}, fmt.Errorf("%w: commit %s: %v", ErrNoCache, ref.Hash(), err)
	}
	snap, err := s.read(repo, commit)
	if err != nil {
		return Snapshot{}, err
	}
	s.last = snap
	snap.Data = bytes.Clone(snap.Data)
	snap.Commit = bytes.Clone(snap.Commit)
	return snap, nil
}
