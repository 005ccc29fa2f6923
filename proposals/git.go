package proposals

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/storeops/storeops/forge"
	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/render"
)

// ErrBaseMoving means the base branch moved during every attempt to
// build the change on it; asking again later will do.
var ErrBaseMoving = errors.New("the base branch kept moving while the change was prepared")

// maxAttempts bounds how often a proposal is rebuilt because the base
// branch moved under it.
const maxAttempts = 3

// Config is what a GitProposer needs.
type Config struct {
	// Source is the config repository: its branch is the base of every
	// pull request, its path the stores file. Give the proposer a
	// Source of its own: Fetch remembers the last revision per Source.
	// Its credentials must allow pushing branches.
	Source *gitsource.Source
	// Forge opens the pull requests on the same repository.
	Forge forge.Forge
	// Limits are the limits the stores file is validated with.
	Limits render.Limits
	// Author signs the commits; gitsource.DefaultSignature when zero.
	// The person who asked is named in the message and the body.
	Author gitsource.Signature
	// Logger receives one line per decision; nil discards.
	Logger *slog.Logger
	// ListLimit is the most pull requests List returns;
	// forge.DefaultListLimit when zero.
	ListLimit int
}

// GitProposer is the Proposer that edits stores.yaml in Git and opens
// pull requests on the forge. Its methods are safe for concurrent use;
// proposals are made one at a time.
type GitProposer struct {
	cfg Config
	log *slog.Logger
	mu  sync.Mutex
}

var _ Proposer = (*GitProposer)(nil)

