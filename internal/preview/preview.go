// Package preview comments on every open pull request that changes
// stores.yaml what merging it would do: the file's problems with their
// line and column, or the plan against the live cluster (installs,
// upgrades with their diffs, deletions that destroy data) and whether the
// mass-deletion guard would refuse it. Each pull request gets one
// comment, edited in place when its plan changes.
//
// A pull request from a branch of the repository is read from that
// branch. One from a fork is read from the ref the forge keeps of its
// head in the repository (refs/pull/<N>/head on GitHub and Gitea,
// refs/merge-requests/<N>/head on GitLab): its branch is in the fork,
// and a branch of the repository with the same name is another one.
package preview

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/storeops/storeops/forge"
	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

// Marker identifies storeops' plan comment on a pull request.
const Marker = "<!-- storeops:plan -->"

// Planner plans cfg (the pull request's stores.yaml, at the head commit
// snap) against the live cluster.
type Planner func(cfg *render.Config, snap gitsource.Snapshot) ([]reconcile.Action, error)

// Config is what a Previewer needs.
type Config struct {
	// Forge lists the pull requests; Comments writes the comment.
	Forge    forge.Forge
	Comments forge.Commenter
	// Git is the config repository: URL, Auth, Path, and Branch, the base
	// branch whose pull requests are previewed.
	Git    gitsource.Config
	Limits render.Limits
	Plan   Planner
	Log    *slog.Logger
}

// Preview is what storeops said on one pull request.
type Preview struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
	Title  string `json:"title"`
	Head   string `json:"head"`           // the head branch, in the fork when Fork
	Fork   bool   `json:"fork,omitempty"` // the pull request comes from a fork
	// Ref is the ref of the repository that was read: refs/heads/<Head>,
	// or for a fork the forge's ref of the head, e.g. refs/pull/12/head.
	Ref      string    `json:"ref"`
	Revision string    `json:"revision"`
	Errors   []string  `json:"errors,omitempty"`  // the file's problems, file:line:column
	Refused  string    `json:"refused,omitempty"` // the mass-deletion guard's refusal
	Changes  []string  `json:"changes,omitempty"` // one line per action
	Body     string    `json:"body"`              // the comment, Markdown
	Planned  time.Time `json:"planned"`
}

// Previewer keeps the plan comments of the open pull requests.
type Previewer struct {
	cfg Config

	mu       sync.Mutex
	sources  map[string]*gitsource.Source // by the full name of the ref read
	previews map[int]Preview
	posted   map[int]string // body last written, by pull request
}

// New returns a Previewer.
func New(cfg Config) *Previewer {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Previewer{cfg: cfg, sources: map[string]*gitsource.Source{}, previews: map[int]Preview{}, posted: map[int]string{}}
}

// target is a ref of the repository to read: a branch, or another ref
// (given in full).
type target struct {
	branch, ref string
}

func branchTarget(name string) target { return target{branch: name} }

// name is the full name of the ref, the key of its Source.
func (t target) name() string {
	if t.ref != "" {
		return t.ref
	}
	return "refs/heads/" + t.branch
}

// headOf is what to read of pr: its head branch when that is a branch
// of the repository, else the ref the forge keeps of its head in the
// repository. That is the case of a pull request from a fork, whose
// branch is in the fork (a branch of the repository with the same name
// is another one), and of one whose head the forge names by that ref
// only (Gitea's pull requests pushed with AGit).
func headOf(pr forge.PullRequest) (target, error) {
	if !pr.Fork && pr.Head != "" && !strings.HasPrefix(pr.Head, "refs/") {
		return branchTarget(pr.Head), nil
	}
	if pr.HeadRef == "" {
		return target{}, fmt.Errorf("head %q is not a branch of the repository and the forge names no ref of it there", pr.Head)
	}
	return target{ref: pr.HeadRef}, nil
}

// source returns the Source of t, kept across scans while a pull
// request reads it, so that an unmoved head costs one ref listing.
func (p *Previewer) source(t target) (*gitsource.Source, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sources[t.name()]; ok {
		return s, nil
	}
	cfg := p.cfg.Git
	cfg.Branch, cfg.Ref, cfg.Dir = t.branch, t.ref, ""
	s, err := gitsource.New(cfg, p.cfg.Log)
	if err != nil {
		return nil, err
	}
	p.sources[t.name()] = s
	return s, nil
}

// fetch reads stores.yaml at the commit t points to.
func (p *Previewer) fetch(ctx context.Context, t target) (gitsource.Snapshot, error) {
	s, err := p.source(t)
	if err != nil {
		return gitsource.Snapshot{}, err
	}
	return s.Fetch(ctx)
}

// Scan previews every open pull request into the base branch that
// changes stores.yaml, and forgets the others.
func (p *Previewer) Scan(ctx context.Context) error {
	base := p.cfg.Git.Branch
	if base == "" {
		base = gitsource.DefaultBranch
	}
	prs, err := p.cfg.Forge.List(ctx, "", forge.DefaultListLimit)
	if err != nil {
		return fmt.Errorf("list pull requests: %w", err)
	}
	baseTarget := branchTarget(base)
	baseSnap, err := p.fetch(ctx, baseTarget)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", base, err)
	}
	open := map[int]bool{}
	read := map[string]bool{baseTarget.name(): true}
	var errs []error
	for _, pr := range prs {
		if pr.State != forge.StateOpen || pr.Base != base {
			continue
		}
		open[pr.Number] = true
		head, err := headOf(pr)
		if err == nil {
			read[head.name()] = true
			err = p.preview(ctx, pr, head, baseSnap)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("#%d: %w", pr.Number, err))
		}
	}
	p.mu.Lock()
	for n := range p.previews {
		if !open[n] {
			delete(p.previews, n)
			delete(p.posted, n)
		}
	}
	for name := range p.sources {
		if !read[name] {
			delete(p.sources, name) // no open pull request reads it any more
		}
	}
	p.mu.Unlock()
	return errors.Join(errs...)
}

