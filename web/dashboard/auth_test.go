package dashboard_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
	"github.com/storeops/storeops/web/dashboard"
)

func TestReadOpenByDefault(t *testing.T) {
	e := start(t, nil)
	for _, path := range []string{"/", "/sync", "/stores/alpha"} {
		if r := e.get(path); r.status != http.StatusOK {
			t.Errorf("anonymous GET %s: %d", path, r.status)
		}
	}
	// The proposals page needs a login even then: it shows the forge's
	// pull requests and costs a forge API call.
	if r := e.get("/proposals"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Fproposals" {
		t.Errorf("anonymous GET /proposals: %d to %q, want the login page", r.status, r.header.Get("Location"))
	}
	r := e.get("/")
	wantIn(t, "anonymous", r.body, `href="/login"`)
	// The store page offers deletion only after logging in.
	wantIn(t, "anonymous store page", e.get("/stores/alpha").body, `href="/login?next=/stores/alpha"`)
	wantNotIn(t, "anonymous store page", e.get("/stores/alpha").body, `action="/stores/alpha/delete"`)
}

func TestReadRequiresAuth(t *testing.T) {
	e := start(t, func(c *dashboard.Config) { c.Auth.ReadRequiresAuth = true })
	for _, path := range []string{"/", "/sync", "/stores/alpha", "/proposals", "/new-store"} {
		r := e.get(path)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next="+url.QueryEscape(path) {
			t.Errorf("anonymous GET %s: %d to %q", path, r.status, r.header.Get("Location"))
		}
	}
	if r := e.get("/events"); r.status != http.StatusUnauthorized {
		t.Errorf("anonymous /events: %d, want 401", r.status)
	}
	for _, path := range []string{"/login", "/static/style.css", "/static/app.js"} {
		if r := e.get(path); r.status != http.StatusOK {
			t.Errorf("anonymous GET %s: %d", path, r.status)
		}
	}
	e.login()
	for _, path := range []string{"/", "/sync", "/stores/alpha", "/proposals"} {
		if r := e.get(path); r.status != http.StatusOK {
			t.Errorf("GET %s after login: %d", path, r.status)
		}
	}
}

func TestLogin(t *testing.T) {
	e := start(t, nil)
	tok := e.csrf("/login?next=/new-store")
	for _, tc := range []struct{ user, pass string }{{"alice", "wrong"}, {"mallory", alicePassword}, {"alice", ""}} {
		r := e.post("/login", form("csrf", tok, "user", tc.user, "password", tc.pass, "next", "/new-store"))
		if r.status != http.StatusUnauthorized {
			t.Errorf("login %s/%q: %d, want 401", tc.user, tc.pass, r.status)
		}
		wantIn(t, "bad login", r.body, "Wrong user name or password.")
		wantNotIn(t, "bad login", r.body, "Signed in as")
	}
	r := e.post("/login", form("csrf", tok, "user", "alice", "password", alicePassword, "next", "/new-store"))
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/new-store" {
		t.Fatalf("login: %d to %q", r.status, r.header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "storeops_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.MaxAge <= 0 || session.Secure {
		t.Errorf("session cookie %+v", session)
	}
	if r := e.get("/new-store"); r.status != http.StatusOK || !strings.Contains(r.body, "Signed in as <strong>alice</strong>") {
		t.Errorf("after login: %d", r.status)
	}
	// A tampered session is no session.
	u, _ := url.Parse(e.srv.URL)
	forged := *session
	forged.Value = strings.Replace(session.Value, session.Value[:4], "Ym9i", 1) // "bob"
	jar := e.newClient()
	jar.Jar.SetCookies(u, []*http.Cookie{&forged})
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/new-store", nil)
	if r := e.do(jar, req); r.status != http.StatusSeeOther {
		t.Errorf("tampered session: %d, want a redirect to login", r.status)
	}
	// Logging out ends the session.
	r = e.post("/logout", form("csrf", e.csrf("/")))
	if r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	if r := e.get("/new-store"); r.status != http.StatusSeeOther {
		t.Errorf("after logout: %d, want a redirect to login", r.status)
	}
}

func TestSecureCookies(t *testing.T) {
	e := start(t, func(c *dashboard.Config) { c.Secure = true })
	r := e.get("/login")
	cookies := (&http.Response{Header: r.header}).Cookies()
	if len(cookies) == 0 {
		t.Fatal("no CSRF cookie")
	}
	for _, c := range cookies {
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %+v", c)
		}
	}
}

func TestLoginRedirectStaysOnSite(t *testing.T) {
	for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		e := start(t, nil)
		r := e.post("/login", form("csrf", e.csrf("/login"), "user", "alice", "password", alicePassword, "next", next))
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
			t.Errorf("next=%q: %d to %q", next, r.status, r.header.Get("Location"))
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := start(t, nil)
	tok := e.csrf("/login")
	for i := range 5 {
		if r := e.post("/login", form("csrf", tok, "user", "alice", "password", "guess")); r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, r.status)
		}
	}
	r := e.post("/login", form("csrf", tok, "user", "alice", "password", alicePassword))
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("6th attempt: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	wantIn(t, "limited", r.body, "Too many login attempts")
}

