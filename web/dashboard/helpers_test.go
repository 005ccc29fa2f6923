package dashboard_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/storeops/storeops/proposals"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	"github.com/storeops/storeops/web"
	"github.com/storeops/storeops/web/dashboard"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// xss is what an attacker could put in stores.yaml or make the cluster
// report; it must never reach a page unescaped.
const xss = `<script>alert("owned")</script>`

// Static users of the tests; hashes at the lowest cost storeops accepts.
const (
	alicePassword = "correct horse battery staple"
	apiToken      = "tok-0123456789abcdef0123456789"
)

var aliceHash = func() []byte {
	h, err := bcrypt.GenerateFromPassword([]byte(alicePassword), dashboard.MinBcryptCost)
	if err != nil {
		panic(err)
	}
	return h
}()

// store is a realistic store status: declared, with conditions and
// workloads matching its phase.
func store(name, typ, plan string, phase reconcile.Phase) reconcile.StoreStatus {
	ready := phase == reconcile.PhaseReady
	reason := map[bool]string{true: "WorkloadsReady", false: "WorkloadsNotReady"}[ready]
	wl := []reconcile.Workload{{Kind: "Deployment", Name: "wordpress", Ready: ready}, {Kind: "StatefulSet", Name: "mysql", Ready: true}}
	if typ == "medusa" {
		wl = []reconcile.Workload{{Kind: "Deployment", Name: "medusa-server", Ready: ready}, {Kind: "Deployment", Name: "medusa-worker", Ready: ready},
			{Kind: "StatefulSet", Name: "postgres", Ready: true}, {Kind: "StatefulSet", Name: "redis", Ready: true}}
	}
	st := reconcile.StoreStatus{
		Name: name, Type: typ, Plan: plan, Domain: name + ".shops.example.com", Namespace: render.NamespacePrefix + name,
		Declared: true, Phase: phase, ReleaseRevision: 2, ReleaseStatus: "deployed", ChartVersion: "0.3.1",
		AppliedRevision: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
		Conditions: []reconcile.Condition{
			{Type: reconcile.CondReady, Status: ready, Reason: reason, LastTransition: t0.Add(-10 * time.Minute)},
			{Type: reconcile.CondReleased, Status: true, Reason: "InstallSucceeded", Message: "release revision 2 deployed", LastTransition: t0.Add(-12 * time.Minute)},
			{Type: reconcile.CondIsolated, Status: true, Reason: "PoliciesApplied", LastTransition: t0.Add(-13 * time.Minute)},
		},
		Workloads: wl,
		URLs:      reconcile.URLs{Store: "https://" + name + ".shops.example.com/", Admin: "https://" + name + ".shops.example.com/wp-admin/"},
		Since:     t0.Add(-10 * time.Minute),
		LastAction: &reconcile.ActionLog{Store: name, Kind: "upgrade", Reason: "values changed: plan",
			Diff:  "  map[string]any{\n- \t\"replicas\": 1,\n+ \t\"replicas\": 2,\n  }",
			Start: t0.Add(-12 * time.Minute), Duration: 2300 * time.Millisecond},
	}
	if typ == "medusa" {
		st.URLs.Admin = "https://" + name + ".shops.example.com/app"
	}
	return st
}

// sampleSnapshot is a snapshot as the reconciler publishes it: stores in
// several phases, one of them carrying hostile text, and three syncs.
func sampleSnapshot() *reconcile.Snapshot {
	alpha := store("alpha", "woocommerce", "small", reconcile.PhaseReady)
	beta := store("beta", "medusa", "medium", reconcile.PhaseProvisioning)
	beta.Message = "waiting for medusa-server (0/1 ready)"
	gamma := store("gamma", "medusa", "small", reconcile.PhaseFailed)
	gamma.LastError = "install: timed out waiting for the condition"
	evil := store("evil-shop", "woocommerce", "large", reconcile.PhaseDegraded)
	evil.Message = "pod says " + xss
	evil.Conditions[0].Message = xss
	evil.LastAction.Reason = "values changed: " + xss
	evil.LastAction.Diff = "- <img src=x onerror=alert(1)>\n+ " + xss
	evil.URLs.Store = "javascript:alert(1)"
	return &reconcile.Snapshot{
		Revision: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
		Source:   "https://git.example.com/shops/stores.git#main:stores.yaml",
		Leader:   true, Generated: t0,
		Stores: []reconcile.StoreStatus{alpha, beta, gamma, evil},
		History: []reconcile.SyncRecord{
			{Revision: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432", Trigger: "webhook gitea", Start: t0.Add(-12 * time.Minute),
				Duration: 4200 * time.Millisecond, Summary: map[string]int{"install": 1, "upgrade": 1},
				Actions: []reconcile.ActionLog{{Store: "beta", Kind: "install", Reason: "release absent", Duration: 2 * time.Second}}},
			{Revision: "1111111111222222222233333333334444444444", Trigger: "cron", Start: t0.Add(-time.Hour),
				Duration: 80 * time.Millisecond, Summary: map[string]int{},
				Refused: &reconcile.Refusal{Reason: "InvalidConfig", Message: "stores.yaml is invalid",
					Errors: []string{"stores.yaml:14:11: stores[2].name: \"Bad_Name\" is not a DNS label"}}},
			{Revision: "0000000000aaaaaaaaaabbbbbbbbbbcccccccccc", Trigger: "startup", Start: t0.Add(-2 * time.Hour),
				Duration: 9 * time.Second, Summary: map[string]int{"install": 3}, Errors: []string{"gamma: install: timed out"}},
		},
	}
}

