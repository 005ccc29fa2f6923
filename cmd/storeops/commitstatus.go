package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/storeops/storeops/forge"
	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/commitstatus"
	"github.com/storeops/storeops/internal/preview"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

// statusFlags configure what storeops says on the forge of --forge (the
// dashboard flags): the commit status of the revisions it applies and
// the plan previews on pull requests.
type statusFlags struct {
	enabled         bool
	dashboardURL    string
	preview         bool
	previewInterval time.Duration
}

func (f *statusFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.enabled, "commit-status", true, "with --forge: set the commit status "+commitstatus.Context+" on each revision storeops picks up (pending, success when every store is Ready, failure with the failing stores or why the revision was refused)")
	fs.BoolVar(&f.preview, "pr-preview", true, "with --forge: comment on each open pull request changing stores.yaml what merging it would do (one comment, edited in place)")
	fs.DurationVar(&f.previewInterval, "pr-preview-interval", 2*time.Minute, "how often open pull requests are scanned for plan previews (also after each sync)")
	fs.StringVar(&f.dashboardURL, "dashboard-url", "", "public URL of the dashboard, e.g. https://storeops.example.com: commit statuses link to its sync page")
}

// reporter builds the commit status reporter, or nil without --forge or
// with --commit-status=false.
func (f *statusFlags) reporter(dash dashboardFlags, board *reconcile.Board, log *slog.Logger) (*commitstatus.Reporter, error) {
	if !f.enabled || dash.forgeKind == "" {
		return nil, nil
	}
	// Credentials in these URLs would be logged, and the dashboard's
	// published in every commit status.
	if err := checkURLFlag("forge-url", dash.forgeURL); err != nil {
		return nil, err
	}
	if err := checkURLFlag("dashboard-url", f.dashboardURL); err != nil {
		return nil, err
	}
	token, err := forge.TokenFromEnvAndFile(dash.forgeTokenFile, nil)
	if err != nil {
		return nil, err
	}
	fg, err := forge.New(forge.Config{Kind: dash.forgeKind, BaseURL: dash.forgeURL, Repo: dash.forgeRepo, Token: token})
	if err != nil {
		return nil, err
	}
	setter, ok := forge.Statuses(fg)
	if !ok {
		return nil, errors.New("the forge client sets no commit status")
	}
	r := commitstatus.New(setter, board, log)
	if f.dashboardURL != "" {
		u, err := url.Parse(f.dashboardURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("-dashboard-url: want http(s)://host[/path]")
		}
		r.TargetURL = strings.TrimSuffix(f.dashboardURL, "/") + "/sync"
	}
	return r, nil
}

// The daemon's hooks: only the leader reports, once per change.

func (d *daemon) statusPicked(revision string) {
	if d.status != nil {
		d.status.Picked(revision)
	}
}

func (d *daemon) statusRefused(revision string, refusal *reconcile.Refusal) {
	if d.status != nil && d.leading.Load() != nil {
		d.status.Refused(revision, refusal)
	}
}

// afterSync reports a sync: the commit status, and a new scan of the
// plan previews (the cluster changed).
func (d *daemon) afterSync(rec reconcile.SyncRecord) {
	if d.status != nil && (d.shard == nil || d.leading.Load() != nil) { // sharded: the leader reports for all
		d.status.Synced(rec)
	}
	if d.preview != nil {
		select {
		case d.previewWake <- struct{}{}:
		default:
		}
	}
}

// pullRequestHook is web.Config.PullRequest: a signed pull request event
// rescans the plan previews at once. Nil without previews.
func (d *daemon) pullRequestHook() func() {
	if d.preview == nil {
		return nil
	}
	return func() {
		select {
		case d.previewWake <- struct{}{}:
		default:
		}
	}
}

// runStatus posts commit statuses and plan previews until ctx ends.
func (d *daemon) runStatus(ctx context.Context) {
	if d.status != nil {
		go d.status.Run(ctx)
	}
	if d.preview != nil {
		go d.preview.Run(ctx, d.cfg.status.previewInterval, d.previewWake, func() bool { return d.leading.Load() != nil })
	}
}

// previewer builds the plan previews of pull requests, or nil without
// --forge or with --pr-preview=false. Plans are made against the live
// cluster from the informers' caches, as `storeops plan` does.
func (d *daemon) previewer(dash dashboardFlags, log *slog.Logger) (*preview.Previewer, error) {
	f := d.cfg.status
	if !f.preview || dash.forgeKind == "" {
		return nil, nil
	}
	token, err := forge.TokenFromEnvAndFile(dash.forgeTokenFile, nil)
	if err != nil {
		return nil, err
	}
	fg, err := forge.New(forge.Config{Kind: dash.forgeKind, BaseURL: dash.forgeURL, Repo: dash.forgeRepo, Token: token})
	if err != nil {
		return nil, err
	}
	comments, ok := forge.Comments(fg)
	if !ok {
		return nil, errors.New("the forge client cannot comment")
	}
	d.previewWake = make(chan struct{}, 1)
	return preview.New(preview.Config{
		Forge: fg, Comments: comments, Git: d.src.Config(), Limits: d.cfg.source.limits,
		Log: log.With("component", "preview"),
		Plan: func(cfg *render.Config, snap gitsource.Snapshot) ([]reconcile.Action, error) {
			policy := d.rec.Policy
			policy.Now = time.Now()
			policy.ChartVersions = d.rec.ChartVersions
			policy.ConfirmDeletions = confirmsDeletions(snap, "")
			policy.Instance = d.rec.Instance
			return reconcile.Plan(d.rec.Render(cfg), d.clusters.Observe(), policy)
		},
	}), nil
}
