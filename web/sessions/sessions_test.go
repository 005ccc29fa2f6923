package sessions_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web/dashboard"
	"github.com/storeops/storeops/web/sessions"
	"golang.org/x/crypto/bcrypt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }

const password = "correct horse battery staple"

// replica is one storeops web server: its dashboard over its own
// Revocations on the shared ConfigMap.
type replica struct {
	srv *httptest.Server
	rev *sessions.Revocations
}

func newReplica(t *testing.T, c *testcluster.Cluster, ns string, key []byte, users map[string][]byte) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rev := sessions.New(c.Client, ns, sessions.Name("storeops"), nil)
	go rev.Run(ctx)
	wait, done := context.WithTimeout(ctx, 2*time.Minute)
	defer done()
	if !rev.WaitSynced(wait) {
		t.Fatal("the logouts ConfigMap was not read")
	}
	d, err := dashboard.New(dashboard.Config{Board: reconcile.NewBoard(), SessionKey: key, Revocations: rev,
		Auth: dashboard.Auth{ReadRequiresAuth: true, Users: users}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	return &replica{srv: srv, rev: rev}
}

// browser is a client that keeps cookies (shared by every replica: they
// are all on 127.0.0.1) and does not follow redirects.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func call(t *testing.T, c *http.Client, method, u string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", req.URL.Scheme+"://"+req.URL.Host) // as a browser sends it
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// submit posts the form on page path of base with its CSRF token.
func submit(t *testing.T, c *http.Client, base, path string, form url.Values) int {
	t.Helper()
	_, page := call(t, c, http.MethodGet, base+path, nil)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("GET %s%s: no CSRF token", base, path)
	}
	form.Set("csrf", m[1])
	status, _ := call(t, c, http.MethodPost, base+path, form)
	return status
}

// TestLogoutOnOneReplicaRevokesOnAll: two web servers share the session
// key and the logouts (a ConfigMap on the real API server). A session
// logged in on A and logged out on B is refused by A: a copy of its
// cookie (a stolen one) no longer opens A.
func TestLogoutOnOneReplicaRevokesOnAll(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t, "sessions")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), dashboard.MinBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string][]byte{"alice": hash}
	a := newReplica(t, c, ns, key, users)
	b := newReplica(t, c, ns, key, users)

	alice := browser(t)
	if status := submit(t, alice, a.srv.URL, "/login", url.Values{"user": {"alice"}, "password": {password}, "next": {"/"}}); status != http.StatusSeeOther {
		t.Fatalf("login on A: %d", status)
	}
	u, _ := url.Parse(a.srv.URL)
	var stolen *http.Cookie
	for _, ck := range alice.Jar.Cookies(u) {
		if ck.Name == "storeops_session" {
			stolen = ck
		}
	}
	if stolen == nil {
		t.Fatal("no session cookie after login")
	}
	thief := browser(t)
	thief.Jar.SetCookies(u, []*http.Cookie{stolen})
	for name, r := range map[string]*replica{"A": a, "B": b} {
		if status, _ := call(t, thief, http.MethodGet, r.srv.URL+"/", nil); status != http.StatusOK {
			t.Fatalf("the session on %s before logout: %d, want 200", name, status)
		}
	}

	if status := submit(t, alice, b.srv.URL, "/logout", url.Values{}); status != http.StatusSeeOther {
		t.Fatalf("logout on B: %d", status)
	}
	// B refuses at once; A once its watch delivers the ConfigMap.
	if status, _ := call(t, thief, http.MethodGet, b.srv.URL+"/", nil); status != http.StatusSeeOther {
		t.Errorf("the session on B after logout on B: %d, want a redirect to the login", status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		status, _ := call(t, thief, http.MethodGet, a.srv.URL+"/", nil)
		if status == http.StatusSeeOther {
			break
		}
		if status != http.StatusOK {
			t.Fatalf("the session on A: %d", status)
		}
		select {
		case <-ctx.Done():
			t.Fatal("A still accepts the session logged out on B")
		case <-tick.C:
		}
	}

	// What the ConfigMap holds: a digest per session, never the cookie or
	// its ID.
	cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), sessions.Name("storeops"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cm.Data) != 1 {
		t.Errorf("ConfigMap data %v, want one entry", cm.Data)
	}
	parts := strings.Split(stolen.Value, ".")
	for k, v := range cm.Data {
		if strings.Contains(stolen.Value, k) || (len(parts) > 2 && (strings.Contains(k, parts[2]) || strings.Contains(v, parts[2]))) {
			t.Errorf("the ConfigMap holds the session's ID: %s=%s", k, v)
		}
	}
	// A new login is not affected.
	if status := submit(t, alice, a.srv.URL, "/login", url.Values{"user": {"alice"}, "password": {password}, "next": {"/"}}); status != http.StatusSeeOther {
		t.Fatalf("login again on A: %d", status)
	}
	if status, _ := call(t, alice, http.MethodGet, b.srv.URL+"/", nil); status != http.StatusOK {
		t.Errorf("a new session on B: %d, want 200", status)
	}
}

// A replica that has not read the logouts yet cannot tell a revoked
// session: it refuses every one.
func TestUnreadRevocationsRefuseEverySession(t *testing.T) {
	rev := sessions.New(fake.NewClientset(), "storeops", sessions.Name("storeops"), nil)
	if !rev.Revoked("any", time.Now()) {
		t.Error("a session accepted before the ConfigMap was read")
	}
}

// An entry keeps the expiry it was recorded with, however many logouts
// rewrite the ConfigMap after it; expired ones are dropped.
func TestEntriesKeepTheirExpiry(t *testing.T) {
	client := fake.NewClientset()
	rev := sessions.New(client, "storeops", sessions.Name("storeops"), nil)
	ctx := context.Background()
	first := time.Now().Add(time.Hour)
	if err := rev.Revoke(ctx, "first", first); err != nil {
		t.Fatal(err)
	}
	if err := rev.Revoke(ctx, "gone", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	read := func() map[string]string {
		cm, err := client.CoreV1().ConfigMaps("storeops").Get(ctx, sessions.Name("storeops"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data
	}
	before := read()
	for i := range 20 {
		if err := rev.Revoke(ctx, fmt.Sprint("other-", i), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	after := read()
	if len(after) != 21 {
		t.Errorf("%d entries, want 21 (the expired one dropped)", len(after))
	}
	for k, v := range before {
		if w, ok := after[k]; ok && w != v {
			t.Errorf("entry %s changed from %s to %s", k, v, w)
		}
	}
	if got, want := before, first.Truncate(time.Second).Add(time.Second).Unix(); !hasValue(got, want) {
		t.Errorf("entries %v, want one expiring at %d", got, want)
	}
}

func hasValue(m map[string]string, v int64) bool {
	for _, s := range m {
		if s == fmt.Sprint(v) {
			return true
		}
	}
	return false
}
