// Package intake turns the head of the tracked branch into the revision
// in force. Each Sync fetches stores.yaml (package gitsource), parses
// and validates it (package render), refuses a revision that cannot be
// used while the last good revision stays in force, and hands the
// revision in force to a Target: the leader applies it, a follower only
// shows it.
//
// An Intake holds the one memory of revisions: the last good one, the
// newest bad one, and the last source error reported. A bad revision is
// one whose commit is not signed by a trusted key when signatures are
// verified (Config.Verify; refused as UntrustedRevision, before its file
// is parsed), whose file does not parse or validate (refused as
// InvalidConfig), or is missing or too large (a *gitsource.RevisionError,
// refused as SourceUnavailable). It is refused once: while the branch
// stays on it, a Sync only lists the remote's refs (Source.Head),
// neither fetching, verifying nor parsing it again. An unreachable remote is reported once per
// distinct error and again after a recovery. Before any revision is
// known, a Sync that cannot fetch starts from the revision in the
// on-disk cache (Source.Cached), so that a restart during a Git outage
// keeps the stores it last fetched; that revision too must pass
// Config.Verify.
package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

// Refusal reasons set by an Intake.
const (
	ReasonInvalidConfig     = "InvalidConfig"
	ReasonSourceUnavailable = "SourceUnavailable"
	// ReasonUntrustedRevision: the commit carries no valid signature by
	// a trusted key (Config.Verify).
	ReasonUntrustedRevision = "UntrustedRevision"
)

// Source is where revisions come from; *gitsource.Source is one.
type Source interface {
	// Fetch returns the file at the head of the branch; see
	// gitsource.Source.Fetch.
	Fetch(ctx context.Context) (gitsource.Snapshot, error)
	// Head returns the commit the branch points to, listing the remote's
	// refs only.
	Head(ctx context.Context) (string, error)
	// Cached returns the file at the revision last fetched into the
	// on-disk cache, without contacting the remote; errors wrap
	// gitsource.ErrNoCache when there is none.
	Cached() (gitsource.Snapshot, error)
}

// Target receives the revision in force: the reconciler.
type Target interface {
	// Apply hands a validated revision to the reconciler (leader). ctx
	// is cancelled when Apply returns: Apply may return before the
	// revision is applied, and must then not keep ctx. Nothing in `in`
	// is changed afterwards.
	Apply(ctx context.Context, in reconcile.SyncInput) (reconcile.SyncRecord, error)
	// Show makes revision the one shown, without applying it
	// (follower). held, when set, says why a newer revision is not in
	// force.
	Show(cfg *render.Config, revision string, held *reconcile.Refusal)
	// Refuse records that revision ("" when unknown) is not applied,
	// and why.
	Refuse(revision, trigger string, refusal *reconcile.Refusal) reconcile.SyncRecord
}

// Hooks are what the caller does around a Sync. Every field is
// optional. They run inside Sync and must not call it.
type Hooks struct {
	// Leading returns a context that lives as long as this replica
	// leads, or nil while it follows: the revision in force is then
	// shown (Target.Show) instead of applied. Nil Leading: always
	// leading, within Sync's context.
	Leading func() context.Context
	// ConfirmsDeletions says whether deletions beyond the mass-deletion
	// guard are confirmed for revision. Nil: never.
	ConfirmsDeletions func(revision string) bool
	// Fetched observes each look at the remote: how long it took and
	// how it failed (nil: it did not), a context cancelled included.
	Fetched func(took time.Duration, err error)
	// Refused is told of each revision refused because its commit is
	// not trusted (Config.Verify) or its stores.yaml does not parse or
	// validate, once, after Target.Refuse.
	Refused func(revision string, refusal *reconcile.Refusal)
	// Picked is told of the revision about to be handed to
	// Target.Apply.
	Picked func(revision string)
	// Applied is told what Target.Apply returned.
	Applied func(rec reconcile.SyncRecord, err error)
}

// Config wires an Intake.
type Config struct {
	// Source and Target are required.
	Source Source
	Target Target
	// Describe names the source in messages (URL, branch and path).
	Describe string
	// Limits bound the stores file; see render.Parse.
	Limits render.Limits
	// Verify, when set, judges the commit of each new revision before
	// its file is parsed: a revision it fails is refused
	// (ReasonUntrustedRevision, with its error as the message), once,
	// and never applied. (*gitsource.KeyRing).Verify is one. Nil: every
	// commit is trusted.
	Verify func(gitsource.Snapshot) error
	Hooks  Hooks
	// Log may be nil.
	Log *slog.Logger
}

