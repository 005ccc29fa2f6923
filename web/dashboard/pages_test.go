package dashboard_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/proposals"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web/dashboard"
)

func TestPagesRender(t *testing.T) {
	e := start(t, nil)
	e.login()
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"<h1>Stores", "4 of 4 stores", `href="/stores/alpha"`, "woocommerce", "medusa", "medium",
			`class="phase phase-ready"`, "✔</span> Ready", "◐</span> Provisioning", "✖</span> Failed",
			`href="https://alpha.shops.example.com/"`, `href="https://alpha.shops.example.com/wp-admin/"`,
			"9f8e7d6c5b", "waiting for medusa-server (0/1 ready)", "install: timed out waiting for the condition",
			`<option value="Ready">Ready</option>`, `src="/static/app.js"`, `href="/static/style.css"`, "Signed in as <strong>alice</strong>"}},
		{"/stores/alpha", []string{"<h1>alpha", "alpha.shops.example.com", "store-alpha", "revision 2, deployed, chart 0.3.1",
			"WorkloadsReady", "InstallSucceeded", "release revision 2 deployed", "2026-03-01 11:50:00 UTC",
			"wordpress", "mysql", "✔ Ready",
			"wordpress-6d5f7c9b8-x2x4k", "kwok-node-0", "CrashLoopBackOff", "Back-off restarting failed container", "Pod/mysql-0",
			"limits.cpu", "1500m / 2", `<meter min="0" max="2"`, "75%", "1Gi / 4Gi", "25%",
			"upgrade", "values changed: plan", "2.3s", "- \t&#34;replicas&#34;: 1,", "Type <strong>alpha</strong> to confirm"}},
		{"/sync", []string{"<h1>Sync", "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432", "https://git.example.com/shops/stores.git#main:stores.yaml",
			"webhook gitea", "4.2s", "install 1, upgrade 1", "release absent", "Refused — stores.yaml is invalid",
			"stores.yaml:14:11: stores[2].name: &#34;Bad_Name&#34; is not a DNS label", "gamma: install: timed out", "leader: applies changes"}},
		{"/proposals", []string{"<h1>Proposals", `href="https://git.example.com/shops/stores/pulls/9"`, "#9 create store delta",
			"state-open", "state-merged", "state-closed", ">merged<", ">closed<"}},
		{"/new-store", []string{"<h1>Create a store", `name="name"`, `name="type"`, `name="plan"`, `name="adminEmail"`, `name="domain"`,
			`<option value="woocommerce" selected>`, `<option value="large">`}},
		{"/login", []string{"<h1>Log in", `name="password"`, `type="password"`}},
	} {
		r := e.get(tc.path)
		if r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", tc.path, r.status, r.body)
			continue
		}
		wantIn(t, tc.path, r.body, tc.want...)
		wantSecurityHeaders(t, tc.path, r.header)
		if strings.Contains(r.body, "style=") || strings.Contains(r.body, "<script>") || strings.Contains(r.body, " on") && strings.Contains(r.body, "onclick") {
			t.Errorf("%s: inline style or script", tc.path)
		}
	}
}

func wantSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, v := range map[string]string{
		"Content-Security-Policy": dashboard.ContentSecurityPolicy,
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
		"Cache-Control":           "no-store",
	} {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

func TestStaticFiles(t *testing.T) {
	e := start(t, nil)
	for path, ctype := range map[string]string{"/static/app.js": "text/javascript; charset=utf-8", "/static/style.css": "text/css; charset=utf-8"} {
		r := e.get(path)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != ctype || r.header.Get("ETag") == "" {
			t.Errorf("GET %s: %d %q etag %q", path, r.status, r.header.Get("Content-Type"), r.header.Get("ETag"))
		}
		if again := e.get(path, "If-None-Match: "+r.header.Get("ETag")); again.status != http.StatusNotModified {
			t.Errorf("GET %s again: %d, want 304", path, again.status)
		}
	}
	if r := e.get("/static/nope.js"); r.status != http.StatusNotFound {
		t.Errorf("unknown static file: %d", r.status)
	}
}

func TestNotFound(t *testing.T) {
	e := start(t, nil)
	for _, path := range []string{"/nope", "/stores/omega", "/stores/Not_A_Name", "/stores/%3Cscript%3E"} {
		r := e.get(path)
		if r.status != http.StatusNotFound || !strings.Contains(r.body, "404") {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
		wantSecurityHeaders(t, path, r.header)
		wantNotIn(t, path, r.body, "<script>")
	}
}

func TestMountedWithAPI(t *testing.T) {
	e := start(t, nil)
	if r := e.get("/healthz"); r.status != http.StatusOK || !strings.Contains(r.body, `"ok"`) {
		t.Errorf("/healthz: %d %s", r.status, r.body)
	}
	r := e.get("/api/v1/stores")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("/api/v1/stores: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if got := r.header.Get("Content-Security-Policy"); got == dashboard.ContentSecurityPolicy {
		t.Errorf("the API got the dashboard's CSP")
	}
}

func TestHead(t *testing.T) {
	e := start(t, nil)
	for _, path := range []string{"/", "/sync", "/static/style.css"} {
		req, err := http.NewRequest(http.MethodHead, e.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := e.do(e.client, req); r.status != http.StatusOK || r.body != "" {
			t.Errorf("HEAD %s: %d with %d bytes", path, r.status, len(r.body))
		}
	}
}

func TestStoreFilters(t *testing.T) {
	e := start(t, nil)
	for _, tc := range []struct {
		query     string
		want, not []string
	}{
		{"?phase=Ready", []string{`id="store-alpha"`, "1 of 4 stores", `<option value="Ready" selected>`}, []string{`id="store-beta"`, `id="store-gamma"`}},
		{"?phase=failed", []string{`id="store-gamma"`}, []string{`id="store-alpha"`}},
		{"?type=medusa", []string{`id="store-beta"`, `id="store-gamma"`, "2 of 4 stores"}, []string{`id="store-alpha"`, `id="store-evil-shop"`}},
		{"?type=medusa&phase=Ready", []string{"No stores match.", "0 of 4 stores", `href="/">Clear`}, []string{`<tr id="store-`}},
		{"", []string{`id="store-alpha"`, `id="store-beta"`, `id="store-gamma"`, `id="store-evil-shop"`}, []string{"Clear"}},
	} {
		r := e.get("/" + tc.query)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d", tc.query, r.status)
		}
		wantIn(t, tc.query, r.body, tc.want...)
		wantNotIn(t, tc.query, r.body, tc.not...)
	}
	for _, q := range []string{"?phase=Sleeping", "?type=shopify"} {
		if r := e.get("/" + q); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, r.status)
		}
	}
}

func TestEscaping(t *testing.T) {
	e := start(t, nil)
	e.board.Publish(refused())
	for _, path := range []string{"/", "/stores/evil-shop", "/sync"} {
		r := e.get(path)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d", path, r.status)
		}
		wantNotIn(t, path, r.body, xss, "<img", `href="javascript:`)
		wantIn(t, path, r.body, "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;")
	}
	r := e.get("/stores/evil-shop")
	wantIn(t, "store page", r.body, "&lt;img src=x onerror=alert(1)&gt;", `href="#ZgotmplZ"`)
	// The live stream carries the same escaped fragments, as JSON.
	ev := firstEvent(t, e, "/events")
	wantNotIn(t, "/events", ev, xss, `<img`)
	wantIn(t, "/events", ev, `\u0026lt;script\u0026gt;`)
}

func TestRefusedBannerOnEveryPage(t *testing.T) {
	e := start(t, nil)
	e.login()
	for _, path := range []string{"/", "/sync", "/stores/alpha", "/proposals", "/new-store", "/login", "/nope"} {
		if r := e.get(path); strings.Contains(r.body, `class="banner"`) {
			t.Errorf("%s: banner without a refusal", path)
		}
	}
	e.board.Publish(refused())
	for _, path := range []string{"/", "/sync", "/stores/alpha", "/proposals", "/new-store", "/login", "/nope"} {
		r := e.get(path)
		wantIn(t, path, r.body, `class="banner" role="alert"`, "Sync refused — stores.yaml is invalid",
			"stores.yaml at 5a5a5a5 is invalid; nothing applied",
			"<li><code>stores.yaml:14:11: stores[2].name: &#34;Bad_Name&#34; is not a DNS label</code></li>",
			"the last good revision stays applied")
	}
	for reason, text := range map[string]string{"MassDeletion": "mass-deletion guard", "SourceUnavailable": "Git source unavailable"} {
		s := sampleSnapshot()
		s.Refused = &reconcile.Refusal{Reason: reason, Message: "refused: " + reason}
		e.board.Publish(s)
		wantIn(t, reason, e.get("/stores/beta").body, "Sync refused — "+text, "refused: "+reason)
	}
}

// With several target clusters, the sync page says which ones storeops
// can act on and why not; a store's page names its cluster.
func TestTargetClustersShown(t *testing.T) {
	e := start(t, nil)
	e.login()
	s := sampleSnapshot()
	s.Clusters = []reconcile.ClusterStatus{{Name: "local", Ready: true}, {Name: "eu", Message: "cluster eu has not answered since 2026-03-01T12:00:00Z: connection refused"}}
	s.Stores[0].Cluster = "eu"
	e.board.Publish(s)
	wantIn(t, "sync", e.get("/sync").body, "Cluster local", "✔ ready", "Cluster eu", "its stores are held", "connection refused")
	wantIn(t, "store", e.get("/stores/"+s.Stores[0].Name).body, "on cluster <code>eu</code>")
}

