package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/metrics"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
)

var (
	hookSecret = []byte("s3cret-webhook-value")
	hookSHA    = "0123456789abcdef0123456789abcdef01234567"
	t0         = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// fixture is a snapshot with three stores and two syncs.
func fixture() *reconcile.Snapshot {
	cond := []reconcile.Condition{{Type: reconcile.CondReady, Status: true, Reason: "WorkloadsReady", LastTransition: t0}}
	return &reconcile.Snapshot{
		Revision: "abc123", Source: "https://git.example.com/shops.git#main:stores.yaml",
		Leader: true, Generated: t0,
		Stores: []reconcile.StoreStatus{
			{Name: "alpha", Type: "woocommerce", Plan: "small", Domain: "alpha.example.com", Namespace: "store-alpha",
				Declared: true, Phase: reconcile.PhaseReady, Conditions: cond,
				Workloads: []reconcile.Workload{{Kind: "Deployment", Name: "wordpress", Ready: true}}},
			{Name: "beta", Type: "medusa", Plan: "medium", Domain: "beta.example.com", Namespace: "store-beta",
				Declared: true, Phase: reconcile.PhaseReady},
			{Name: "gamma", Type: "medusa", Plan: "small", Domain: "gamma.example.com", Namespace: "store-gamma",
				Declared: true, Phase: reconcile.PhaseFailed, LastError: "install: timed out"},
		},
		History: []reconcile.SyncRecord{
			{Revision: "abc123", Trigger: "cron", Start: t0.Add(-time.Minute), Duration: 2 * time.Second, Summary: map[string]int{}},
			{Revision: "abc122", Trigger: "webhook github " + hookSHA, Start: t0.Add(-time.Hour), Duration: time.Second, Summary: map[string]int{"install": 1}},
		},
		Refused: &reconcile.Refusal{Reason: "InvalidConfig", Message: "stores.yaml is invalid",
			Errors: []string{"stores.yaml:14:11: stores[2].name: \"Bad\" is not a DNS label"}},
	}
}

func fixtureBoard() *reconcile.Board {
	b := reconcile.NewBoard()
	b.Publish(fixture())
	return b
}

// triggers records the calls of Config.Trigger.
type triggers struct {
	mu      sync.Mutex
	reasons []string
}

func (tr *triggers) trigger(reason string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.reasons = append(tr.reasons, reason)
}

func (tr *triggers) got() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.reasons...)
}

// fakeCluster is a ClusterReader of function fields; nil fields fail the
// test when called.
type fakeCluster struct {
	t          *testing.T
	PodsFn     func(ctx context.Context, namespace string) ([]web.Pod, error)
	EventsFn   func(ctx context.Context, namespace string, limit int) ([]web.Event, error)
	QuotaFn    func(ctx context.Context, namespace string) ([]web.QuotaUsage, error)
	namespaces []string
	mu         sync.Mutex
}

var _ web.ClusterReader = (*fakeCluster)(nil)

func (f *fakeCluster) record(ns string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.namespaces = append(f.namespaces, ns)
}

func (f *fakeCluster) Pods(ctx context.Context, ns string) ([]web.Pod, error) {
	f.record(ns)
	if f.PodsFn == nil {
		f.t.Error("unexpected Pods call")
		return nil, nil
	}
	return f.PodsFn(ctx, ns)
}

func (f *fakeCluster) Events(ctx context.Context, ns string, limit int) ([]web.Event, error) {
	f.record(ns)
	if f.EventsFn == nil {
		f.t.Error("unexpected Events call")
		return nil, nil
	}
	return f.EventsFn(ctx, ns, limit)
}

func (f *fakeCluster) QuotaUsage(ctx context.Context, ns string) ([]web.QuotaUsage, error) {
	f.record(ns)
	if f.QuotaFn == nil {
		f.t.Error("unexpected QuotaUsage call")
		return nil, nil
	}
	return f.QuotaFn(ctx, ns)
}

// env is a running server over real HTTP.
type env struct {
	t       *testing.T
	srv     *httptest.Server
	board   *reconcile.Board
	trig    *triggers
	metrics *metrics.Metrics
	server  *web.Server
}

// start serves a Server built from cfg, with the fixture board, a
// trigger recorder, metrics and every webhook provider enabled unless
// cfg sets them.
func start(t *testing.T, edit func(*web.Config)) *env {
	t.Helper()
	e := &env{t: t, board: reconcile.NewBoard(), trig: &triggers{}, metrics: metrics.New()}
	e.board.Publish(fixture())
	e.metrics.WatchBoard(e.board)
	cfg := web.Config{
		Board: e.board, Trigger: e.trig.trigger, Branch: "main", Metrics: e.metrics,
		Webhooks: []web.Webhook{
			{Provider: gitsource.GitHub, Secret: hookSecret}, {Provider: gitsource.GitLab, Secret: hookSecret},
			{Provider: gitsource.Gitea, Secret: hookSecret}, {Provider: gitsource.Generic, Secret: hookSecret},
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.server = s
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   string
}

// decode unmarshals the body into v.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// errorMessage returns the "error" field of a JSON error body.
func (r response) errorMessage(t *testing.T) string {
	t.Helper()
	var b struct {
		Error string `json:"error"`
	}
	r.decode(t, &b)
	if b.Error == "" {
		t.Errorf("no error message in %q", r.body)
	}
	return b.Error
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(body)}
}

func (e *env) get(path string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(req)
}

func (e *env) send(method, path, body string, header http.Header) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return e.do(req)
}

// wantJSON checks status and content type of r.
func wantJSON(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if !json.Valid([]byte(r.body)) {
		t.Errorf("body is not JSON: %q", r.body)
	}
}
