package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Cookie names.
const (
	sessionCookie = "storeops_session"
	csrfCookie    = "storeops_csrf"
)

// identity is who sent a request, and how we know.
type identity struct {
	User   string
	Method string // "session", "token", "header"; "" when anonymous
	// session is the nonce of the session cookie, which CSRF tokens are
	// bound to.
	session string
	// seed is the value of the CSRF cookie.
	seed string
	// expiry is the session's; refresh, when set, is its cookie reissued
	// (the idle clock reset), to last maxAge seconds.
	expiry  time.Time
	refresh string
	maxAge  int
}

type identityKey struct{}

func identityOf(ctx context.Context) identity {
	id, _ := ctx.Value(identityKey{}).(identity)
	return id
}

// LoadUsers reads an htpasswd-style file of static users, one
// "user:hash" a line, where hash is bcrypt ($2a$, $2b$ or $2y$, as
// `htpasswd -B` writes). Blank lines and lines starting with # are
// skipped. Any other hash format, an invalid name or a repeated user is
// an error that names the line.
func LoadUsers(path string) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	users := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want user:bcrypt-hash", path, n)
		}
		if _, dup := users[user]; dup {
			return nil, fmt.Errorf("%s:%d: user %q appears twice", path, n, user)
		}
		if err := checkUser(user, []byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return users, nil
}

// checkUser refuses a user name that is empty, long or has characters
// other than letters, digits and ._@-, and a hash that is not bcrypt.
func checkUser(user string, hash []byte) error {
	if !validUserName(user) {
		return fmt.Errorf("user name %q: use 1 to 64 letters, digits, '.', '_', '@' or '-'", user)
	}
	if !bytes.HasPrefix(hash, []byte("$2a$")) && !bytes.HasPrefix(hash, []byte("$2b$")) && !bytes.HasPrefix(hash, []byte("$2y$")) {
		return fmt.Errorf("user %q: the hash is not bcrypt ($2a$, $2b$ or $2y$); make one with htpasswd -nB %s", user, user)
	}
	cost, err := bcrypt.Cost(hash)
	if err != nil {
		return fmt.Errorf("user %q: bad bcrypt hash: %w", user, err)
	}
	if cost < MinBcryptCost {
		return fmt.Errorf("user %q: bcrypt cost %d is below %d (a cheap hash shows by its timing which user names exist); make one with htpasswd -nB -C %d %s", user, cost, MinBcryptCost, MinBcryptCost, user)
	}
	return nil
}

func validUserName(u string) bool {
	if u == "" || len(u) > 64 {
		return false
	}
	for _, c := range u {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._@-", c)
		if !ok {
			return false
		}
	}
	return true
}

// hashTokens keys the tokens by their SHA-256, so that looking one up
// does not compare secrets byte by byte.
func hashTokens(tokens map[string]string) (map[[32]byte]string, error) {
	out := make(map[[32]byte]string, len(tokens))
	for tok, user := range tokens {
		if len(tok) < 16 {
			return nil, fmt.Errorf("token of user %q is shorter than 16 characters", user)
		}
		if !validUserName(user) {
			return nil, fmt.Errorf("token user name %q: use 1 to 64 letters, digits, '.', '_', '@' or '-'", user)
		}
		out[sha256.Sum256([]byte(tok))] = user
	}
	return out, nil
}

