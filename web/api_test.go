package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
)

func storeNames(t *testing.T, r response) []string {
	t.Helper()
	var list web.StoreList
	r.decode(t, &list)
	names := []string{}
	for _, s := range list.Stores {
		names = append(names, s.Name)
	}
	return names
}

func TestListStores(t *testing.T) {
	e := start(t, nil)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"alpha", "beta", "gamma"}},
		{"?phase=Ready", []string{"alpha", "beta"}},
		{"?phase=ready&type=medusa", []string{"beta"}},
		{"?type=medusa", []string{"beta", "gamma"}},
		{"?phase=Failed&phase=Ready&type=woocommerce", []string{"alpha"}},
		{"?phase=Deleting", []string{}},
	} {
		r := e.get("/api/v1/stores" + tc.query)
		wantJSON(t, r, http.StatusOK)
		if diff := cmp.Diff(tc.want, storeNames(t, r)); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.query, diff)
		}
	}
	for _, q := range []string{"?phase=Bogus", "?type=shopify", "?phase=%3Cscript%3E"} {
		r := e.get("/api/v1/stores" + q)
		wantJSON(t, r, http.StatusBadRequest)
		if strings.Contains(r.body, "<") {
			t.Errorf("%s: unescaped HTML in %s", q, r.body)
		}
	}
	var list web.StoreList
	e.get("/api/v1/stores").decode(t, &list)
	if list.Revision != "abc123" || !list.Generated.Equal(t0) {
		t.Errorf("revision %q generated %v", list.Revision, list.Generated)
	}
}

func TestListStoresEmptyBoard(t *testing.T) {
	e := start(t, nil)
	e.board.Publish(&reconcile.Snapshot{})
	r := e.get("/api/v1/stores")
	wantJSON(t, r, http.StatusOK)
	if !strings.Contains(r.body, `"stores":[]`) {
		t.Errorf("empty list is not []: %s", r.body)
	}
}

func TestGetStore(t *testing.T) {
	e := start(t, nil)
	r := e.get("/api/v1/stores/alpha")
	wantJSON(t, r, http.StatusOK)
	var got reconcile.StoreStatus
	r.decode(t, &got)
	if diff := cmp.Diff(fixture().Stores[0], got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Nil lists are sent as [].
	r = e.get("/api/v1/stores/beta")
	if !strings.Contains(r.body, `"conditions":[]`) || !strings.Contains(r.body, `"workloads":[]`) {
		t.Errorf("nil lists not sent as []: %s", r.body)
	}

	r = e.get("/api/v1/stores/nope")
	wantJSON(t, r, http.StatusNotFound)
	if msg := r.errorMessage(t); !strings.Contains(msg, "nope") {
		t.Errorf("404 message %q does not name the store", msg)
	}
}

func TestGetStoreRejectsBadNames(t *testing.T) {
	e := start(t, nil)
	for _, name := range []string{
		"Alpha", "under_score", "-dash", "a.b", strings.Repeat("a", 64),
		"<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`, "a b", "é",
	} {
		for _, sub := range []string{"", "/pods", "/events", "/quota"} {
			r := e.get("/api/v1/stores/" + url.PathEscape(name) + sub)
			wantJSON(t, r, http.StatusBadRequest)
			if strings.ContainsAny(r.body, "<>") {
				t.Errorf("%q%s: unescaped HTML in %s", name, sub, r.body)
			}
		}
	}
	// A slash in the name is another path: not found, not a traversal.
	r := e.get("/api/v1/stores/..%2F..%2Fsecrets")
	if r.status != http.StatusBadRequest && r.status != http.StatusNotFound {
		t.Errorf("encoded slashes: status %d", r.status)
	}
}

func TestStorePodsEventsQuota(t *testing.T) {
	started := t0.Add(-time.Hour)
	pods := []web.Pod{{Name: "wordpress-0", Phase: "Running", Ready: 1, Containers: 1, Node: "n1", Started: &started}}
	events := []web.Event{{Type: "Warning", Reason: "BackOff", Message: "Back-off <restarting>", Object: "Pod/wordpress-0", Count: 3, LastTime: t0}}
	quota := []web.QuotaUsage{{Quota: "store-quota", Resource: "pods", Used: "3", Hard: "10"}}
	var limits []int
	fc := &fakeCluster{t: t,
		PodsFn: func(context.Context, string) ([]web.Pod, error) { return pods, nil },
		EventsFn: func(_ context.Context, _ string, limit int) ([]web.Event, error) {
			limits = append(limits, limit)
			return events, nil
		},
		QuotaFn: func(context.Context, string) ([]web.QuotaUsage, error) { return quota, nil },
	}
	e := start(t, func(c *web.Config) { c.Cluster = fc })

	r := e.get("/api/v1/stores/alpha/pods")
	wantJSON(t, r, http.StatusOK)
	var pl web.PodList
	r.decode(t, &pl)
	if diff := cmp.Diff(web.PodList{Store: "alpha", Namespace: "store-alpha", Pods: pods}, pl); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}

	r = e.get("/api/v1/stores/beta/events")
	wantJSON(t, r, http.StatusOK)
	var el web.EventList
	r.decode(t, &el)
	if diff := cmp.Diff(web.EventList{Store: "beta", Namespace: "store-beta", Events: events}, el); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if strings.Contains(r.body, "<restarting>") {
		t.Errorf("event message not escaped: %s", r.body)
	}
	e.get("/api/v1/stores/beta/events?limit=5")
	e.get("/api/v1/stores/beta/events?limit=100000")
	if diff := cmp.Diff([]int{web.DefaultEventLimit, 5, web.MaxEventLimit}, limits); diff != "" {
		t.Errorf("event limits (-want +got):\n%s", diff)
	}
	wantJSON(t, e.get("/api/v1/stores/beta/events?limit=x"), http.StatusBadRequest)
	wantJSON(t, e.get("/api/v1/stores/beta/events?limit=-1"), http.StatusBadRequest)

	r = e.get("/api/v1/stores/gamma/quota")
	wantJSON(t, r, http.StatusOK)
	var ql web.QuotaList
	r.decode(t, &ql)
	if diff := cmp.Diff(web.QuotaList{Store: "gamma", Namespace: "store-gamma", Quota: quota}, ql); diff != "" {
		t.Errorf("quota (-want +got):\n%s", diff)
	}

	// Unknown stores never reach the cluster.
	for _, sub := range []string{"pods", "events", "quota"} {
		wantJSON(t, e.get("/api/v1/stores/delta/"+sub), http.StatusNotFound)
	}
	want := []string{"store-alpha", "store-beta", "store-beta", "store-beta", "store-gamma"}
	if diff := cmp.Diff(want, fc.namespaces); diff != "" {
		t.Errorf("namespaces read (-want +got):\n%s", diff)
	}
}