// refused is sampleSnapshot while the newest revision is refused.
func refused() *reconcile.Snapshot {
	s := sampleSnapshot()
	s.Refused = &reconcile.Refusal{Reason: "InvalidConfig", Message: "stores.yaml at 5a5a5a5 is invalid; nothing applied",
		Errors: []string{"stores.yaml:14:11: stores[2].name: \"Bad_Name\" is not a DNS label", "stores.yaml:20:9: stores[3].plan: unknown plan \"huge\"" + xss}}
	return s
}

// fakeProposer is a Proposer of function fields; nil ones fail the test.
type fakeProposer struct {
	t        *testing.T
	CreateFn func(ctx context.Context, s render.NewStore, user string) (proposals.Proposal, error)
	DeleteFn func(ctx context.Context, name, user string) (proposals.Proposal, error)
	ListFn   func(ctx context.Context) ([]proposals.Proposal, error)

	mu    sync.Mutex
	calls []string
}

var _ proposals.Proposer = (*fakeProposer)(nil)

func (f *fakeProposer) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

// Calls returns the calls so far, "create name by user" and the like.
func (f *fakeProposer) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeProposer) ProposeCreate(ctx context.Context, s render.NewStore, user string) (proposals.Proposal, error) {
	f.record("create " + s.Name + " by " + user)
	if f.CreateFn == nil {
		f.t.Error("unexpected ProposeCreate")
		return proposals.Proposal{}, errors.New("unexpected")
	}
	return f.CreateFn(ctx, s, user)
}

func (f *fakeProposer) ProposeDelete(ctx context.Context, name, user string) (proposals.Proposal, error) {
	f.record("delete " + name + " by " + user)
	if f.DeleteFn == nil {
		f.t.Error("unexpected ProposeDelete")
		return proposals.Proposal{}, errors.New("unexpected")
	}
	return f.DeleteFn(ctx, name, user)
}

func (f *fakeProposer) List(ctx context.Context) ([]proposals.Proposal, error) {
	f.record("list")
	if f.ListFn == nil {
		return nil, nil
	}
	return f.ListFn(ctx)
}

// prFor is the pull request a forge would open for a change.
func prFor(kind proposals.Kind, name string, number int) proposals.Proposal {
	return proposals.Proposal{Kind: kind, Store: name, Branch: proposals.Branch(kind, name), Number: number,
		URL:   "https://git.example.com/shops/stores/pulls/" + strconv.Itoa(number),
		Title: string(kind) + " store " + name, State: proposals.StateOpen, Author: "alice", Created: t0}
}

// successProposer opens a pull request for any change.
func successProposer(t *testing.T) *fakeProposer {
	return &fakeProposer{t: t,
		CreateFn: func(_ context.Context, s render.NewStore, _ string) (proposals.Proposal, error) {
			return prFor(proposals.KindCreate, s.Name, 41), nil
		},
		DeleteFn: func(_ context.Context, name, _ string) (proposals.Proposal, error) {
			return prFor(proposals.KindDelete, name, 42), nil
		},
		ListFn: func(context.Context) ([]proposals.Proposal, error) {
			merged := prFor(proposals.KindCreate, "alpha", 7)
			merged.State = proposals.StateMerged
			closed := prFor(proposals.KindDelete, "zeta", 5)
			closed.State = proposals.StateClosed
			return []proposals.Proposal{prFor(proposals.KindCreate, "delta", 9), merged, closed}, nil
		},
	}
}

// fakeCluster answers with fixed pods, events and quota, or err.
type fakeCluster struct {
	err error
}

var _ web.ClusterReader = fakeCluster{}