func (p *Previewer) preview(ctx context.Context, pr forge.PullRequest, head target, base gitsource.Snapshot) error {
	snap, err := p.fetch(ctx, head)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", head.name(), err)
	}
	if bytes.Equal(snap.Data, base.Data) {
		p.mu.Lock()
		delete(p.previews, pr.Number) // it does not change stores.yaml (any more)
		p.mu.Unlock()
		return nil
	}
	pv := Preview{Number: pr.Number, URL: pr.URL, Title: pr.Title, Head: pr.Head, Fork: pr.Fork, Ref: head.name(),
		Revision: snap.Revision, Planned: time.Now()}
	cfg, perr := render.Parse(snap.Path, snap.Data, p.cfg.Limits)
	if perr != nil {
		if errs := render.Errors(perr); errs != nil {
			for _, e := range errs {
				pv.Errors = append(pv.Errors, e.Error())
			}
		} else {
			pv.Errors = []string{perr.Error()}
		}
	} else {
		actions, err := p.cfg.Plan(cfg, snap)
		var guard *reconcile.MassDeletionError
		switch {
		case errors.As(err, &guard):
			pv.Refused = guard.Error()
		case err != nil:
			return fmt.Errorf("plan: %w", err)
		}
		for _, a := range actions {
			pv.Changes = append(pv.Changes, Describe(a))
		}
		pv.Body = Body(snap, pv, actions)
	}
	if pv.Body == "" {
		pv.Body = Body(snap, pv, nil)
	}
	p.mu.Lock()
	p.previews[pr.Number] = pv
	last := p.posted[pr.Number]
	p.mu.Unlock()
	if last == pv.Body {
		return nil
	}
	changed, err := p.cfg.Comments.UpsertComment(ctx, pr.Number, Marker, pv.Body)
	if err != nil {
		return fmt.Errorf("comment: %w", err)
	}
	if changed {
		p.cfg.Log.Info("plan preview commented", "pull", pr.Number, "revision", short(snap.Revision))
	}
	p.mu.Lock()
	p.posted[pr.Number] = pv.Body
	p.mu.Unlock()
	return nil
}

// Previews returns the current previews, by pull request number.
func (p *Previewer) Previews() []Preview {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Preview, 0, len(p.previews))
	for _, pv := range p.previews {
		out = append(out, pv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number > out[j].Number })
	return out
}

// Run scans every interval and on each wake-up until ctx ends, while
// active says this replica should (the leader: one writer of comments).
func (p *Previewer) Run(ctx context.Context, interval time.Duration, wake <-chan struct{}, active func() bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if active() {
			if err := p.Scan(ctx); err != nil && ctx.Err() == nil {
				p.cfg.Log.Warn("plan preview", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
	}
}

// Describe is one line for an action, as a reviewer reads it.
func Describe(a reconcile.Action) string {
	switch a.Kind {
	case reconcile.ActInstall:
		if d := a.Desired; d != nil {
			return fmt.Sprintf("install %s (%s, %s, %s)", a.Store, d.Store.Type, d.Store.Plan, d.Store.Domain)
		}
	case reconcile.ActDelete:
		return fmt.Sprintf("delete %s — data will be destroyed (its database, uploads and credentials)", a.Store)
	}
	return fmt.Sprintf("%s %s: %s", a.Kind, a.Store, a.Reason)
}

// Body is the Markdown of the comment.
func Body(snap gitsource.Snapshot, pv Preview, actions []reconcile.Action) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n### storeops plan for %s\n\n", Marker, short(snap.Revision))
	switch {
	case len(pv.Errors) > 0:
		fmt.Fprintf(&b, "**`%s` is invalid**: storeops would apply nothing of it.\n\n```diff\n", snap.Path)
		for _, e := range pv.Errors {
			fmt.Fprintf(&b, "- %s\n", e)
		}
		b.WriteString("```\n")
	case pv.Refused != "":
		b.WriteString("```diff\n- REFUSED by the mass-deletion guard: " + pv.Refused + "\n```\n\n")
		b.WriteString("Merged as it is, this changes nothing: storeops refuses the whole revision. To go ahead once it is merged, " +
			"an operator confirms that revision from outside the repository: `storeops confirm-deletions <revision>`. " +
			"Nothing in the commit can confirm it.\n")
	case len(actions) == 0:
		b.WriteString("No changes: the cluster already matches this `stores.yaml`.\n")
	default:
		fmt.Fprintf(&b, "Merging this changes %d store(s) in the cluster:\n\n", len(actions))
		for _, a := range actions {
			line := Describe(a)
			if a.Kind == reconcile.ActDelete {
				line = "**" + line + "**"
			}
			fmt.Fprintf(&b, "- %s\n", line)
		}
		for _, a := range actions {
			if a.Diff == "" {
				continue
			}
			fmt.Fprintf(&b, "\n<details><summary>%s %s: diff (-live +proposed)</summary>\n\n```diff\n%s\n```\n</details>\n",
				a.Kind, a.Store, strings.TrimRight(strings.ReplaceAll(a.Diff, "\u00a0", " "), "\n"))
		}
	}
	b.WriteString("\n<sub>Planned against the live cluster; updated on every push to this pull request.</sub>\n")
	return b.String()
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