func TestStoreClusterErrors(t *testing.T) {
	e := start(t, nil) // no ClusterReader
	for _, sub := range []string{"pods", "events", "quota"} {
		wantJSON(t, e.get("/api/v1/stores/alpha/"+sub), http.StatusServiceUnavailable)
	}

	fc := &fakeCluster{t: t,
		PodsFn: func(context.Context, string) ([]web.Pod, error) {
			return nil, fmt.Errorf("%w: pods is forbidden: User \"system:serviceaccount:internal\"", web.ErrCluster)
		},
		EventsFn: func(ctx context.Context, _ string, _ int) ([]web.Event, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	}
	// The default timeout for an answer that comes at once; a short one only
	// where the reader never answers, so that no clock races the load.
	e = start(t, func(c *web.Config) { c.Cluster = fc })
	r := e.get("/api/v1/stores/alpha/pods")
	wantJSON(t, r, http.StatusBadGateway)
	if strings.Contains(r.body, "serviceaccount") {
		t.Errorf("internal error details leaked: %s", r.body)
	}
	if id := r.header.Get("X-Request-Id"); id == "" || !strings.Contains(r.body, id) {
		t.Errorf("5xx body %s does not quote the request id %q", r.body, id)
	}
	e = start(t, func(c *web.Config) { c.Cluster = fc; c.RequestTimeout = 50 * time.Millisecond })
	wantJSON(t, e.get("/api/v1/stores/alpha/events"), http.StatusGatewayTimeout)
}

func TestSyncs(t *testing.T) {
	e := start(t, nil)
	for _, tc := range []struct {
		query string
		want  int
	}{{"", 2}, {"?limit=1", 1}, {"?limit=100000", 2}} {
		r := e.get("/api/v1/syncs" + tc.query)
		wantJSON(t, r, http.StatusOK)
		var l web.SyncList
		r.decode(t, &l)
		if len(l.Syncs) != tc.want || l.Syncs[0].Revision != "abc123" {
			t.Errorf("%q: %d syncs, want %d newest first", tc.query, len(l.Syncs), tc.want)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=abc", "?limit=1e3", "?limit=99999999999999999999"} {
		wantJSON(t, e.get("/api/v1/syncs"+q), http.StatusBadRequest)
	}

	// The limit bounds a long history.
	snap := fixture()
	snap.History = make([]reconcile.SyncRecord, 300)
	e.board.Publish(snap)
	var l web.SyncList
	e.get("/api/v1/syncs?limit=1000").decode(t, &l)
	if len(l.Syncs) != web.MaxSyncLimit {
		t.Errorf("%d syncs, want the maximum %d", len(l.Syncs), web.MaxSyncLimit)
	}
}

func TestStatus(t *testing.T) {
	e := start(t, nil)
	r := e.get("/api/v1/status")
	wantJSON(t, r, http.StatusOK)
	var got web.Status
	r.decode(t, &got)
	f := fixture()
	want := web.Status{
		Revision: f.Revision, Source: f.Source, Leader: true, Refused: f.Refused, Generated: t0, Stores: 3,
		Phases: map[reconcile.Phase]int{"Pending": 0, "Provisioning": 0, "Ready": 2, "Degraded": 0,
			"Failed": 1, "Blocked": 0, "Held": 0, "Deleting": 0, "Suspended": 0, "Unknown": 0},
		LastSync: &f.History[0],
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !strings.Contains(r.body, `"stores.yaml:14:11: stores[2].name: \"Bad\" is not a DNS label"`) {
		t.Errorf("located errors missing: %s", r.body)
	}
}

func TestProbesAndHealth(t *testing.T) {
	var readyErr error = errors.New("informers not synced")
	e := start(t, func(c *web.Config) { c.Ready = func() error { return readyErr } })
	wantJSON(t, e.get("/healthz"), http.StatusOK)
	r := e.get("/readyz")
	wantJSON(t, r, http.StatusServiceUnavailable)
	if !strings.Contains(r.errorMessage(t), "informers not synced") {
		t.Errorf("readyz body %s", r.body)
	}
	r = e.get("/api/v1/health")
	wantJSON(t, r, http.StatusServiceUnavailable)
	var h web.Health
	r.decode(t, &h)
	if h.Status != "unready" || h.Ready {
		t.Errorf("health %+v", h)
	}

	readyErr = nil
	wantJSON(t, e.get("/readyz"), http.StatusOK)
	r = e.get("/api/v1/health")
	wantJSON(t, r, http.StatusOK)
	r.decode(t, &h)
	wantLast := t0.Add(-time.Minute + 2*time.Second)
	if h.Status != "refused" || !h.Ready || !h.Leader || h.Revision != "abc123" || h.LastSync == nil || !h.LastSync.Equal(wantLast) {
		t.Errorf("health %+v", h)
	}
	e.board.Publish(&reconcile.Snapshot{Revision: "r2"})
	e.get("/api/v1/health").decode(t, &h)
	if h.Status != "ok" {
		t.Errorf("health %+v, want ok", h)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := start(t, nil)
	want := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	}
	for _, r := range []response{
		e.get("/api/v1/stores"), e.get("/api/v1/stores/nope"), e.get("/api/v1/stores/BAD"),
		e.get("/api/v1/nope"), e.get("/nope"), e.get("/healthz"), e.get("/readyz"), e.get("/metrics"),
		e.send(http.MethodDelete, "/api/v1/stores", "", nil), e.send(http.MethodPost, "/hooks/github", "{}", nil),
		e.send(http.MethodPost, "/hooks/bitbucket", "{}", nil),
	} {
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s = %q, want %q (status %d %s)", k, got, v, r.status, r.body)
			}
		}
		for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials"} {
			if r.header.Get(k) != "" {
				t.Errorf("CORS header %s set", k)
			}
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Error("no X-Request-Id")
		}
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	e := start(t, nil)
	wantJSON(t, e.get("/api/v1/nope"), http.StatusNotFound)
	wantJSON(t, e.get("/nope"), http.StatusNotFound)
	r := e.send(http.MethodPost, "/api/v1/stores", "{}", nil)
	wantJSON(t, r, http.StatusMethodNotAllowed)
	if r.header.Get("Allow") != http.MethodGet {
		t.Errorf("Allow = %q", r.header.Get("Allow"))
	}
	wantJSON(t, e.send(http.MethodDelete, "/api/v1/stores/alpha", "", nil), http.StatusMethodNotAllowed)
}

func TestRealIPIsOffByDefault(t *testing.T) {
	seen := make(chan string, 2)
	e := start(t, nil)
	e.server.Router().Get("/ip", func(w http.ResponseWriter, r *http.Request) { seen <- r.RemoteAddr })
	e.send(http.MethodGet, "/ip", "", http.Header{"X-Forwarded-For": {"203.0.113.9"}})
	if got := <-seen; strings.HasPrefix(got, "203.0.113.9") {
		t.Errorf("X-Forwarded-For trusted by default: RemoteAddr %q", got)
	}
	e = start(t, func(c *web.Config) { c.TrustProxyHeaders = true })
	e.server.Router().Get("/ip", func(w http.ResponseWriter, r *http.Request) { seen <- r.RemoteAddr })
	e.send(http.MethodGet, "/ip", "", http.Header{"X-Forwarded-For": {"203.0.113.9"}})
	if got := <-seen; !strings.HasPrefix(got, "203.0.113.9") {
		t.Errorf("X-Forwarded-For not used when trusted: RemoteAddr %q", got)
	}
}

func TestRequestID(t *testing.T) {
	e := start(t, nil)
	r := e.send(http.MethodGet, "/healthz", "", http.Header{"X-Request-Id": {"forged"}})
	if id := r.header.Get("X-Request-Id"); id == "" || id == "forged" {
		t.Errorf("X-Request-Id %q: want the server's own", id)
	}
	e = start(t, func(c *web.Config) { c.TrustProxyHeaders = true })
	r = e.send(http.MethodGet, "/healthz", "", http.Header{"X-Request-Id": {"from-proxy"}})
	if id := r.header.Get("X-Request-Id"); id != "from-proxy" {
		t.Errorf("X-Request-Id %q behind a trusted proxy, want from-proxy", id)
	}
}

func TestHead(t *testing.T) {
	e := start(t, nil)
	for _, path := range []string{"/healthz", "/api/v1/stores", "/api/v1/status"} {
		if r := e.send(http.MethodHead, path, "", nil); r.status != http.StatusOK || r.body != "" {
			t.Errorf("HEAD %s: %d %q", path, r.status, r.body)
		}
	}
}

func TestMountDashboard(t *testing.T) {
	e := start(t, nil)
	e.server.Router().Mount("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<h1>stores</h1>")
	}))
	r := e.get("/")
	if r.status != http.StatusOK || r.body != "<h1>stores</h1>" || r.header.Get("Content-Security-Policy") != "default-src 'self'" {
		t.Errorf("dashboard: %d %q %v", r.status, r.body, r.header)
	}
	if r.header.Get("X-Frame-Options") != "DENY" {
		t.Error("dashboard lost the security headers")
	}
	wantJSON(t, e.get("/api/v1/stores"), http.StatusOK)
	wantJSON(t, e.get("/api/v1/nope"), http.StatusNotFound)
	wantJSON(t, e.get("/healthz"), http.StatusOK)
}

