package dashboard_test

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storeops/storeops/proposals"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web/dashboard"
	"golang.org/x/crypto/bcrypt"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// TestBcryptCostBelowMinimumRefused: a cheap hash would answer faster than
// the hash compared for unknown users, telling which names exist.
func TestBcryptCostBelowMinimumRefused(t *testing.T) {
	cheap, err := bcrypt.GenerateFromPassword([]byte("pw"), 5)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte("bob:"+string(cheap)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := dashboard.LoadUsers(path); err == nil || !strings.Contains(err.Error(), "cost 5") {
		t.Errorf("LoadUsers with cost 5: %v, want a refusal", err)
	}
	if _, err := dashboard.New(dashboard.Config{Board: reconcile.NewBoard(), Auth: dashboard.Auth{Users: map[string][]byte{"bob": cheap}}}); err == nil {
		t.Error("New with a cost-5 hash: accepted")
	}
}

// sessionCookieOf returns the session cookie a response sets.
func sessionCookieOf(r response, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestLogoutRevokesSession: after logout, a copy of the session cookie (a
// stolen one) no longer authenticates.
func TestLogoutRevokesSession(t *testing.T) {
	e := start(t, nil)
	r := e.post("/login", form("csrf", e.csrf("/login"), "user", "alice", "password", alicePassword, "next", "/"))
	stolen := sessionCookieOf(r, "storeops_session")
	if stolen == nil {
		t.Fatalf("no session cookie: %v", r.header)
	}
	if r := e.get("/new-store"); r.status != http.StatusOK {
		t.Fatalf("logged in: %d", r.status)
	}
	if r := e.post("/logout", form("csrf", e.csrf("/logout"))); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	thief := e.newClient()
	u, _ := url.Parse(e.srv.URL)
	thief.Jar.SetCookies(u, []*http.Cookie{stolen})
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/new-store", nil)
	if r := e.do(thief, req); r.status != http.StatusSeeOther {
		t.Errorf("the session cookie after logout: %d, want a redirect to login", r.status)
	}
}

// TestIdleSessionExpires: a session unused for longer than the idle
// timeout is refused; one in use is not.
func TestIdleSessionExpires(t *testing.T) {
	e := start(t, func(c *dashboard.Config) { c.IdleTimeout = time.Second })
	e.login()
	if r := e.get("/new-store"); r.status != http.StatusOK {
		t.Fatalf("fresh session: %d", r.status)
	}
	time.Sleep(2100 * time.Millisecond)
	if r := e.get("/new-store"); r.status != http.StatusSeeOther {
		t.Errorf("session idle 2s with a 1s idle timeout: %d, want a redirect to login", r.status)
	}
}

// TestCookiesFollowTLS: behind a trusted proxy that says the client used
// TLS, cookies are Secure and __Host- prefixed and HSTS is sent; the same
// header from anyone else changes nothing.
func TestCookiesFollowTLS(t *testing.T) {
	proxied := start(t, func(c *dashboard.Config) { c.TrustedProxies = loopback })
	r := proxied.get("/login", "X-Forwarded-Proto: https")
	c := sessionCookieOf(r, "__Host-storeops_csrf")
	if c == nil || !c.Secure || c.Path != "/" || c.Domain != "" {
		t.Errorf("behind TLS: CSRF cookie %+v, want __Host-storeops_csrf, Secure, Path=/", c)
	}
	if h := r.header.Get("Strict-Transport-Security"); !strings.Contains(h, "max-age=") {
		t.Errorf("behind TLS: no HSTS (%q)", h)
	}
	// Logging in over "TLS" sets a __Host- session cookie.
	tok := csrfRE.FindStringSubmatch(r.body)[1]
	req, _ := http.NewRequest(http.MethodPost, proxied.srv.URL+"/login",
		strings.NewReader(form("csrf", tok, "user", "alice", "password", alicePassword, "next", "/").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", proxied.srv.URL)
	req.Header.Set("X-Forwarded-Proto", "https")
	req.AddCookie(&http.Cookie{Name: "__Host-storeops_csrf", Value: c.Value})
	r = proxied.do(proxied.newClient(), req)
	if s := sessionCookieOf(r, "__Host-storeops_session"); s == nil || !s.Secure || !s.HttpOnly {
		t.Errorf("login behind TLS: session cookie %+v (status %d)", s, r.status)
	}

	direct := start(t, func(c *dashboard.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	r = direct.get("/login", "X-Forwarded-Proto: https")
	if c := sessionCookieOf(r, "storeops_csrf"); c == nil || c.Secure {
		t.Errorf("X-Forwarded-Proto from a client that is no proxy: CSRF cookie %+v, want plain", c)
	}
	if h := r.header.Get("Strict-Transport-Security"); h != "" {
		t.Errorf("HSTS over plain http: %q", h)
	}
	configured := start(t, func(c *dashboard.Config) { c.Secure = true })
	if r := configured.get("/login"); sessionCookieOf(r, "__Host-storeops_csrf") == nil || r.header.Get("Strict-Transport-Security") == "" {
		t.Errorf("Config.Secure: cookies %v, HSTS %q", r.header.Values("Set-Cookie"), r.header.Get("Strict-Transport-Security"))
	}
}

// TestLoginRateLimits: behind an ingress every client shares its address;
// failed logins are limited per real client network (X-Forwarded-For from
// the trusted proxy) and per user name, so one client cannot lock out
// everybody.
func TestLoginRateLimits(t *testing.T) {
	e := start(t, func(c *dashboard.Config) { c.TrustedProxies = loopback })
	tok := e.csrf("/login")
	attempt := func(client, user string) int {
		return e.post("/login", form("csrf", tok, "user", user, "password", "wrong"), "X-Forwarded-For: "+client).status
	}
	// One client guessing many users' passwords: its network is stopped.
	limited := false
	for i := range 30 {
		if attempt("203.0.113.7", "user"+strings.Repeat("x", i%7)+string(rune('a'+i))) == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("30 failed logins from one client network: never limited")
	}
	if s := attempt("203.0.113.99", "someone"); s != http.StatusTooManyRequests {
		t.Errorf("the same /24: %d, want 429", s)
	}
	// Anyone else behind the same ingress still logs in.
	if s := attempt("198.51.100.20", "carol"); s != http.StatusUnauthorized {
		t.Errorf("another client behind the same proxy: %d, want 401 (wrong password, not limited)", s)
	}
	// One user's password guessed from many networks: that user is limited.
	statuses := []int{}
	for i := range 7 {
		statuses = append(statuses, attempt("10."+strconv.Itoa(i)+".0.1", "dave"))
	}
	if statuses[len(statuses)-1] != http.StatusTooManyRequests {
		t.Errorf("7 failed logins of one user from 7 addresses: %v, want the last limited", statuses)
	}
}

// TestProposalsPageCachedAndBehindLogin: anonymous readers never reach the
// forge through the proposals page; logged-in reloads within the cache's
// lifetime list the pull requests once; a proposal refreshes the list.
func TestProposalsPageCachedAndBehindLogin(t *testing.T) {
	e := start(t, nil)
	var lists atomic.Int32
	inner := e.proposer.ListFn
	e.proposer.ListFn = func(ctx context.Context) ([]proposals.Proposal, error) {
		lists.Add(1)
		return inner(ctx)
	}
	for range 3 {
		if r := e.get("/proposals"); r.status != http.StatusSeeOther {
			t.Fatalf("anonymous /proposals: %d, want a redirect to login", r.status)
		}
	}
	if n := lists.Load(); n != 0 {
		t.Fatalf("anonymous reads listed the forge's pull requests %d times", n)
	}
	e.login()
	for range 5 {
		if r := e.get("/proposals"); r.status != http.StatusOK {
			t.Fatalf("/proposals: %d", r.status)
		}
	}
	if n := lists.Load(); n != 1 {
		t.Errorf("5 reloads listed the pull requests %d times, want 1", n)
	}
	r := e.post("/new-store", form("csrf", e.csrf("/new-store"), "name", "delta", "type", "medusa"))
	if r.status != http.StatusOK {
		t.Fatalf("propose: %d", r.status)
	}
	e.get("/proposals")
	if n := lists.Load(); n != 2 {
		t.Errorf("after a proposal the list was read %d times in all, want 2 (refreshed)", n)
	}
}
