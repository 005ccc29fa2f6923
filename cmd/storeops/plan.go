package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/intake"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

// oneShotFlags are the flags of plan and sync --once.
type oneShotFlags struct {
	source  sourceFlags
	engine  engineFlags
	file    string
	output  string
	timeout time.Duration
	verbose bool
	// logLevel ("": warn, info with -v) and logFormat, as serve's.
	logLevel, logFormat string
}

func (f *oneShotFlags) register(fs *flag.FlagSet) {
	f.source.register(fs)
	f.engine.register(fs)
	fs.StringVar(&f.file, "f", "", "read stores.yaml from this file instead of a repository")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up after this long")
	fs.BoolVar(&f.verbose, "v", false, "log what is done (--log-level info)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (default warn, info with -v)")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
}

// load reads stores.yaml from -f or from the repository.
func (f *oneShotFlags) load(ctx context.Context, log *slog.Logger) (revision, error) {
	if f.file != "" {
		cfg, err := readConfig(f.file, f.source.limits)
		return revision{cfg: cfg}, err
	}
	if f.source.url == "" {
		return revision{}, errors.New("give --git-url PATH_OR_URL or -f FILE")
	}
	src, err := f.source.source(log)
	if err != nil {
		return revision{}, err
	}
	verify, err := f.source.verifier(log)
	if err != nil {
		return revision{}, err
	}
	return fetchRevision(ctx, src, f.source.limits, verify)
}

func (f *oneShotFlags) logger(stderr io.Writer) (*slog.Logger, error) {
	level := f.logLevel
	switch {
	case level != "":
	case f.verbose:
		level = "info"
	default:
		level = "warn"
	}
	return newLogger(stderr, level, f.logFormat)
}

// actionJSON is one action in `plan -o json`.
type actionJSON struct {
	Kind   reconcile.ActionKind `json:"kind"`
	Store  string               `json:"store"`
	Reason string               `json:"reason"`
	Diff   string               `json:"diff,omitempty"`
}

type planJSON struct {
	Revision string             `json:"revision,omitempty"`
	Actions  []actionJSON       `json:"actions"`
	Refused  *reconcile.Refusal `json:"refused,omitempty"`
	// Held are the stores whose target cluster cannot be acted on now:
	// nothing of them is planned.
	Held []heldJSON `json:"held,omitempty"`
}

// heldJSON is a store held by its cluster in `plan -o json`.
type heldJSON struct {
	Store  string `json:"store"`
	Reason string `json:"reason"`
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f oneShotFlags
	f.register(fs)
	fs.StringVar(&f.output, "o", "text", "output `format`: text or json")
	withDiff := fs.Bool("diff", true, "show each change as a unified diff of the objects' YAML (Secret values masked)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: storeops plan --git-url PATH_OR_URL | -f FILE [-o text|json] [--diff=false]\n\n"+
			"Prints what a sync would do and, after each change, a unified diff of the YAML of the\n"+
			"objects it creates or changes (live: the cluster now; desired: after the sync).\n"+
			"Exit status: 0 no changes, 2 changes, 1 error.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := oneOf("o", f.output, "text", "json"); err != nil {
		fmt.Fprintln(stderr, "storeops plan:", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	log, err := f.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "storeops plan:", err)
		return exitUsage
	}
	actions, diffs, held, rev, err := f.plan(ctx, log, *withDiff)
	out := planJSON{Revision: rev.snap.Revision, Actions: []actionJSON{}, Held: held}
	var guard *reconcile.MassDeletionError
	switch {
	case errors.As(err, &guard):
		out.Refused = &reconcile.Refusal{Reason: "MassDeletion", Message: guard.Error()}
	case errors.Is(err, gitsource.ErrUntrusted):
		out.Refused = &reconcile.Refusal{Reason: intake.ReasonUntrustedRevision, Message: err.Error()}
	case err != nil:
		if errs := render.Errors(err); errs != nil {
			for _, e := range errs {
				fmt.Fprintln(stderr, e)
			}
		} else {
			fmt.Fprintln(stderr, "storeops plan:", err)
		}
		return exitFailed
	}
	for _, a := range actions {
		out.Actions = append(out.Actions, actionJSON{Kind: a.Kind, Store: a.Store, Reason: a.Reason, Diff: diffs[a.Store]})
	}
	if f.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else {
		printPlan(stdout, out)
	}
	switch {
	case out.Refused != nil:
		return exitFailed
	case len(out.Actions) > 0:
		return exitChanges
	}
	return exitOK
}

// plan loads the desired state, observes the cluster and plans; with
// withDiff, it also makes the manifest diff of each action, by store.
func (f *oneShotFlags) plan(ctx context.Context, log *slog.Logger, withDiff bool) ([]reconcile.Action, map[string]string, []heldJSON, revision, error) {
	rev, err := f.load(ctx, log)
	if err != nil {
		return nil, nil, nil, rev, err
	}
	e, err := f.engine.engine(ctx, log, false)
	if err != nil {
		return nil, nil, nil, rev, err
	}
	if err := e.start(ctx); err != nil {
		return nil, nil, nil, rev, err
	}
	e.awaitClusters(ctx, clusterWait)
	e.leaseMoves(ctx)
	policy := e.rec.Policy
	policy.Now = time.Now()
	policy.ChartVersions = e.rec.ChartVersions
	policy.ConfirmDeletions = confirmsDeletions(rev.snap, f.engine.confirm) || confirmsDeletions(rev.snap, e.leaseConfirmation(ctx))
	policy.Instance = e.rec.Instance
	desired, observed := e.rec.Render(rev.cfg), e.clusters.Observe()
	var held []heldJSON
	for i := range desired {
		d := &desired[i]
		if why := reconcile.HeldReason(d, observed.Stores[d.Store.Name], policy.Clusters); why != "" && !d.Store.Suspend {
			held = append(held, heldJSON{Store: d.Store.Name, Reason: why})
		}
	}
	actions, err := reconcile.Plan(desired, observed, policy)
	if err != nil || !withDiff {
		return actions, nil, held, rev, err
	}
	return actions, e.clusterDiffs(ctx, actions), held, rev, nil
}