func TestStorePageCluster(t *testing.T) {
	noCluster := start(t, func(c *dashboard.Config) { c.Cluster = nil })
	wantIn(t, "no cluster", noCluster.get("/stores/alpha").body, "Cluster access is not configured")

	broken := start(t, func(c *dashboard.Config) { c.Cluster = fakeCluster{err: errors.New("connection refused to 10.0.0.1")} })
	r := broken.get("/stores/alpha")
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	wantIn(t, "broken cluster", r.body, "Could not read the pods from the cluster", "Could not read the events", "Could not read the quota usage")
	wantNotIn(t, "broken cluster", r.body, "10.0.0.1")
}

func TestProposingDisabled(t *testing.T) {
	e := start(t, func(c *dashboard.Config) { c.Proposer = nil })
	e.login()
	r := e.get("/")
	wantNotIn(t, "stores", r.body, `href="/new-store"`, `href="/proposals"`)
	wantNotIn(t, "store", e.get("/stores/alpha").body, "Delete this store")
	for _, path := range []string{"/new-store", "/proposals"} {
		if r := e.get(path); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, r.status)
		}
	}
	tok := e.csrf("/")
	if r := e.post("/new-store", form("csrf", tok, "name", "delta", "type", "medusa")); r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /new-store: %d, want 404", r.status)
	}
	if r := e.post("/stores/alpha/delete", form("csrf", tok, "confirm", "alpha")); r.status != http.StatusNotFound {
		t.Errorf("POST delete: %d, want 404", r.status)
	}
}

// firstEvent reads the first "stores" event of an /events stream.
func firstEvent(t *testing.T, e *env, path string) string {
	t.Helper()
	events, stop := stream(t, e, path)
	defer stop()
	return <-events
}

// stream opens path as an event stream and returns the data of each
// "stores" event.
func stream(t *testing.T, e *env, path string) (<-chan string, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	out := make(chan string, 16)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "stores":
				out <- strings.TrimPrefix(line, "data: ")
			case line == "":
				event = ""
			}
		}
	}()
	return out, func() { cancel(); res.Body.Close() }
}

func TestEventsStream(t *testing.T) {
	e := start(t, nil)
	events, stop := stream(t, e, "/events?type=medusa")
	defer stop()
	first := <-events
	wantIn(t, "first", first, `id=\"store-beta\"`, "◐\\u003c/span\\u003e Provisioning", "2 of 4 stores")
	wantNotIn(t, "first", first, `store-alpha`)

	next := sampleSnapshot()
	next.Stores[1].Phase = reconcile.PhaseReady
	next.Syncing = true
	e.board.Publish(next)
	select {
	case got := <-events:
		wantIn(t, "after publish", got, `id=\"store-beta\" class=\"phase-ready\"`, "syncing")
	case <-time.After(time.Minute):
		t.Fatal("no event after Publish")
	}
	// A snapshot that changes nothing visible sends nothing.
	e.board.Publish(next)
	e.board.Publish(refused())
	select {
	case got := <-events:
		wantIn(t, "refused", got, "Sync refused")
	case <-time.After(time.Minute):
		t.Fatal("no event after the refusal")
	}
}

func TestProposalsListError(t *testing.T) {
	e := start(t, nil)
	e.login()
	e.proposer.ListFn = func(context.Context) ([]proposals.Proposal, error) {
		return nil, errors.New("forge said 500 with token abc")
	}
	r := e.get("/proposals")
	if r.status != http.StatusBadGateway {
		t.Errorf("status %d, want 502", r.status)
	}
	wantIn(t, "list error", r.body, "Could not list the pull requests")
	wantNotIn(t, "list error", r.body, "token abc")
}

func TestNewRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]dashboard.Config{
		"no board":     {},
		"bad hash":     {Board: reconcile.NewBoard(), Auth: dashboard.Auth{Users: map[string][]byte{"bob": []byte("$apr1$x$y")}}},
		"bad user":     {Board: reconcile.NewBoard(), Auth: dashboard.Auth{Users: map[string][]byte{"bob smith": aliceHash}}},
		"short token":  {Board: reconcile.NewBoard(), Auth: dashboard.Auth{Tokens: map[string]string{"abc": "bob"}}},
		"token header": {Board: reconcile.NewBoard(), Auth: dashboard.Auth{TrustedHeader: "authorization"}},
	} {
		if _, err := dashboard.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// TestStoreNamedNew: "new" is a valid store name and has its page.
func TestStoreNamedNew(t *testing.T) {
	e := start(t, nil)
	snap := sampleSnapshot()
	snap.Stores = append(snap.Stores, store("new", "medusa", "small", reconcile.PhaseReady))
	e.board.Publish(snap)
	if r := e.get("/stores/new"); r.status != http.StatusOK || !strings.Contains(r.body, "store-new") {
		t.Fatalf("/stores/new: %d", r.status)
	}
}