// identify finds who sent the request: the trusted proxy header when
// configured, then a bearer token, then the session cookie. A bearer
// token that matches no one is answered 401. It also makes sure the
// browser holds a CSRF cookie.
func (d *dashboard) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, badToken := d.authenticate(r)
		if badToken {
			w.Header().Set("WWW-Authenticate", `Bearer realm="storeops"`)
			d.fail(w, r, http.StatusUnauthorized, "The bearer token is not valid.")
			return
		}
		if d.secure(r) {
			w.Header().Set("Strict-Transport-Security", hstsHeader)
		}
		if v, ok := d.readCookie(r, csrfCookie); ok && validSeed(v) {
			id.seed = v
		}
		if id.seed == "" && r.Method == http.MethodGet && id.Method != "token" {
			id.seed = newNonce()
			http.SetCookie(w, d.cookie(r, csrfCookie, id.seed, 0))
		}
		if id.refresh != "" {
			// Activity resets the idle clock.
			http.SetCookie(w, d.cookie(r, sessionCookie, id.refresh, id.maxAge))
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// authenticate finds who sent the request: the trusted proxy header when
// configured, then a bearer token, then the session cookie. badToken is
// true for a bearer token that matches no one.
func (d *dashboard) authenticate(r *http.Request) (id identity, badToken bool) {
	if h := d.cfg.Auth.TrustedHeader; h != "" && d.fromTrustedProxy(r) {
		if u := strings.TrimSpace(r.Header.Get(h)); u != "" && len(u) <= 256 && printable(u) {
			id.User, id.Method = u, "header"
		}
	}
	if tok, ok := bearer(r); ok && id.User == "" {
		user, found := d.tokens[sha256.Sum256([]byte(tok))]
		if !found {
			return id, true
		}
		id.User, id.Method = user, "token"
	}
	if v, ok := d.readCookie(r, sessionCookie); ok && id.User == "" {
		now := time.Now()
		if s, ok := d.openSession(v, now); ok {
			id.User, id.Method, id.session, id.expiry = s.user, "session", s.nonce, s.expiry
			if now.Sub(s.seen) >= seenEvery {
				id.refresh = d.sealSession(s.user, s.expiry, s.nonce, now)
				id.maxAge = int(s.expiry.Sub(now).Seconds())
			}
		}
	}
	return id, false
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func printable(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// readAuth sends anonymous readers to the login page when reading
// requires authentication.
func (d *dashboard) readAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.cfg.Auth.ReadRequiresAuth && identityOf(r.Context()).User == "" {
			d.needLogin(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// needLogin redirects a GET to the login page, which comes back here,
// and refuses anything else with 403.
func (d *dashboard) needLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path != "/events" {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	if r.Method == http.MethodGet {
		d.fail(w, r, http.StatusUnauthorized, "Log in to see this page.")
		return
	}
	d.fail(w, r, http.StatusForbidden, "Log in to do this: proposing a change requires an authenticated user.")
}

// Sessions are "base64(user).expiry.nonce.seen.base64(mac)", the MAC an
// HMAC-SHA256 with the dashboard's key over everything before it; seen is
// when the session was last used (its cookie is reissued as it is used),
// for the idle timeout. A session logged out is revoked by its nonce.

// session is an opened session cookie.
type session struct {
	user, nonce  string
	expiry, seen time.Time
}

func (d *dashboard) newSession(user string, now time.Time) (value, nonce string) {
	nonce = newNonce()
	return d.sealSession(user, now.Add(SessionLifetime), nonce, now), nonce
}

func (d *dashboard) sealSession(user string, expiry time.Time, nonce string, seen time.Time) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(user)) + "." +
		strconv.FormatInt(expiry.Unix(), 10) + "." + nonce + "." + strconv.FormatInt(seen.Unix(), 10)
	return payload + "." + d.mac("session", payload)
}

func (d *dashboard) openSession(value string, now time.Time) (session, bool) {
	i := strings.LastIndexByte(value, '.')
	if i < 0 || len(value) > 1024 {
		return session{}, false
	}
	payload, sum := value[:i], value[i+1:]
	if !hmac.Equal([]byte(sum), []byte(d.mac("session", payload))) {
		return session{}, false
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 4 {
		return session{}, false
	}
	u, err := base64.RawURLEncoding.DecodeString(parts[0])
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	seen, err3 := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || err2 != nil || err3 != nil || now.Unix() >= exp || now.Sub(time.Unix(seen, 0)) > d.cfg.IdleTimeout {
		return session{}, false
	}
	if _, known := d.cfg.Auth.Users[string(u)]; !known || d.revoked.Revoked(parts[2], time.Unix(exp, 0).Add(-SessionLifetime)) {
		return session{}, false
	}
	return session{user: string(u), nonce: parts[2], expiry: time.Unix(exp, 0), seen: time.Unix(seen, 0)}, true
}

// mac returns the base64 HMAC-SHA256 of purpose and msg under the key.
func (d *dashboard) mac(purpose, msg string) string {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func newNonce() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func validSeed(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 24
}

// cookie returns a cookie of the dashboard for the request's connection:
// over TLS Secure and named __Host-<name>; maxAge < 0 deletes it, 0 makes
// it last as long as the browser session.
func (d *dashboard) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: d.cookieName(r, name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: d.secure(r), SameSite: http.SameSiteStrictMode,
	}
}

// loginPage is the data of the login form.
type loginPage struct {
	Next    string
	User    string
	Error   string
	Enabled bool
}

func (d *dashboard) loginForm(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, http.StatusOK, "login.html", &view{Title: "Log in",
		Data: loginPage{Next: safeNext(r.URL.Query().Get("next")), Enabled: len(d.cfg.Auth.Users) > 0}})
}

// dummyHash is compared against when the user is unknown, so that a
// wrong user name takes as long as a wrong password.
// It is made on first use, so that merely importing the package costs
// nothing.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("storeops-no-such-user"), bcrypt.DefaultCost)
	return h
})

func (d *dashboard) login(w http.ResponseWriter, r *http.Request) {
	page := loginPage{Next: safeNext(r.PostFormValue("next")), User: r.PostFormValue("user"), Enabled: len(d.cfg.Auth.Users) > 0}
	if !page.Enabled {
		d.fail(w, r, http.StatusNotFound, "No local users are configured; sign in through your proxy or use a token.")
		return
	}
	now := time.Now()
	if wait, ok := d.limiter.allow(addressPrefix(d.clientIP(r)), now); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
		page.Error = "Too many login attempts from your network; wait a minute and try again."
		d.render(w, r, http.StatusTooManyRequests, "login.html", &view{Title: "Log in", Data: page})
		return
	}
	if wait, ok := d.users.allow("user\x00"+page.User, now); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
		page.Error = "Too many login attempts for this user; wait a minute and try again."
		d.render(w, r, http.StatusTooManyRequests, "login.html", &view{Title: "Log in", Data: page})
		return
	}
	hash, known := d.cfg.Auth.Users[page.User]
	if !known {
		hash = dummyHash()
	}
	pass := r.PostFormValue("password")
	if err := bcrypt.CompareHashAndPassword(hash, []byte(pass)); err != nil || !known || len(pass) > 72 {
		d.log.InfoContext(r.Context(), "dashboard login refused", "user", page.User, "remote", d.clientIP(r))
		page.Error = "Wrong user name or password."
		d.render(w, r, http.StatusUnauthorized, "login.html", &view{Title: "Log in", Data: page})
		return
	}
	value, _ := d.newSession(page.User, time.Now())
	http.SetCookie(w, d.cookie(r, sessionCookie, value, int(SessionLifetime.Seconds())))
	d.log.InfoContext(r.Context(), "dashboard login", "user", page.User, "remote", d.clientIP(r))
	http.Redirect(w, r, page.Next, http.StatusSeeOther)
}

func (d *dashboard) logoutForm(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, http.StatusOK, "logout.html", &view{Title: "Log out"})
}

func (d *dashboard) logout(w http.ResponseWriter, r *http.Request) {
	// The session is refused from now on even if a copy of its cookie is
	// presented, by every replica sharing the revocations, and the cookie
	// is cleared. The record is kept until the session expires or, if
	// sooner, idles out (a revoked session is never used again).
	if id := identityOf(r.Context()); id.Method == "session" {
		until := min(id.expiry.Unix(), time.Now().Add(d.cfg.IdleTimeout+2*seenEvery).Unix())
		if err := d.revoked.Revoke(r.Context(), id.session, time.Unix(until, 0)); err != nil {
			d.log.ErrorContext(r.Context(), "dashboard logout not recorded", "user", id.User, "err", err)
			d.fail(w, r, http.StatusServiceUnavailable, "The logout could not be recorded, so your session is still valid; try again.")
			return
		}
	}
	http.SetCookie(w, d.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// safeNext returns next when it is a path on this site, "/" otherwise, so
// that the login form cannot redirect elsewhere.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}