func TestProposeRequiresAuth(t *testing.T) {
	e := start(t, nil)
	r := e.get("/new-store")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Fnew-store" {
		t.Errorf("anonymous GET /new-store: %d to %q", r.status, r.header.Get("Location"))
	}
	tok := e.csrf("/login")
	for path, f := range map[string]url.Values{
		"/new-store":           form("csrf", tok, "name", "delta", "type", "medusa"),
		"/stores/alpha/delete": form("csrf", tok, "confirm", "alpha"),
	} {
		r := e.post(path, f)
		if r.status != http.StatusForbidden {
			t.Errorf("anonymous POST %s: %d, want 403", path, r.status)
		}
		wantIn(t, path, r.body, "Log in to do this")
	}
	if calls := e.proposer.Calls(); len(calls) != 0 {
		t.Errorf("proposer called: %v", calls)
	}
}

func TestBearerToken(t *testing.T) {
	e := start(t, nil)
	r := e.post("/new-store", form("name", "delta", "type", "medusa"), "Authorization: Bearer "+apiToken, "Origin:")
	if r.status != http.StatusOK {
		t.Fatalf("token POST: %d %s", r.status, r.body)
	}
	wantIn(t, "token POST", r.body, "Pull request opened")
	if got := e.proposer.Calls(); len(got) != 1 || got[0] != "create delta by robot" {
		t.Errorf("calls %v", got)
	}
	r = e.get("/new-store", "Authorization: Bearer not-a-token-of-anyone")
	if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("bad token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	// A token does not excuse a foreign Origin.
	r = e.post("/new-store", form("name", "delta", "type", "medusa"), "Authorization: Bearer "+apiToken, "Origin: https://evil.example")
	if r.status != http.StatusForbidden {
		t.Errorf("token POST from another origin: %d, want 403", r.status)
	}
}

func TestTrustedHeader(t *testing.T) {
	off := start(t, nil)
	if r := off.get("/new-store", "X-Forwarded-User: mallory"); r.status != http.StatusSeeOther {
		t.Errorf("header without TrustedHeader: %d, want a redirect to login", r.status)
	}
	// Only from a trusted proxy: here the test's client is not one.
	elsewhere := start(t, func(c *dashboard.Config) {
		c.Auth.TrustedHeader = "X-Forwarded-User"
		c.Auth.ReadRequiresAuth = true
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	if r := elsewhere.get("/new-store", "X-Forwarded-User: mallory"); r.status != http.StatusSeeOther {
		t.Errorf("header from a client that is no trusted proxy: %d, want a redirect to login", r.status)
	}
	on := start(t, func(c *dashboard.Config) {
		c.Auth.TrustedHeader = "X-Forwarded-User"
		c.Auth.ReadRequiresAuth = true
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	r := on.get("/new-store", "X-Forwarded-User: carol@example.com")
	if r.status != http.StatusOK {
		t.Fatalf("trusted header: %d", r.status)
	}
	wantIn(t, "trusted header", r.body, "Signed in as <strong>carol@example.com</strong>")
	wantNotIn(t, "trusted header", r.body, `action="/logout"`)
	tok := csrfRE.FindStringSubmatch(r.body)[1]
	r = on.post("/new-store", form("csrf", tok, "name", "delta", "type", "medusa"), "X-Forwarded-User: carol@example.com")
	if r.status != http.StatusOK {
		t.Fatalf("trusted header POST: %d %s", r.status, r.body)
	}
	if got := on.proposer.Calls(); len(got) != 1 || got[0] != "create delta by carol@example.com" {
		t.Errorf("calls %v", got)
	}
	if r := on.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("no header, reading required auth: %d", r.status)
	}
}

func TestCSRF(t *testing.T) {
	e := start(t, nil)
	e.login()
	good := e.csrf("/new-store")
	other := start(t, nil)
	other.login()
	foreign := other.csrf("/new-store")
	ok := form("csrf", good, "name", "delta", "type", "medusa")
	for name, tc := range map[string]struct {
		form url.Values
		hdr  []string
	}{
		"missing token":       {form("name", "delta", "type", "medusa"), nil},
		"wrong token":         {form("csrf", good[:len(good)-2]+"AA", "name", "delta", "type", "medusa"), nil},
		"other browser token": {form("csrf", foreign, "name", "delta", "type", "medusa"), nil},
		"foreign origin":      {ok, []string{"Origin: https://evil.example"}},
		"null origin":         {ok, []string{"Origin: null"}},
		"foreign referer":     {ok, []string{"Origin:", "Referer: https://evil.example/form"}},
		"no origin":           {ok, []string{"Origin:"}},
	} {
		if r := e.post("/new-store", tc.form, tc.hdr...); r.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, r.status)
		}
	}
	if calls := e.proposer.Calls(); len(calls) != 0 {
		t.Fatalf("proposer called: %v", calls)
	}
	if r := e.post("/new-store", ok, "Origin:", "Referer: "+e.srv.URL+"/new-store"); r.status != http.StatusOK {
		t.Errorf("same-site referer: %d", r.status)
	}
	// The login and logout forms are protected too.
	if r := e.post("/login", form("user", "alice", "password", alicePassword)); r.status != http.StatusForbidden {
		t.Errorf("login without token: %d", r.status)
	}
	if r := e.post("/logout", nil); r.status != http.StatusForbidden {
		t.Errorf("logout without token: %d", r.status)
	}
}

func TestLoadUsers(t *testing.T) {
	dir := t.TempDir()
	write := func(content string) string {
		p := filepath.Join(dir, "users")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	y := "$2y$" + string(aliceHash[4:])
	users, err := dashboard.LoadUsers(write("# operators\n\nalice:" + string(aliceHash) + "\n  bob.smith@example.com:" + y + "  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || string(users["alice"]) != string(aliceHash) || string(users["bob.smith@example.com"]) != y {
		t.Errorf("users %q", users)
	}
	// A $2y$ hash from htpasswd logs in.
	e := start(t, func(c *dashboard.Config) { c.Auth.Users = map[string][]byte{"alice": []byte(y)} })
	e.login()

	for name, content := range map[string]string{
		"md5":       "alice:$apr1$abc$def\n",
		"sha":       "alice:{SHA}abc=\n",
		"plain":     "alice:secret\n",
		"no colon":  "alice\n",
		"duplicate": "alice:" + string(aliceHash) + "\nalice:" + string(aliceHash) + "\n",
		"bad name":  "al ice:" + string(aliceHash) + "\n",
		"truncated": "alice:" + string(aliceHash[:20]) + "\n",
	} {
		if _, err := dashboard.LoadUsers(write(content)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), ":1:") && !strings.Contains(err.Error(), ":2:") {
			t.Errorf("%s: error %q names no line", name, err)
		}
	}
	if _, err := dashboard.LoadUsers(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

// TestGuardAPI: with reading behind a login, the JSON API needs one too.
func TestGuardAPI(t *testing.T) {
	const token = "api-token-0123456789abcdef"
	for _, readAuth := range []bool{false, true} {
		board := reconcile.NewBoard()
		board.Publish(sampleSnapshot())
		dash, err := dashboard.New(dashboard.Config{Board: board, Auth: dashboard.Auth{
			ReadRequiresAuth: readAuth, Tokens: map[string]string{token: "bot"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		api, err := web.New(web.Config{Board: board, APIGuard: dash.GuardAPI})
		if err != nil {
			t.Fatal(err)
		}
		api.Router().Mount("/", dash)
		srv := httptest.NewServer(api.Handler())
		get := func(auth string) int {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/stores", nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		anonymous, wrong, right := get(""), get("Bearer not-the-token-at-all"), get("Bearer "+token)
		srv.Close()
		want := http.StatusOK
		if readAuth {
			want = http.StatusUnauthorized
		}
		if anonymous != want || right != http.StatusOK || (readAuth && wrong != http.StatusUnauthorized) {
			t.Errorf("read auth %t: anonymous %d, wrong token %d, right token %d", readAuth, anonymous, wrong, right)
		}
	}
}

// TestSessionKeyShared: with the same session key, a login made on one
// replica holds on another.
func TestSessionKeyShared(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	var replicas [2]*httptest.Server
	for i := range replicas {
		board := reconcile.NewBoard()
		board.Publish(sampleSnapshot())
		dash, err := dashboard.New(dashboard.Config{Board: board, SessionKey: key, Auth: dashboard.Auth{
			ReadRequiresAuth: true, Users: map[string][]byte{"alice": aliceHash},
		}})
		if err != nil {
			t.Fatal(err)
		}
		replicas[i] = httptest.NewServer(dash)
		defer replicas[i].Close()
	}
	if _, err := dashboard.New(dashboard.Config{Board: reconcile.NewBoard(), SessionKey: []byte("short")}); err == nil {
		t.Error("a short session key was accepted")
	}
	// Log in on the first replica, with its CSRF token.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.Get(replicas[0].URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on the login page")
	}
	req, _ := http.NewRequest(http.MethodPost, replicas[0].URL+"/login", strings.NewReader(url.Values{
		"csrf": {string(m[1])}, "user": {"alice"}, "password": {alicePassword}, "next": {"/"},
	}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", replicas[0].URL)
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Value != "" && c.MaxAge >= 0 && strings.Contains(strings.ToLower(c.Name), "session") {
			session = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	// The second replica accepts the session.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(c *http.Cookie) int {
		req, _ := http.NewRequest(http.MethodGet, replicas[1].URL+"/sync", nil)
		if c != nil {
			req.AddCookie(c)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(nil); code != http.StatusSeeOther {
		t.Fatalf("anonymous read answered %d, want a redirect to the login", code)
	}
	if code := get(session); code != http.StatusOK {
		t.Fatalf("the other replica answered %d to a session made on the first", code)
	}
}
