package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/intake"
	"github.com/storeops/storeops/internal/commitstatus"
	"github.com/storeops/storeops/internal/metrics"
	"github.com/storeops/storeops/internal/preview"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
	"k8s.io/klog/v2"
)

// EnvWebhookSecret holds the deprecated shared webhook secret when no
// file is given; each provider's own is gitsource.EnvWebhookSecretFor.
const EnvWebhookSecret = gitsource.EnvWebhookSecret

// serveConfig is everything `storeops serve` is told on its command line.
type serveConfig struct {
	source    sourceFlags
	engine    engineFlags
	dashboard dashboardFlags
	status    statusFlags
	listen    string
	schedule  string
	history   int

	webhooks           string
	webhookSecretFile  string
	webhookSecretFiles map[gitsource.Provider]*string

	leaderElect bool
	shards      int

	pprofListen string

	logLevel, logFormat string
}

func (c *serveConfig) register(fs *flag.FlagSet) {
	c.source.register(fs)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address of the status API, dashboard, webhooks and metrics")
	fs.StringVar(&c.schedule, "schedule", "@every 1m", "cron schedule of periodic syncs (robfig/cron syntax, e.g. \"*/5 * * * *\")")
	c.engine.register(fs)
	c.dashboard.register(fs)
	c.status.register(fs)
	fs.IntVar(&c.history, "history", 50, "syncs kept in the status")
	c.webhookSecretFiles = map[gitsource.Provider]*string{}
	for _, p := range gitsource.Providers {
		c.webhookSecretFiles[p] = fs.String("webhook-secret-"+string(p)+"-file", "", "file holding the secret of the "+string(p)+" webhook (or $"+gitsource.EnvWebhookSecretFor(p)+"); enables /hooks/"+string(p))
	}
	fs.StringVar(&c.webhooks, "webhooks", "", "webhook receivers to enable, at /hooks/<provider> (default: every provider with a secret)")
	fs.StringVar(&c.webhookSecretFile, "webhook-secret-file", "", "deprecated: one secret (or $"+EnvWebhookSecret+") for the receivers --webhooks names that have none of their own")
	fs.BoolVar(&c.leaderElect, "leader-elect", true, "elect a leader with a Lease so that only one replica applies")
	fs.IntVar(&c.shards, "shards", 0, "split the stores between the replicas in this many shards: every replica applies the stores of the shards it holds (one Lease a shard); 0: the leader applies every store; every replica must have the same value")
	fs.StringVar(&c.pprofListen, "pprof-listen", "", "loopback address serving Go's runtime profiles at /debug/pprof/ (default: none)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func runServe(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg serveConfig
	cfg.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: storeops serve --git-url URL [flags]\n\nRuns the reconciler: syncs on a schedule and on webhooks, serves the status API, dashboard and metrics.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	log, err := newLogger(stderr, cfg.logLevel, cfg.logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "storeops serve:", err)
		return exitUsage
	}
	d, err := newDaemon(cfg, log)
	if err != nil {
		log.Error("cannot start", "error", err)
		return exitFailed
	}
	if err := d.run(ctx); err != nil {
		log.Error("stopped", "error", err)
		return exitFailed
	}
	return exitOK
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	var log *slog.Logger
	switch format {
	case "text":
		log = slog.New(slog.NewTextHandler(w, opts))
	case "json":
		log = slog.New(slog.NewJSONHandler(w, opts))
	default:
		return nil, fmt.Errorf("-log-format must be text or json, not %q", format)
	}
	// client-go's own lines (klog) go through the same handler: JSON
	// stays JSON.
	klog.SetSlogLogger(log)
	return log, nil
}

// daemon is storeops serve: one Git source, one reconciler, one web server.
type daemon struct {
	*engine
	cfg     serveConfig
	log     *slog.Logger
	src     *gitsource.Source
	metrics *metrics.Metrics
	web     *web.Server

	wake      *reconcile.Signal // a sync is wanted
	reason    atomic.Pointer[string]
	leading   atomic.Pointer[context.Context] // set while leading; cancelled on loss
	confirmed atomic.Pointer[string]          // revision confirmed with storeops confirm-deletions
	ready     atomic.Bool
	serveCtx  context.Context // ends when serve stops
	workers   sync.WaitGroup  // the reconciler's workers, while leading
	intake    *intake.Intake  // fetch, validate, hold the last good revision, hand it over

	status      *commitstatus.Reporter // commit statuses on the forge; nil: none
	preview     *preview.Previewer     // plan previews on pull requests; nil: none
	previewWake chan struct{}
}

