package gitsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/util"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Signature is who a proposed commit is attributed to.
type Signature struct {
	Name  string
	Email string
}

// DefaultSignature is used when a ProposeRequest names no author.
var DefaultSignature = Signature{Name: "storeops", Email: "storeops@localhost"}

// ProposeRequest asks for one file's new content to be committed on a
// branch of its own, for a pull request.
type ProposeRequest struct {
	// BaseBranch is the branch the change is for; the Source's branch
	// when empty.
	BaseBranch string
	// Branch receives the commit. It belongs to storeops: when it
	// exists but does not hold exactly this change on the current base
	// head, it is recreated and force-pushed. It must differ from
	// BaseBranch.
	Branch string
	// Path of the file to write; the Source's path when empty.
	Path string
	// Content is the file's new content.
	Content []byte
	// Message is the commit message; required.
	Message string
	// Author of the commit; DefaultSignature when zero.
	Author Signature
}

// Propose commits req.Content at req.Path on req.Branch, a branch made
// from the current head of req.BaseBranch, and pushes it. It returns the
// branch's commit. When the branch already holds this very change on
// the current base head, it returns that commit and pushes nothing, so
// asking twice makes no duplicate. A branch based on an older base head,
// or holding other content, is rebuilt from the current base and
// force-pushed, guarded by the head seen when listing refs so a
// concurrent push is not overwritten silently.
//
// Errors wrap ErrConfig for a bad request, ErrNoChange when the base
// branch already has the content, ErrBranchNotFound for a missing base
// and ErrAuthFailed when the host refuses the credentials (they must
// allow pushing).
func (s *Source) Propose(ctx context.Context, req ProposeRequest) (string, error) {
	req, err := s.checkProposal(req)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	log := s.log.With("base", req.BaseBranch, "proposal", req.Branch, "file", req.Path)

	refs, err := s.listRefs(ctx)
	if err != nil {
		return "", err
	}
	base, ok := refs[plumbing.NewBranchReferenceName(req.BaseBranch)]
	if !ok {
		return "", fmt.Errorf("%w: base %s on %s", ErrBranchNotFound, req.BaseBranch, s.cfg.URL)
	}
	existing, exists := refs[plumbing.NewBranchReferenceName(req.Branch)]

	repo, err := git.Init(memory.NewStorage(), memfs.New())
	if err != nil {
		return "", fmt.Errorf("propose: %w", err)
	}
	if err := setRemote(repo, s.cfg.URL); err != nil {
		return "", fmt.Errorf("propose: %w", err)
	}
	branches := []string{req.BaseBranch}
	if exists {
		branches = append(branches, req.Branch)
	}
	if err := s.fetchBranches(ctx, repo, branches...); err != nil {
		return "", err
	}

	if exists {
		if same, err := holdsChange(repo, existing, base, req); err != nil {
			return "", err
		} else if same {
			log.Info("proposal already pushed", "commit", existing)
			return existing.String(), nil
		}
	}
	commit, err := s.commitProposal(repo, base, req)
	if err != nil {
		return "", err
	}
	if err := s.pushProposal(ctx, repo, req.Branch, existing, exists); err != nil {
		return "", err
	}
	log.Info("proposal pushed", "commit", commit, "base_head", base, "replaced", existing)
	return commit.String(), nil
}

func (s *Source) checkProposal(req ProposeRequest) (ProposeRequest, error) {
	if req.BaseBranch == "" {
		if s.cfg.Ref != "" {
			return req, fmt.Errorf("%w: a source of ref %s has no base branch: give one", ErrConfig, s.cfg.Ref)
		}
		req.BaseBranch = s.cfg.Branch
	}
	if req.Path == "" {
		req.Path = s.cfg.Path
	}
	if req.Author == (Signature{}) {
		req.Author = DefaultSignature
	}
	p, err := cleanPath(req.Path)
	if err != nil {
		return req, err
	}
	req.Path = p
	switch {
	case checkBranch(req.BaseBranch) != nil:
		return req, checkBranch(req.BaseBranch)
	case checkBranch(req.Branch) != nil:
		return req, checkBranch(req.Branch)
	case req.Branch == req.BaseBranch:
		return req, fmt.Errorf("%w: proposal branch %q is the base branch", ErrConfig, req.Branch)
	case req.Message == "":
		return req, fmt.Errorf("%w: empty commit message", ErrConfig)
	case req.Author.Name == "" || req.Author.Email == "":
		return req, fmt.Errorf("%w: author needs a name and an email", ErrConfig)
	case int64(len(req.Content)) > s.cfg.MaxFileSize:
		return req, fmt.Errorf("%w: %d bytes, limit %d", ErrFileTooLarge, len(req.Content), s.cfg.MaxFileSize)
	}
	return req, nil
}

