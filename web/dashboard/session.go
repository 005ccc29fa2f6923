package dashboard

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Session hardening: what is known about the connection (TLS, the real
// client behind a trusted proxy), cookie names and attributes that follow
// it, revocation at logout (on every replica with a shared Revocations),
// and an idle timeout.

const (
	// DefaultIdleTimeout ends a session unused this long.
	DefaultIdleTimeout = 30 * time.Minute
	// hostPrefix makes a cookie host-only, Secure and Path=/ in browsers
	// that honour it; used whenever the request came over TLS.
	hostPrefix = "__Host-"
	// hstsHeader tells browsers to use https for this host for a year.
	hstsHeader = "max-age=31536000"
	// seenEvery is how often a session's idle clock is reset by reissuing
	// its cookie.
	seenEvery = time.Minute
	// MinBcryptCost is the least bcrypt cost a user's hash may have: the
	// hash compared for an unknown user has this cost, so a cheaper hash
	// would tell by its timing which user names exist.
	MinBcryptCost = 10
)

// fromTrustedProxy reports whether the request's peer is one of the
// configured trusted proxies.
func (d *dashboard) fromTrustedProxy(r *http.Request) bool {
	if len(d.cfg.TrustedProxies) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range d.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// clientIP is the client's address: the peer's, or, when the peer is a
// trusted proxy, the rightmost X-Forwarded-For entry that is not itself a
// trusted proxy (entries further left are what the client claimed).
func (d *dashboard) clientIP(r *http.Request) string {
	peer := clientAddr(r)
	if !d.fromTrustedProxy(r) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(hops[i])
		if err != nil {
			return peer
		}
		ip = ip.Unmap()
		trusted := false
		for _, p := range d.cfg.TrustedProxies {
			trusted = trusted || p.Contains(ip)
		}
		if !trusted {
			return ip.String()
		}
	}
	return peer
}

// secure reports whether the client reached storeops over TLS: directly,
// through a trusted proxy that says so (X-Forwarded-Proto: https), or as
// configured (Config.Secure).
func (d *dashboard) secure(r *http.Request) bool {
	if d.cfg.Secure || r.TLS != nil {
		return true
	}
	return d.fromTrustedProxy(r) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// cookieName is name, with the __Host- prefix over TLS.
func (d *dashboard) cookieName(r *http.Request, name string) string {
	if d.secure(r) {
		return hostPrefix + name
	}
	return name
}

// readCookie returns the value of the dashboard's cookie name for r.
func (d *dashboard) readCookie(r *http.Request, name string) (string, bool) {
	c, err := r.Cookie(d.cookieName(r, name))
	if err != nil {
		return "", false
	}
	return c.Value, true
}

// addressPrefix is the rate-limiting key of a client address: its /24
// (IPv4) or /64 (IPv6), so that one client cannot dodge the limit by
// changing addresses within its network.
func addressPrefix(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return addr
	}
	return p.String()
}

// Revocations records the sessions logged out before their expiry. Every
// replica of storeops must see every logout (sessions.Revocations shares
// them through the cluster); the default, in memory, sees only its own.
type Revocations interface {
	// Revoke records that the session id is logged out, to be kept until
	// until (after it the session is refused anyway).
	Revoke(ctx context.Context, id string, until time.Time) error
	// Revoked reports whether the session id, issued at issued, was
	// logged out. A store that cannot tell yet says true.
	Revoked(id string, issued time.Time) bool
}

// memoryRevocations remembers the sessions logged out on this replica,
// until their expiry: another replica that did not see the logout still
// accepts the session until it expires or idles out.
type memoryRevocations struct {
	mu    sync.Mutex
	until map[string]time.Time // nonce to the session's expiry
}

// maxRevoked bounds the remembered logouts; beyond it the oldest go.
const maxRevoked = 100000

func (v *memoryRevocations) Revoke(_ context.Context, nonce string, expiry time.Time) error {
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.until == nil {
		v.until = map[string]time.Time{}
	}
	if len(v.until) >= maxRevoked {
		for n, t := range v.until {
			if !t.After(now) {
				delete(v.until, n)
			}
		}
		if len(v.until) >= maxRevoked {
			clear(v.until)
		}
	}
	v.until[nonce] = expiry
	return nil
}

func (v *memoryRevocations) Revoked(nonce string, _ time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.until[nonce]
	return ok
}