func newDaemon(cfg serveConfig, log *slog.Logger) (*daemon, error) {
	d := &daemon{cfg: cfg, log: log, wake: reconcile.NewSignal(), metrics: metrics.New()}
	var err error
	if d.src, err = cfg.source.source(log); err != nil {
		return nil, err
	}
	verify, err := cfg.source.verifier(log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cfg.shards < 0 {
		return nil, errors.New("-shards must not be negative")
	}
	if cfg.shards > 0 && !cfg.leaderElect {
		// The leader Lease keeps sync --once out and picks the replica
		// that posts commit statuses and previews.
		return nil, errors.New("-shards needs -leader-elect")
	}
	cfg.engine.shards = cfg.shards
	d.cfg.engine.shards = cfg.shards
	if d.engine, err = cfg.engine.engine(ctx, log, true); err != nil {
		return nil, err
	}
	d.rec.HistoryLimit = cfg.history
	d.rec.Source = cfg.source.describe()
	d.rec.Metrics = d.metrics
	d.metrics.WatchBoard(d.board)
	d.intake = intake.New(intake.Config{
		Source:   d.src,
		Target:   reconcilerTarget{d.rec},
		Describe: cfg.source.describe(),
		Limits:   cfg.source.limits,
		Verify:   verify,
		Log:      log,
		Hooks: intake.Hooks{
			Leading: func() context.Context {
				if d.shard != nil {
					return d.serveCtx // every replica acts on its shards
				}
				if p := d.leading.Load(); p != nil {
					return *p
				}
				return nil
			},
			ConfirmsDeletions: func(rev string) bool {
				snap := gitsource.Snapshot{Revision: rev}
				return confirmsDeletions(snap, d.cfg.engine.confirm) || confirmsDeletions(snap, d.confirmedRevision())
			},
			Fetched: d.metrics.ObserveFetch,
			Refused: d.statusRefused,
			Picked:  d.statusPicked,
			Applied: d.applied,
		},
	})
	if d.status, err = cfg.status.reporter(cfg.dashboard, d.board, log); err != nil {
		return nil, fmt.Errorf("commit status: %w", err)
	}
	if d.preview, err = d.previewer(cfg.dashboard, log); err != nil {
		return nil, fmt.Errorf("plan previews: %w", err)
	}

	hooks, err := cfg.webhookConfig(log)
	if err != nil {
		return nil, err
	}
	cluster := clusterReader{e: d.engine, local: web.NewClusterReader(d.client)}
	dash, err := cfg.dashboard.build(d.engine, cfg.source, cluster, log)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	if dash != nil && d.preview != nil {
		dash.SetPreviews(d.preview.Previews)
	}
	var guard func(http.Handler) http.Handler
	if dash != nil {
		guard = dash.GuardAPI
	}
	d.web, err = web.New(web.Config{
		Board:       d.board,
		Trigger:     d.webTrigger,
		PullRequest: d.pullRequestHook(),
		Branch:      cfg.source.branch,
		Webhooks:    hooks,
		Cluster:     cluster,
		Metrics:     d.metrics,
		Logger:      log,
		APIGuard:    guard,
		Ready: func() error {
			if !d.ready.Load() {
				return errors.New("caches not synced or first sync not done yet")
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	if dash != nil {
		d.web.Router().Mount("/", dash)
	}
	return d, nil
}

// webhookConfig enables the receivers that have a secret (see
// gitsource.WebhookSecrets) and logs its warnings.
func (c *serveConfig) webhookConfig(log *slog.Logger) ([]web.Webhook, error) {
	files := map[gitsource.Provider]string{}
	for p, f := range c.webhookSecretFiles {
		files[p] = *f
	}
	secrets, warnings, err := gitsource.WebhookSecrets(gitsource.WebhookConfig{
		Files: files, SharedFile: c.webhookSecretFile, Enabled: c.webhooks}, nil)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	var out []web.Webhook
	for _, p := range gitsource.Providers {
		if secrets[p] != nil {
			out = append(out, web.Webhook{Provider: p, Secret: secrets[p]})
		}
	}
	return out, nil
}

// trigger asks for a sync. Triggers coalesce: a sync in progress plus at
// most one pending.
func (d *daemon) trigger(reason string) {
	d.reason.Store(&reason)
	d.wake.Notify()
}

// run serves until ctx is cancelled, then shuts down gracefully.
func (d *daemon) run(ctx context.Context) error {
	d.serveCtx = ctx
	if err := servePprof(ctx, d.cfg.pprofListen, d.log); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", d.cfg.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := d.web.HTTPServer(d.cfg.listen)
	// Requests live under a context cancelled at shutdown, so that live
	// update streams end instead of holding Shutdown until its deadline.
	reqCtx, endRequests := context.WithCancel(context.Background())
	srv.BaseContext = func(net.Listener) context.Context { return reqCtx }
	srv.RegisterOnShutdown(endRequests)
	defer endRequests()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server", "error", err)
		}
	}()
	d.log.Info("serving", "address", "http://"+ln.Addr().String(), "source", d.cfg.source.describe())

	if err := d.start(ctx); err != nil {
		_ = shutdown(srv, &wg)
		return err
	}
	d.runStatus(ctx)

	sched := cron.New()
	if _, err := sched.AddFunc(d.cfg.schedule, func() { d.trigger("schedule") }); err != nil {
		_ = shutdown(srv, &wg)
		return fmt.Errorf("-schedule %q: %w", d.cfg.schedule, err)
	}
	sched.Start()
	defer sched.Stop()

	// The Lease outlives ctx until the loop below has stopped applying:
	// it is given back only then.
	electCtx, endElection := context.WithCancel(context.WithoutCancel(ctx))
	defer endElection()
	if d.shard != nil {
		d.startShards(ctx) // --shards needs --leader-elect: the sync Lease is watched below
		d.warm()           // its writes wait for shards; its reads do not
	}
	if d.cfg.leaderElect || d.flags.clusters {
		// Confirmations (moves between clusters among them) and, with
		// leader election, the syncs other replicas forward.
		go d.watchSyncRequests(ctx)
	}
	if d.cfg.leaderElect {
		wg.Add(1)
		go func() { defer wg.Done(); d.elect(electCtx) }()
	} else {
		d.lead(ctx)
	}
	d.trigger("start")
	for {
		select {
		case <-ctx.Done():
			d.log.Info("shutting down")
			d.follow()
			endElection()
			return shutdown(srv, &wg)
		case <-d.wake.C():
			reason := "trigger"
			if r := d.reason.Load(); r != nil {
				reason = *r
			}
			d.syncOnce(ctx, reason)
			d.ready.Store(true)
		}
	}
}

func shutdown(srv *http.Server, wg *sync.WaitGroup) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	wg.Wait()
	return err
}

// lead marks this replica as the one that applies, until ctx ends.
// lead starts the reconciler's workers until ctx ends (the Lease is lost)
// or serve stops.
func (d *daemon) lead(ctx context.Context) {
	d.fence.Hold(ctx)
	d.leading.Store(&ctx)
	d.rec.SetLeader(true)
	if d.shard != nil { // the workers run on every replica (startShards)
		d.log.Info("leading: this replica posts commit statuses and plan previews")
		d.trigger("leader elected")
		return
	}
	d.log.Info("leading: this replica applies changes")
	d.warm()
	work, stop := context.WithCancel(ctx)
	unhook := context.AfterFunc(d.serveCtx, stop)
	d.workers.Add(1)
	go func() {
		defer d.workers.Done()
		defer unhook()
		defer stop()
		d.rec.Run(work)
	}()
	d.trigger("leader elected")
}

// warm has the local cluster's applier ask, in the background, what its
// first installs would otherwise wait for (ClusterApplier.Warm).
func (d *daemon) warm() {
	if a, ok := d.local.Applier.(*reconcile.ClusterApplier); ok {
		go a.Warm()
	}
}

// follow stops applying: the fence closes, and it returns once the workers
// have stopped, so that the Lease is given back only then.
func (d *daemon) follow() {
	d.fence.Close()
	d.leading.Store(nil)
	if d.shard != nil && d.serveCtx.Err() == nil {
		d.rec.SetLeader(false) // the workers go on with this replica's shards
		return
	}
	d.workers.Wait()
	d.rec.SetLeader(false)
}

// syncOnce fetches the branch, validates stores.yaml and, when leading,
// applies the newest good revision; otherwise it only shows it.
func (d *daemon) syncOnce(ctx context.Context, trigger string) {
	d.intake.Sync(ctx, trigger)
}

// reconcilerTarget is where the intake hands revisions: the reconciler.
type reconcilerTarget struct{ *reconcile.Reconciler }

// Apply queues the revision's work and returns: the workers Run started
// on becoming the leader act on it.
func (t reconcilerTarget) Apply(_ context.Context, in reconcile.SyncInput) (reconcile.SyncRecord, error) {
	return t.Accept(in)
}

// applied follows the intake of a revision: commit status and previews,
// and the log. The workers act on its stores from now on; backoff and
// readiness deadlines queue each store again on time.
func (d *daemon) applied(rec reconcile.SyncRecord, err error) {
	d.afterSync(rec)
	if err != nil {
		d.log.Warn("revision refused", "revision", short(rec.Revision), "error", err)
	}
}
