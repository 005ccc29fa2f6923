// Package commitstatus reports on the forge what storeops made of each
// revision of stores.yaml it picks up: the commit status "storeops/sync"
// is pending while the revision is applied and its stores come up,
// success once every store it declares is Ready, failure with the failing
// stores otherwise, and failure with the reason for a revision storeops
// refused (invalid file, mass-deletion guard).
//
// The daemon calls Picked, Refused and Synced from its sync loop; they
// only record what to say. Run posts it, from its own goroutine, when the
// status board says something new, so a slow forge never slows a sync.
package commitstatus

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/storeops/storeops/forge"
	"github.com/storeops/storeops/reconcile"
)

// Context is the name of storeops' commit status.
const Context = "storeops/sync"

// Reporter posts the commit status of the revision storeops applies.
type Reporter struct {
	setter forge.StatusSetter
	board  *reconcile.Board
	// TargetURL is where every status links to, e.g. the dashboard's sync
	// page; "" for none.
	TargetURL string
	log       *slog.Logger
	wake      chan struct{}

	mu       sync.Mutex
	revision string                        // the revision applied or being applied
	applied  bool                          // a sync of revision has ended
	refused  map[string]*reconcile.Refusal // refused revisions, until their status is posted
	posted   map[string]forge.CommitStatus
}

// New returns a Reporter posting through setter and reading the stores'
// phases from board.
func New(setter forge.StatusSetter, board *reconcile.Board, log *slog.Logger) *Reporter {
	return &Reporter{setter: setter, board: board, log: log, wake: make(chan struct{}, 1),
		refused: map[string]*reconcile.Refusal{}, posted: map[string]forge.CommitStatus{}}
}

// Picked says that revision is being applied: pending. Picking the
// revision reported on already changes nothing (periodic syncs of an
// applied revision).
func (r *Reporter) Picked(revision string) {
	if revision == "" {
		return
	}
	r.mu.Lock()
	if revision != r.revision {
		r.revision, r.applied = revision, false
	}
	r.mu.Unlock()
	r.poke()
}

// Refused says that revision was not applied and why: failure. The
// revision applied before stays the one reported on.
func (r *Reporter) Refused(revision string, refusal *reconcile.Refusal) {
	if revision == "" || refusal == nil {
		return // no commit to put it on (Git unreachable)
	}
	r.mu.Lock()
	r.refused[revision] = refusal
	if revision == r.revision {
		r.revision = ""
	}
	r.mu.Unlock()
	r.poke()
}

// Synced says that a sync of revision ended. A sync the mass-deletion
// guard refused is reported as refused; otherwise the stores' phases on
// the board decide from now on.
func (r *Reporter) Synced(rec reconcile.SyncRecord) {
	if rec.Refused != nil {
		r.Refused(rec.Revision, rec.Refused)
		return
	}
	if rec.Revision == "" {
		return
	}
	r.mu.Lock()
	r.revision, r.applied = rec.Revision, true
	r.mu.Unlock()
	r.poke()
}

func (r *Reporter) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run posts statuses until ctx ends: after each Picked, Refused or Synced
// and each change of the board.
func (r *Reporter) Run(ctx context.Context) {
	changed, cancel := r.board.Subscribe()
	defer cancel()
	for {
		r.Report(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-r.wake:
		}
	}
}

// Report posts the statuses of the refused revisions, then that of the
// current revision when it differs from the last one posted for it. Run
// calls it; tests may too.
func (r *Reporter) Report(ctx context.Context) {
	r.mu.Lock()
	rev, applied := r.revision, r.applied
	refused := make(map[string]*reconcile.Refusal, len(r.refused))
	for k, v := range r.refused {
		refused[k] = v
	}
	r.mu.Unlock()
	for sha, refusal := range refused {
		if r.post(ctx, sha, Status(sha, refusal, false, nil)) {
			r.mu.Lock()
			if r.refused[sha] == refusal {
				delete(r.refused, sha)
			}
			r.mu.Unlock()
		}
	}
	if rev != "" {
		r.post(ctx, rev, Status(rev, nil, applied, r.board.Current()))
	}
}

// post sets st on revision unless it is what was posted last; it reports
// whether the forge has it now.
func (r *Reporter) post(ctx context.Context, rev string, st forge.CommitStatus) bool {
	st.TargetURL = r.TargetURL
	r.mu.Lock()
	last, ok := r.posted[rev]
	r.mu.Unlock()
	if ok && last == st {
		return true
	}
	if err := r.setter.SetStatus(ctx, rev, st); err != nil {
		r.log.Warn("cannot set the commit status", "revision", rev, "state", st.State, "error", err)
		return false // tried again on the next change
	}
	r.log.Info("commit status set", "revision", rev, "state", st.State, "description", st.Description)
	r.mu.Lock()
	if len(r.posted) > 100 {
		r.posted = map[string]forge.CommitStatus{}
	}
	r.posted[rev] = st
	r.mu.Unlock()
	return true
}

// Status is the commit status of revision: refused (with refusal), being
// applied, or applied (the stores' phases in snap decide).
func Status(revision string, refusal *reconcile.Refusal, applied bool, snap *reconcile.Snapshot) forge.CommitStatus {
	st := forge.CommitStatus{Context: Context}
	if refusal != nil {
		st.State = forge.StatusFailure
		st.Description = "not applied: " + refusalText(refusal)
		return st
	}
	st.State = forge.StatusPending
	if !applied || snap == nil || snap.Revision != revision {
		st.Description = "applying " + short(revision)
		return st
	}
	var failing, waiting []string
	ready := 0
	for _, s := range snap.Stores {
		switch {
		case !s.Declared && s.Phase == reconcile.PhaseDeleting:
			waiting = append(waiting, s.Name)
		case !s.Declared, s.Phase == reconcile.PhaseSuspended:
		case s.Phase == reconcile.PhaseFailed || s.Phase == reconcile.PhaseBlocked:
			failing = append(failing, fmt.Sprintf("%s %s", s.Name, s.Phase))
		case s.Phase == reconcile.PhaseReady || s.Phase == reconcile.PhaseDegraded:
			// Degraded was Ready at its revision: the revision worked,
			// and Kubernetes is bringing a workload back.
			ready++
		default:
			waiting = append(waiting, s.Name)
		}
	}
	sort.Strings(failing)
	switch {
	case len(failing) > 0:
		st.State = forge.StatusFailure
		st.Description = fmt.Sprintf("%d of %d stores failing: %s", len(failing), len(failing)+ready+len(waiting), strings.Join(failing, ", "))
	case len(waiting) > 0:
		st.Description = fmt.Sprintf("%d stores Ready, waiting for %d", ready, len(waiting))
	default:
		st.State = forge.StatusSuccess
		st.Description = fmt.Sprintf("applied; %d stores Ready", ready)
	}
	return st
}

func refusalText(r *reconcile.Refusal) string {
	msg := r.Message
	if len(r.Errors) > 0 {
		msg = strings.Join(r.Errors, "; ")
	}
	switch r.Reason {
	case "InvalidConfig":
		return "invalid stores.yaml: " + msg
	case "MassDeletion":
		return "mass-deletion guard: " + msg
	}
	return msg
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