// Intake fetches, validates and hands over revisions; see the package
// documentation. Its methods are safe for concurrent use; Sync calls run
// one at a time.
type Intake struct {
	cfg   Config
	log   *slog.Logger
	parse func(path string, data []byte, limits render.Limits) (*render.Config, error)

	mu     sync.Mutex
	last   *revision   // last good revision; nil until one is known
	cached bool        // last was read from the cache; no fetch succeeded since
	bad    badRevision // newest bad revision, while the branch is on it
	down   string      // message of the last SourceUnavailable reported; "" after a fetch
}

// revision is one fetched and validated stores.yaml.
type revision struct {
	snap gitsource.Snapshot
	cfg  *render.Config
}

// badRevision is a revision that will never be applied.
type badRevision struct {
	revision string // "" for none
	// err is Fetch's error when the file is missing or too large;
	// otherwise the file does not parse and refusal says why.
	err     error
	refusal *reconcile.Refusal
}

// New returns an Intake that knows no revision yet.
func New(cfg Config) *Intake {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &cfg.Hooks
	if h.ConfirmsDeletions == nil {
		h.ConfirmsDeletions = func(string) bool { return false }
	}
	if h.Fetched == nil {
		h.Fetched = func(time.Duration, error) {}
	}
	if h.Refused == nil {
		h.Refused = func(string, *reconcile.Refusal) {}
	}
	if h.Picked == nil {
		h.Picked = func(string) {}
	}
	if h.Applied == nil {
		h.Applied = func(reconcile.SyncRecord, error) {}
	}
	return &Intake{cfg: cfg, log: log, parse: render.Parse}
}

// Sync looks at the branch once and hands the revision in force to the
// Target with trigger (why this sync runs): Apply while leading, Show
// while following, nothing while no good revision is known. A new bad
// revision and a new source error are reported with Target.Refuse
// first. When ctx ends during the fetch, Sync reports and hands over
// nothing.
func (in *Intake) Sync(ctx context.Context, trigger string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	held, ok := in.take(ctx, trigger)
	if !ok || in.last == nil {
		return
	}
	in.handOver(ctx, trigger, held)
}

// take fetches the head of the branch and makes it the revision in
// force if it is good. It returns why a newer revision is held back,
// if one is; false when ctx ended.
func (in *Intake) take(ctx context.Context, trigger string) (held *reconcile.Refusal, ok bool) {
	t0 := time.Now()
	snap, err := in.fetch(ctx)
	in.cfg.Hooks.Fetched(time.Since(t0), err)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false
		}
		return in.unavailable(trigger, err), true
	}
	in.down, in.cached = "", false
	if snap.Revision != in.bad.revision {
		in.bad = badRevision{} // the branch moved on
	}
	switch {
	case in.bad.refusal != nil:
		return in.bad.refusal, true // refused already; still shown
	case in.last != nil && snap.Revision == in.last.snap.Revision:
		return nil, true // in force already: parsed once
	}
	if err := in.verify(snap); err != nil {
		return in.refuse(snap.Revision, trigger, untrustedRefusal(snap, err)), true
	}
	cfg, err := in.parse(snap.Path, snap.Data, in.cfg.Limits)
	if err != nil {
		return in.refuse(snap.Revision, trigger, invalidRefusal(snap, err)), true
	}
	in.last = &revision{snap: snap, cfg: cfg}
	return nil, true
}

// verify judges snap's commit with Config.Verify, if set.
func (in *Intake) verify(snap gitsource.Snapshot) error {
	if in.cfg.Verify == nil {
		return nil
	}
	return in.cfg.Verify(snap)
}

// refuse remembers revision as the bad one, reports it, and returns
// refusal.
func (in *Intake) refuse(revision, trigger string, refusal *reconcile.Refusal) *reconcile.Refusal {
	in.bad = badRevision{revision: revision, refusal: refusal}
	in.cfg.Target.Refuse(revision, trigger, refusal)
	in.cfg.Hooks.Refused(revision, refusal)
	return refusal
}