func TestNewRefusesBadConfig(t *testing.T) {
	board := reconcile.NewBoard()
	noop := func(string) {}
	for name, cfg := range map[string]web.Config{
		"no board":     {Trigger: noop, Branch: "main"},
		"empty secret": {Board: board, Trigger: noop, Branch: "main", Webhooks: []web.Webhook{{Provider: gitsource.GitHub}}},
		"unknown":      {Board: board, Trigger: noop, Branch: "main", Webhooks: []web.Webhook{{Provider: "bitbucket", Secret: hookSecret}}},
		"upper case":   {Board: board, Trigger: noop, Branch: "main", Webhooks: []web.Webhook{{Provider: "GitHub", Secret: hookSecret}}},
		"twice":        {Board: board, Trigger: noop, Branch: "main", Webhooks: []web.Webhook{{Provider: gitsource.Gitea, Secret: hookSecret}, {Provider: gitsource.Gitea, Secret: []byte("x")}}},
		"no trigger":   {Board: board, Branch: "main", Webhooks: []web.Webhook{{Provider: gitsource.GitLab, Secret: hookSecret}}},
		"no branch":    {Board: board, Trigger: noop, Webhooks: []web.Webhook{{Provider: gitsource.GitLab, Secret: hookSecret}}},
	} {
		if _, err := web.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	if _, err := web.New(web.Config{Board: board}); err != nil {
		t.Errorf("minimal config: %v", err)
	}
}

func TestHTTPServer(t *testing.T) {
	e := start(t, nil)
	hs := e.server.HTTPServer("127.0.0.1:0")
	if hs.ReadHeaderTimeout == 0 || hs.Handler == nil {
		t.Errorf("HTTPServer: %+v", hs)
	}
}