// New checks cfg and returns a GitProposer. Nothing is contacted.
func New(cfg Config) (*GitProposer, error) {
	switch {
	case cfg.Source == nil:
		return nil, errors.New("proposals: no git source")
	case cfg.Forge == nil:
		return nil, errors.New("proposals: no forge")
	}
	if cfg.Author == (gitsource.Signature{}) {
		cfg.Author = gitsource.DefaultSignature
	}
	if cfg.ListLimit <= 0 {
		cfg.ListLimit = forge.DefaultListLimit
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &GitProposer{cfg: cfg, log: log}, nil
}

// change is one proposal, built from the base's stores file.
type change struct {
	content []byte
	title   string
	message string
	body    string
}

// ProposeCreate proposes adding s. When an open pull request already
// proposes a store of that name, it is returned with Existing set, even
// if it was opened with other fields (its title shows them).
func (p *GitProposer) ProposeCreate(ctx context.Context, s render.NewStore, user string) (Proposal, error) {
	if fe := s.Check(); fe != nil {
		return Proposal{}, fe
	}
	return p.propose(ctx, KindCreate, s.Name, cleanUser(user), func(snap gitsource.Snapshot) (change, error) {
		return p.createChange(snap, s, cleanUser(user))
	})
}

// ProposeDelete proposes removing the store name: render.ErrNoSuchStore
// when the base's stores file does not declare it, render.FieldErrors
// when name is not a store name at all.
func (p *GitProposer) ProposeDelete(ctx context.Context, name, user string) (Proposal, error) {
	if msg := render.CheckName(name); msg != "" {
		return Proposal{}, render.FieldErrors{"name": msg}
	}
	return p.propose(ctx, KindDelete, name, cleanUser(user), func(snap gitsource.Snapshot) (change, error) {
		return p.deleteChange(snap, name, cleanUser(user))
	})
}

// propose returns the open pull request of the change's branch, or
// builds the change on the base's head, pushes it and opens one.
func (p *GitProposer) propose(ctx context.Context, kind Kind, store, user string, build func(gitsource.Snapshot) (change, error)) (Proposal, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	branch := Branch(kind, store)
	base := p.cfg.Source.Config().Branch
	log := p.log.With("kind", kind, "store", store, "branch", branch, "base", base, "user", user)

	snap, err := p.fetch(ctx)
	if err != nil {
		return Proposal{}, err
	}
	ch, err := build(snap)
	if err != nil {
		log.Info("proposal refused", "revision", snap.Revision, "reason", err)
		return Proposal{}, err
	}
	open, err := p.cfg.Forge.FindOpen(ctx, branch, base)
	if err != nil {
		return Proposal{}, fmt.Errorf("look for an open pull request from %s: %w", branch, err)
	}
	if open != nil {
		log.Info("pull request already open; not pushing", "number", open.Number, "url", open.URL)
		pr := toProposal(*open, kind, store)
		pr.Existing = true
		return pr, nil
	}

	for attempt := 1; ; attempt++ {
		commit, err := p.cfg.Source.Propose(ctx, gitsource.ProposeRequest{
			Branch: branch, Content: ch.content, Message: ch.message, Author: p.cfg.Author,
		})
		if err != nil {
			return Proposal{}, fmt.Errorf("push %s: %w", branch, err)
		}
		head, err := p.cfg.Source.Head(ctx)
		if err != nil {
			return Proposal{}, err
		}
		if head == snap.Revision {
			log.Info("change pushed", "commit", commit, "base_revision", head)
			break
		}
		// The base moved between reading the file and pushing: the
		// branch may hold an edit of an older file. Edit the new one.
		if attempt == maxAttempts {
			return Proposal{}, fmt.Errorf("%w (%d attempts)", ErrBaseMoving, attempt)
		}
		log.Info("base moved while proposing; rebuilding", "read", snap.Revision, "now", head)
		if snap, err = p.fetch(ctx); err != nil {
			return Proposal{}, err
		}
		if ch, err = build(snap); err != nil {
			return Proposal{}, err
		}
	}

	pr, err := p.cfg.Forge.Open(ctx, branch, base, ch.title, ch.body)
	if err != nil {
		return Proposal{}, fmt.Errorf("open a pull request from %s: %w", branch, err)
	}
	log.Info("pull request opened", "number", pr.Number, "url", pr.URL)
	out := toProposal(*pr, kind, store)
	if out.Author == "" {
		out.Author = user
	}
	return out, nil
}

// fetch reads the stores file at the base's head. A missing file reads
// as empty, so the first store can be proposed into a new repository.
func (p *GitProposer) fetch(ctx context.Context) (gitsource.Snapshot, error) {
	snap, err := p.cfg.Source.Fetch(ctx)
	if errors.Is(err, gitsource.ErrFileNotFound) {
		head, herr := p.cfg.Source.Head(ctx)
		if herr != nil {
			return snap, herr
		}
		return gitsource.Snapshot{Revision: head, Path: p.cfg.Source.Config().Path}, nil
	}
	if err != nil {
		return snap, fmt.Errorf("read the base's stores file: %w", err)
	}
	return snap, nil
}

func (p *GitProposer) createChange(snap gitsource.Snapshot, s render.NewStore, user string) (change, error) {
	out, err := render.AddStore(snap.Path, snap.Data, s, p.cfg.Limits)
	if err != nil {
		return change{}, err
	}
	cfg, err := render.Parse(snap.Path, out, p.cfg.Limits)
	if err != nil {
		return change{}, err
	}
	st, _ := cfg.Store(s.Name)
	title := fmt.Sprintf("Add store %s (%s, %s)", s.Name, st.Type, st.Plan)
	return change{
		content: out,
		title:   title,
		message: commitMessage(title, user),
		body:    createBody(p.cfg.Source.Config().Branch, snap, out, st, user),
	}, nil
}

func (p *GitProposer) deleteChange(snap gitsource.Snapshot, name, user string) (change, error) {
	var st render.Store
	if len(snap.Data) > 0 {
		cfg, err := render.Parse(snap.Path, snap.Data, p.cfg.Limits)
		if err != nil {
			return change{}, fmt.Errorf("%s is not valid; fix it before removing a store:\n%w", snap.Path, err)
		}
		st, _ = cfg.Store(name)
	}
	out, err := render.RemoveStore(snap.Path, snap.Data, name)
	if err != nil {
		return change{}, err
	}
	if _, err := render.Parse(snap.Path, out, p.cfg.Limits); err != nil {
		return change{}, err
	}
	title := "Remove store " + name
	return change{
		content: out,
		title:   title,
		message: commitMessage(title, user),
		body:    deleteBody(p.cfg.Source.Config().Branch, snap, out, st, user),
	}, nil
}

// List returns the pull requests of storeops branches, newest first.
// Pull requests from branches under BranchPrefix that storeops did not
// name, and from forks (storeops pushes to the repository itself), are
// left out.
func (p *GitProposer) List(ctx context.Context) ([]Proposal, error) {
	prs, err := p.cfg.Forge.List(ctx, BranchPrefix, p.cfg.ListLimit)
	if err != nil {
		return nil, fmt.Errorf("list pull requests: %w", err)
	}
	out := make([]Proposal, 0, len(prs))
	for _, pr := range prs {
		kind, store, ok := ParseBranch(pr.Head)
		if !ok || pr.Fork {
			continue
		}
		out = append(out, toProposal(pr, kind, store))
	}
	return out, nil
}

// ParseBranch is the inverse of Branch: the kind and store of a
// storeops branch; ok is false for any other branch.
func ParseBranch(branch string) (kind Kind, store string, ok bool) {
	rest, ok := strings.CutPrefix(branch, BranchPrefix)
	if !ok {
		return "", "", false
	}
	switch {
	case strings.HasPrefix(rest, "add-"):
		kind, store = KindCreate, strings.TrimPrefix(rest, "add-")
	case strings.HasPrefix(rest, "remove-"):
		kind, store = KindDelete, strings.TrimPrefix(rest, "remove-")
	default:
		return "", "", false
	}
	if render.CheckName(store) != "" {
		return "", "", false
	}
	return kind, store, true
}

func toProposal(pr forge.PullRequest, kind Kind, store string) Proposal {
	state := StateOpen
	switch pr.State {
	case forge.StateMerged:
		state = StateMerged
	case forge.StateClosed:
		state = StateClosed
	}
	return Proposal{
		Kind: kind, Store: store, Branch: pr.Head, Number: pr.Number, URL: pr.URL, Title: pr.Title,
		State: state, Author: requester(pr.Body), Created: pr.Created,
	}
}