var actionSigns = map[reconcile.ActionKind]string{
	reconcile.ActInstall: "+", reconcile.ActDelete: "-",
}

func printPlan(w io.Writer, p planJSON) {
	if p.Revision != "" {
		fmt.Fprintf(w, "revision %s\n", short(p.Revision))
	}
	if p.Refused != nil {
		fmt.Fprintf(w, "REFUSED: %s\n", p.Refused.Message)
		return
	}
	for _, h := range p.Held {
		fmt.Fprintf(w, "= %s %s\n", h.Store, h.Reason)
	}
	if len(p.Actions) == 0 {
		if len(p.Held) > 0 {
			fmt.Fprintf(w, "No changes to the other stores; %d held.\n", len(p.Held))
			return
		}
		fmt.Fprintln(w, "No changes: the cluster matches stores.yaml.")
		return
	}
	for _, a := range p.Actions {
		sign := actionSigns[a.Kind]
		if sign == "" {
			sign = "~"
		}
		fmt.Fprintf(w, "%s %s %s: %s\n", sign, a.Kind, a.Store, a.Reason)
		io.WriteString(w, a.Diff)
	}
	fmt.Fprintf(w, "%d change(s).\n", len(p.Actions))
}

func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f oneShotFlags
	f.register(fs)
	once := fs.Bool("once", false, "apply one sync and exit (required; `storeops serve` runs continuously)")
	wait := fs.Bool("wait", true, "wait until every declared store is Ready or Failed")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: storeops sync --once --git-url PATH_OR_URL | -f FILE\n\nApplies one sync. Exit status: 0 all stores applied (and Ready with --wait), 1 otherwise.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if !*once {
		fmt.Fprintln(stderr, "storeops sync: only --once is supported; use `storeops serve` to keep syncing")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	log, err := f.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "storeops sync:", err)
		return exitUsage
	}
	rev, err := f.load(ctx, log)
	if err != nil {
		for _, e := range render.Errors(err) {
			fmt.Fprintln(stderr, e)
		}
		if render.Errors(err) == nil {
			fmt.Fprintln(stderr, "storeops sync:", err)
		}
		return exitFailed
	}
	e, err := f.engine.engine(ctx, log, true)
	if err == nil {
		err = e.start(ctx)
	}
	if err == nil {
		e.awaitClusters(ctx, clusterWait)
		e.leaseMoves(ctx)
	}
	if err != nil {
		fmt.Fprintln(stderr, "storeops sync:", err)
		return exitFailed
	}
	// One applier at a time: run under the leader Lease, or not at all.
	leaseCtx, release, err := e.takeLease(ctx, log)
	if err != nil {
		fmt.Fprintln(stderr, "storeops sync:", err)
		return exitFailed
	}
	defer release()
	ctx = leaseCtx
	e.rec.SetLeader(true)
	defer e.rec.SetLeader(false) // before the Lease goes: no readiness marks after it
	rec, err := e.rec.Sync(ctx, reconcile.SyncInput{Config: rev.cfg, Revision: rev.snap.Revision, Trigger: "sync --once",
		ConfirmDeletions: confirmsDeletions(rev.snap, f.engine.confirm) || confirmsDeletions(rev.snap, e.leaseConfirmation(ctx))})
	for _, a := range rec.Actions {
		status := "ok"
		if a.Error != "" {
			status = "FAILED: " + a.Error
		}
		fmt.Fprintf(stdout, "%s %s: %s (%s)\n", a.Kind, a.Store, status, a.Duration.Round(time.Millisecond))
	}
	if err != nil {
		fmt.Fprintln(stderr, "storeops sync:", err)
		return exitFailed
	}
	if !*wait {
		return exitOK
	}
	return waitSettled(ctx, e.board, stdout, stderr)
}

// waitSettled waits until every declared, active store is Ready, or one
// is Failed, or ctx ends.
func waitSettled(ctx context.Context, board *reconcile.Board, stdout, stderr io.Writer) int {
	ch, cancel := board.Subscribe()
	defer cancel()
	for {
		pending, failed := 0, []string{}
		snap := board.Current()
		for _, s := range snap.Stores {
			switch {
			case !s.Declared || s.Phase == reconcile.PhaseSuspended || s.Phase == reconcile.PhaseReady:
			case s.Phase == reconcile.PhaseFailed || s.Phase == reconcile.PhaseBlocked:
				failed = append(failed, s.Name+": "+s.Message)
			default:
				pending++
			}
		}
		if len(failed) > 0 {
			fmt.Fprintln(stderr, "failed stores:\n  "+strings.Join(failed, "\n  "))
			return exitFailed
		}
		if pending == 0 {
			fmt.Fprintf(stdout, "%d stores ready.\n", len(snap.Stores))
			return exitOK
		}
		select {
		case <-ch:
		case <-ctx.Done():
			fmt.Fprintf(stderr, "storeops sync: %d stores not ready: %v\n", pending, ctx.Err())
			return exitFailed
		}
	}
}