// fetchBranches fetches the heads of branches, depth 1, into
// refs/remotes/origin/.
func (s *Source) fetchBranches(ctx context.Context, repo *git.Repository, branches ...string) error {
	specs := make([]config.RefSpec, len(branches))
	for i, b := range branches {
		specs[i] = config.RefSpec(fmt.Sprintf("+%s:%s",
			plumbing.NewBranchReferenceName(b), plumbing.NewRemoteReferenceName(remoteName, b)))
	}
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   specs,
		Depth:      1,
		Tags:       git.NoTags,
		Auth:       s.auth,
		Force:      true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return s.remoteError("fetch", err)
	}
	return nil
}

// holdsChange reports whether commit tip is a single commit on top of
// base whose file at req.Path is req.Content.
func holdsChange(repo *git.Repository, tip, base plumbing.Hash, req ProposeRequest) (bool, error) {
	c, err := repo.CommitObject(tip)
	if err != nil {
		return false, fmt.Errorf("propose: read %s: %w", req.Branch, err)
	}
	if len(c.ParentHashes) != 1 || c.ParentHashes[0] != base {
		return false, nil
	}
	data, err := readFile(c, req.Path, int64(len(req.Content))+1)
	if err != nil {
		return false, nil
	}
	return bytes.Equal(data, req.Content), nil
}

// commitProposal makes the commit on a local branch req.Branch created
// at base and returns its hash.
func (s *Source) commitProposal(repo *git.Repository, base plumbing.Hash, req ProposeRequest) (plumbing.Hash, error) {
	baseCommit, err := repo.CommitObject(base)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("propose: read base %s: %w", base, err)
	}
	if cur, err := readFile(baseCommit, req.Path, int64(len(req.Content))+1); err == nil && bytes.Equal(cur, req.Content) {
		return plumbing.ZeroHash, fmt.Errorf("%w: %s at %s", ErrNoChange, req.Path, base)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("propose: %w", err)
	}
	err = wt.Checkout(&git.CheckoutOptions{Hash: base, Branch: plumbing.NewBranchReferenceName(req.Branch), Create: true})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("propose: check out %s: %w", base, err)
	}
	if dir := path.Dir(req.Path); dir != "." {
		if err := wt.Filesystem.MkdirAll(dir, 0o755); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("propose: %w", err)
		}
	}
	if err := util.WriteFile(wt.Filesystem, req.Path, req.Content, 0o644); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("propose: write %s: %w", req.Path, err)
	}
	if _, err := wt.Add(req.Path); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("propose: add %s: %w", req.Path, err)
	}
	sig := &object.Signature{Name: req.Author.Name, Email: req.Author.Email, When: time.Now()}
	h, err := wt.Commit(req.Message, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("propose: commit: %w", err)
	}
	return h, nil
}

// pushProposal pushes the local branch to the remote branch of the same
// name. An existing remote branch is overwritten only if it still points
// at old, the head seen before.
func (s *Source) pushProposal(ctx context.Context, repo *git.Repository, branch string, old plumbing.Hash, exists bool) error {
	ref := plumbing.NewBranchReferenceName(branch)
	// An explicit source ref: go-git silently pushes nothing for HEAD:<dst>.
	spec := config.RefSpec(fmt.Sprintf("%s:%s", ref, ref))
	opts := &git.PushOptions{RemoteName: remoteName, Auth: s.auth}
	if exists {
		spec = "+" + spec
		opts.RequireRemoteRefs = []config.RefSpec{config.RefSpec(fmt.Sprintf("%s:%s", old, ref))}
	}
	opts.RefSpecs = []config.RefSpec{spec}
	if err := repo.PushContext(ctx, opts); err != nil {
		return s.remoteError("push "+branch+" to", err)
	}
	return nil
}