func (f fakeCluster) Pods(_ context.Context, ns string) ([]web.Pod, error) {
	started := t0.Add(-9 * time.Minute)
	return []web.Pod{
		{Name: "wordpress-6d5f7c9b8-x2x4k", Phase: "Running", Ready: 1, Containers: 1, Node: "kwok-node-0", Started: &started},
		{Name: "mysql-0", Phase: "Pending", Reason: "CrashLoopBackOff " + xss, Ready: 0, Containers: 1, Restarts: 4, Node: "kwok-node-0"},
	}, f.err
}

func (f fakeCluster) Events(_ context.Context, ns string, limit int) ([]web.Event, error) {
	return []web.Event{
		{Type: "Warning", Reason: "BackOff", Message: "Back-off restarting failed container " + xss, Object: "Pod/mysql-0", Count: 4, LastTime: t0.Add(-time.Minute)},
		{Type: "Normal", Reason: "Scheduled", Message: "Successfully assigned " + ns + "/mysql-0", Object: "Pod/mysql-0", Count: 1, LastTime: t0.Add(-9 * time.Minute)},
	}, f.err
}

func (f fakeCluster) QuotaUsage(context.Context, string) ([]web.QuotaUsage, error) {
	return []web.QuotaUsage{
		{Quota: "store-quota", Resource: "limits.cpu", Used: "1500m", Hard: "2"},
		{Quota: "store-quota", Resource: "limits.memory", Used: "1Gi", Hard: "4Gi"},
		{Quota: "store-quota", Resource: "pods", Used: "3", Hard: "10"},
	}, f.err
}

// env is a dashboard mounted on the web server, as storeops serves it,
// over real HTTP on loopback.
type env struct {
	t        *testing.T
	board    *reconcile.Board
	proposer *fakeProposer
	srv      *httptest.Server
	client   *http.Client // keeps cookies, does not follow redirects
}

// start serves a dashboard with the sample snapshot, a proposer that
// succeeds, a cluster reader, the user alice and a token. edit may
// change the config.
func start(t *testing.T, edit func(*dashboard.Config)) *env {
	t.Helper()
	return startWrapped(t, edit, nil)
}

// startWrapped is start with wrap, if not nil, around the server's
// handler.
func startWrapped(t *testing.T, edit func(*dashboard.Config), wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	e := &env{t: t, board: reconcile.NewBoard(), proposer: successProposer(t)}
	e.board.Publish(sampleSnapshot())
	cfg := dashboard.Config{
		Board: e.board, Cluster: fakeCluster{}, Proposer: e.proposer,
		Auth: dashboard.Auth{Users: map[string][]byte{"alice": aliceHash}, Tokens: map[string]string{apiToken: "robot"}},
	}
	if edit != nil {
		edit(&cfg)
	}
	h, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api, err := web.New(web.Config{Board: e.board})
	if err != nil {
		t.Fatal(err)
	}
	api.Router().Mount("/", h)
	var handler http.Handler = api.Handler()
	if wrap != nil {
		handler = wrap(handler)
	}
	e.srv = httptest.NewServer(handler)
	t.Cleanup(e.srv.Close)
	e.client = e.newClient()
	return e
}

func (e *env) newClient() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(c *http.Client, req *http.Request) response {
	e.t.Helper()
	res, err := c.Do(req)
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

// get fetches path with e.client; hdr adds headers ("Name: value").
func (e *env) get(path string, hdr ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	return e.do(e.client, req)
}

// post sends form to path from this site's Origin; hdr adds or, with an
// empty value, removes headers.
func (e *env) post(path string, form url.Values, hdr ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.URL)
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		if v == "" {
			req.Header.Del(strings.TrimSuffix(k, ":"))
			continue
		}
		req.Header.Set(k, v)
	}
	return e.do(e.client, req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the form on page path.
func (e *env) csrf(path string) string {
	e.t.Helper()
	r := e.get(path)
	m := csrfRE.FindStringSubmatch(r.body)
	if m == nil {
		e.t.Fatalf("GET %s: no CSRF token in %d %s", path, r.status, r.body)
	}
	return m[1]
}

// login logs e.client in as alice.
func (e *env) login() {
	e.t.Helper()
	r := e.post("/login", url.Values{"csrf": {e.csrf("/login")}, "user": {"alice"}, "password": {alicePassword}, "next": {"/"}})
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login: %d %s", r.status, r.body)
	}
}

// wantIn fails unless body holds every s.
func wantIn(t *testing.T, what, body string, s ...string) {
	t.Helper()
	for _, x := range s {
		if !strings.Contains(body, x) {
			t.Errorf("%s: missing %q", what, x)
		}
	}
}

// wantNotIn fails if body holds any s.
func wantNotIn(t *testing.T, what, body string, s ...string) {
	t.Helper()
	for _, x := range s {
		if strings.Contains(body, x) {
			t.Errorf("%s: unexpected %q", what, x)
		}
	}
}

// form builds url.Values from name, value pairs.
func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}