// fetch returns the file at the head of the branch. While the branch
// stays on the bad revision it only lists the remote's refs, and
// returns that revision (without its file) or its Fetch error again.
func (in *Intake) fetch(ctx context.Context) (gitsource.Snapshot, error) {
	if in.bad.revision != "" {
		head, err := in.cfg.Source.Head(ctx)
		if err != nil {
			return gitsource.Snapshot{}, err
		}
		if head == in.bad.revision {
			return gitsource.Snapshot{Revision: head, Unchanged: true}, in.bad.err
		}
	}
	snap, err := in.cfg.Source.Fetch(ctx)
	if rev, ok := errors.AsType[*gitsource.RevisionError](err); ok {
		in.bad = badRevision{revision: rev.Revision, err: err}
	}
	return snap, err
}

// unavailable is the refusal of a sync that could not read the branch,
// reported when it says something new. Before any revision is known it
// starts from the cached one, and says so until a fetch succeeds.
func (in *Intake) unavailable(trigger string, err error) *reconcile.Refusal {
	msg := fmt.Sprintf("cannot fetch %s: %v; the last good revision stays applied", in.cfg.Describe, err)
	if in.last == nil {
		in.fromCache()
	}
	if in.cached {
		msg += fmt.Sprintf("; serving revision %s from the cache", short(in.last.snap.Revision))
	}
	held := &reconcile.Refusal{Reason: ReasonSourceUnavailable, Message: msg}
	if msg != in.down {
		in.down = msg
		in.cfg.Target.Refuse("", trigger, held)
	}
	return held
}

// fromCache makes the revision in the on-disk cache the one in force,
// if it is good.
func (in *Intake) fromCache() {
	snap, err := in.cfg.Source.Cached()
	if err != nil {
		if !errors.Is(err, gitsource.ErrNoCache) {
			in.log.Warn("cannot read the cached revision", "error", err)
		}
		return
	}
	if err := in.verify(snap); err != nil {
		in.log.Warn("the cached revision is not trusted", "revision", short(snap.Revision), "error", err)
		return
	}
	cfg, err := in.parse(snap.Path, snap.Data, in.cfg.Limits)
	if err != nil {
		in.log.Warn("the cached revision is not valid", "revision", short(snap.Revision), "error", err)
		return
	}
	in.last, in.cached = &revision{snap: snap, cfg: cfg}, true
	in.log.Info("serving the cached revision while the remote is unreachable", "revision", short(snap.Revision))
}

// handOver applies the revision in force while leading, or shows it.
func (in *Intake) handOver(ctx context.Context, trigger string, held *reconcile.Refusal) {
	rev, h := in.last, in.cfg.Hooks
	lead := ctx
	if h.Leading != nil {
		if lead = h.Leading(); lead == nil {
			in.cfg.Target.Show(rev.cfg, rev.snap.Revision, held)
			return
		}
	}
	// Apply ends with the leadership, and with ctx.
	applyCtx, cancel := context.WithCancel(lead)
	stop := context.AfterFunc(ctx, cancel)
	defer func() { stop(); cancel() }()
	h.Picked(rev.snap.Revision)
	rec, err := in.cfg.Target.Apply(applyCtx, reconcile.SyncInput{
		Config: rev.cfg, Revision: rev.snap.Revision, Trigger: trigger,
		ConfirmDeletions: h.ConfirmsDeletions(rev.snap.Revision), Held: held,
	})
	h.Applied(rec, err)
}

// untrustedRefusal describes a commit Config.Verify refused; the
// message names the commit (gitsource.UntrustedError does already).
func untrustedRefusal(snap gitsource.Snapshot, err error) *reconcile.Refusal {
	msg := err.Error()
	if !strings.Contains(msg, short(snap.Revision)) {
		msg = fmt.Sprintf("revision %s is not trusted: %s", short(snap.Revision), msg)
	}
	return &reconcile.Refusal{
		Reason:  ReasonUntrustedRevision,
		Message: msg + "; the last good revision stays applied",
	}
}

// invalidRefusal describes a stores.yaml that does not parse or validate.
func invalidRefusal(snap gitsource.Snapshot, err error) *reconcile.Refusal {
	r := &reconcile.Refusal{Reason: ReasonInvalidConfig}
	for _, e := range render.Errors(err) {
		r.Errors = append(r.Errors, e.Error())
	}
	if len(r.Errors) == 0 {
		r.Errors = []string{err.Error()}
	}
	r.Message = fmt.Sprintf("%s at %s has %d problem(s); the last good revision stays applied", snap.Path, short(snap.Revision), len(r.Errors))
	return r
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
