// Package metrics holds the Prometheus metrics of storeops: sync and action
// outcomes, Git fetches, webhooks, and the stores by phase read from the
// status board at scrape time.
//
// Every method is safe on a nil *Metrics and then does nothing, so code
// and tests that do not care about metrics may pass nil.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/storeops/storeops/internal/version"
	"github.com/storeops/storeops/reconcile"
)

// Namespace prefixes every metric name.
const Namespace = "storeops"

// Phases lists the store phases the storeops_stores gauge always reports,
// with 0 when no store is in them, so that queries and alerts see a series
// for each.
var Phases = reconcile.Phases

// Metrics records storeops' metrics into its own registry, which also
// holds the Go runtime and process collectors. Create it with New.
type Metrics struct {
	reg          *prometheus.Registry
	syncDuration *prometheus.HistogramVec
	actions      *prometheus.CounterVec
	fetch        prometheus.Histogram
	fetchErrors  prometheus.Counter
	webhooks     *prometheus.CounterVec
	lastSuccess  *prometheus.GaugeVec
	board        *boardCollector
	// Now is the clock of the last-success timestamp; tests may replace it.
	Now func() time.Time
}

// New returns Metrics with every metric registered.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace,
			Name:      "sync_duration_seconds",
			Help:      "Duration of syncs, by result (success, failed, refused, noop).",
			Buckets:   []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"result"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "actions_total",
			Help:      "Actions applied to stores, by kind (install, upgrade, uninstall...) and result.",
		}, []string{"kind", "result"}),
		fetch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace,
			Name:      "git_fetch_duration_seconds",
			Help:      "Duration of Git fetches of stores.yaml, failed ones included.",
			Buckets:   []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "git_fetch_errors_total",
			Help:      "Git fetches of stores.yaml that failed.",
		}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "webhooks_total",
			Help:      "Webhook requests, by provider and result (accepted, ignored, replayed, unauthorized, bad_request, too_large, method_not_allowed, not_found, error).",
		}, []string{"provider", "result"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "last_successful_sync_timestamp_seconds",
			Help:      "When the last sync that applied its revision without error ended (Unix time); absent until one did on this replica.",
		}, nil),
		board: newBoardCollector(),
		Now:   time.Now,
	}
	build := version.Get()
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "build_info",
		Help:      "Always 1; the labels describe the running binary.",
	}, []string{"version", "revision", "goversion"})
	buildInfo.WithLabelValues(build.Version, build.Revision, build.GoVersion).Set(1)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.syncDuration, m.actions, m.fetch, m.fetchErrors, m.webhooks, m.board,
		m.lastSuccess, buildInfo,
	)
	return m
}

// Registry returns the registry holding every storeops metric, to serve
// with promhttp.HandlerFor. It is nil for a nil *Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// ObserveSync records one sync that took d and ended with result.
func (m *Metrics) ObserveSync(d time.Duration, result string) {
	if m == nil {
		return
	}
	m.syncDuration.WithLabelValues(result).Observe(d.Seconds())
	if result == SyncOK {
		m.lastSuccess.WithLabelValues().Set(float64(m.Now().UnixNano()) / 1e9)
	}
}

// SyncOK is the result of a sync that applied its revision without error
// (the Reconciler's; the others are "error" and "refused").
const SyncOK = "ok"

// ObserveAction counts one action of kind that ended with result.
func (m *Metrics) ObserveAction(kind, result string) {
	if m == nil {
		return
	}
	m.actions.WithLabelValues(kind, result).Inc()
}

// ObserveFetch records one Git fetch that took d and failed with err (nil
// for success).
func (m *Metrics) ObserveFetch(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.fetch.Observe(d.Seconds())
	if err != nil {
		m.fetchErrors.Inc()
	}
}

// ObserveWebhook counts one webhook request. Pass only known provider
// names, never text from the request, to keep the label set bounded.
func (m *Metrics) ObserveWebhook(provider, result string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(provider, result).Inc()
}

// WatchBoard makes the storeops_stores{phase}, storeops_leader,
// storeops_syncing and storeops_refused gauges read b's current snapshot
// at each scrape. A later call replaces the board; before the first call
// those gauges are not reported.
func (m *Metrics) WatchBoard(b *reconcile.Board) {
	if m == nil {
		return
	}
	m.board.set(b)
}

// boardCollector reports gauges computed from a status board at scrape
// time, so that they are never stale.
type boardCollector struct {
	mu      sync.Mutex
	board   *reconcile.Board
	stores  *prometheus.Desc
	leader  *prometheus.Desc
	syncing *prometheus.Desc
	refused *prometheus.Desc
	info    *prometheus.Desc
}

func newBoardCollector() *boardCollector {
	return &boardCollector{
		stores: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "stores"),
			"Stores by phase, as last published.", []string{"phase"}, nil),
		leader: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "leader"),
			"1 when this replica is the leader and applies changes.", nil, nil),
		syncing: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "syncing"),
			"1 while a sync runs.", nil, nil),
		refused: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "refused"),
			"1 while the newest revision is refused (invalid stores.yaml, mass-deletion guard, source unavailable).", nil, nil),
		info: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "store_info"),
			"Always 1, one series per store, as last published; the labels say what it is and where it stands.",
			[]string{"store", "type", "plan", "phase"}, nil),
	}
}

func (c *boardCollector) set(b *reconcile.Board) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.board = b
}

// Describe implements prometheus.Collector.
func (c *boardCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.stores
	ch <- c.leader
	ch <- c.syncing
	ch <- c.refused
	ch <- c.info
}

// Collect implements prometheus.Collector.
func (c *boardCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	b := c.board
	c.mu.Unlock()
	if b == nil {
		return
	}
	s := b.Current()
	counts := make(map[reconcile.Phase]int, len(Phases))
	for _, p := range Phases {
		counts[p] = 0
	}
	for _, st := range s.Stores {
		counts[st.Phase]++
		ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, st.Name, st.Type, st.Plan, string(st.Phase))
	}
	for p, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.stores, prometheus.GaugeValue, float64(n), string(p))
	}
	ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, boolValue(s.Leader))
	ch <- prometheus.MustNewConstMetric(c.syncing, prometheus.GaugeValue, boolValue(s.Syncing))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.GaugeValue, boolValue(s.Refused != nil))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
