package dashboard

import (
	"crypto/hmac"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// csrfField is the name of the form field that carries the CSRF token.
const csrfField = "csrf"

// csrfToken returns the token the forms of this request carry: an HMAC of
// the browser's CSRF cookie and, when logged in, the session's nonce. A
// token is thus valid only with the cookies it was made for, and logging
// in or out invalidates the forms of before.
func (d *dashboard) csrfToken(id identity) string {
	if id.seed == "" {
		return ""
	}
	return d.mac("csrf", id.seed+"|"+id.session)
}

// checkCSRF refuses a form post whose Origin (or, without one, Referer)
// is another site, or whose token does not match the cookies. Requests
// authenticated by a bearer token carry no cookies, so a foreign page
// cannot forge them; they skip the token, not the Origin check.
func (d *dashboard) checkCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := identityOf(r.Context())
		if !sameOrigin(r, id.Method == "token") {
			d.fail(w, r, http.StatusForbidden, "This form was sent from another site; it was refused.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			d.fail(w, r, http.StatusBadRequest, "The form could not be read.")
			return
		}
		if id.Method != "token" {
			want := d.csrfToken(id)
			got := r.PostForm.Get(csrfField)
			if want == "" || !hmac.Equal([]byte(got), []byte(want)) {
				d.fail(w, r, http.StatusForbidden, "The form has expired or was not sent from this dashboard. Reload the page and try again.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin reports whether the request's Origin, or else its Referer,
// names this host. Without either, only a client that may omit them
// (bearer tokens) passes.
func sameOrigin(r *http.Request, mayOmit bool) bool {
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return mayOmit
	}
	u, err := url.Parse(src)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return u.Host == r.Host
}

// clientAddr is the address of the client, without its port. Behind a
// proxy, web.Config.TrustProxyHeaders makes it the real client's.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Login rate: a burst of loginBurst attempts per user name, then one every
// loginEvery; and a burst of prefixBurst per client address prefix (a /24
// or /64, the real client's behind a trusted proxy), then one every
// prefixEvery.
const (
	loginBurst  = 5
	loginEvery  = 12 * time.Second
	prefixBurst = 20
	prefixEvery = 3 * time.Second
	// maxLimited bounds the addresses the limiter remembers.
	maxLimited = 10000
)

// limiter is a token bucket per client address, in memory.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{burst: float64(burst), every: every, buckets: map[string]*bucket{}}
}

// allow takes a token for addr; when there is none it returns false and
// how long until the next one.
func (l *limiter) allow(addr string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[addr]
	if !ok {
		if len(l.buckets) >= maxLimited {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[addr] = b
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.last))/float64(l.every))
	b.last = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(l.every)), false
	}
	b.tokens--
	return 0, true
}

// prune forgets the addresses whose bucket has refilled; if none has, it
// forgets them all rather than grow without bound.
func (l *limiter) prune(now time.Time) {
	for a, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.last))/float64(l.every) >= l.burst {
			delete(l.buckets, a)
		}
	}
	if len(l.buckets) >= maxLimited {
		clear(l.buckets)
	}
}
