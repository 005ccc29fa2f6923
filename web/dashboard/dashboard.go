package dashboard

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/storeops/storeops/internal/preview"
	"github.com/storeops/storeops/proposals"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
)

// ContentSecurityPolicy is the policy of every dashboard response: scripts,
// styles and connections only from storeops itself, no inline code, no
// framing, forms posting only back to storeops.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// Limits and lifetimes.
const (
	// SessionLifetime is how long a login lasts.
	SessionLifetime = 12 * time.Hour
	// clusterTimeout bounds the cluster reads of a store page.
	clusterTimeout = 5 * time.Second
	// proposeTimeout bounds one call of the Proposer.
	proposeTimeout = 60 * time.Second
	// maxFormBytes bounds the body of a form.
	maxFormBytes = 64 << 10
	// eventLimit is how many Kubernetes events a store page shows.
	eventLimit = 20
	// historyLimit is how many syncs the sync page shows.
	historyLimit = 20
)

// Config is what the dashboard needs. Board is required.
type Config struct {
	// Board holds the status snapshots the pages show and /events pushes.
	Board *reconcile.Board
	// Cluster reads pods, events and quota usage for the store page; when
	// nil the page says so.
	Cluster web.ClusterReader
	// Proposer opens pull requests for the create and delete forms. When
	// nil, proposing is disabled: the buttons are hidden and the form
	// routes answer 404.
	Proposer proposals.Proposer
	// Auth says who may read and who may propose.
	Auth Auth
	// Logger receives proposals and internal errors.
	Logger *slog.Logger
	// Secure marks the cookies Secure; set it when clients reach storeops
	// over TLS (directly or through a proxy).
	Secure bool
	// SessionKey signs sessions and CSRF tokens. Give every replica the
	// same key (at least 32 bytes) so that a login holds across replicas
	// and restarts; when empty, a random key is made at start.
	SessionKey []byte
	// TrustedProxies are the addresses of the proxies in front of
	// storeops (an ingress controller). Only from them are
	// X-Forwarded-For (the client address, for login rate limits and
	// logs), X-Forwarded-Proto (TLS in front: Secure __Host- cookies and
	// HSTS) and Auth.TrustedHeader believed.
	TrustedProxies []netip.Prefix
	// IdleTimeout ends a session unused this long; 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Revocations records logouts. With several replicas give every one
	// the same shared store (sessions.Revocations), so that a session
	// logged out on one is refused by all; nil keeps them in this
	// replica's memory only.
	Revocations Revocations
}

// Auth configures authentication. Proposing always requires an
// authenticated user; reading requires one when ReadRequiresAuth is set.
type Auth struct {
	// ReadRequiresAuth makes every page require an authenticated user.
	ReadRequiresAuth bool
	// Users are the static users of the login form: name to bcrypt hash,
	// as LoadUsers reads them.
	Users map[string][]byte
	// Tokens maps a bearer token (Authorization: Bearer <token>) to the
	// user it authenticates.
	Tokens map[string]string
	// TrustedHeader names a request header set by an authenticating proxy
	// in front of storeops, such as X-Forwarded-User; "" turns it off.
	// Enable it only when every request passes through that proxy, which
	// must overwrite the header: anyone who reaches storeops directly can
	// set it.
	TrustedHeader string
}

// dashboard serves the pages. Create it with New.
type dashboard struct {
	cfg     Config
	log     *slog.Logger
	key     []byte // signs sessions and CSRF tokens
	tokens  map[[32]byte]string
	pages   map[string]*pageTemplate
	static  *staticFiles
	limiter *limiter // login attempts per client address prefix
	users   *limiter // login attempts per user name
	revoked Revocations
	// proposals caches the forge's pull requests for the proposals page.
	proposals proposalCache
	streams   chan struct{} // bounds the concurrent /events streams
	// previews returns the plan previews of open pull requests (see
	// Dashboard.SetPreviews); nil: none.
	previews atomic.Pointer[func() []preview.Preview]
}

// maxStreams bounds the concurrent live-update streams.
const maxStreams = 256

// New checks cfg and returns the dashboard handler, to be mounted at "/":
// server.Router().Mount("/", h). It refuses a missing Board and invalid
// users or tokens. Without Config.SessionKey the key that signs sessions
// is random and lives only in memory, so a restart logs everyone out.
func New(cfg Config) (*Dashboard, error) {
	if cfg.Board == nil {
		return nil, errors.New("dashboard: Config.Board is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for u, h := range cfg.Auth.Users {
		if err := checkUser(u, h); err != nil {
			return nil, fmt.Errorf("dashboard: %w", err)
		}
	}
	tokens, err := hashTokens(cfg.Auth.Tokens)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	if cfg.Auth.TrustedHeader != "" && http.CanonicalHeaderKey(cfg.Auth.TrustedHeader) == "Authorization" {
		return nil, errors.New("dashboard: Auth.TrustedHeader cannot be Authorization")
	}
	if cfg.Auth.TrustedHeader != "" && len(cfg.TrustedProxies) == 0 {
		return nil, errors.New("dashboard: Auth.TrustedHeader needs TrustedProxies: anyone who reaches storeops directly could set the header")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	static, err := loadStatic()
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	d := &dashboard{
		cfg: cfg, log: cfg.Logger, key: make([]byte, 32), tokens: tokens, pages: pages,
		static: static, limiter: newLimiter(prefixBurst, prefixEvery), users: newLimiter(loginBurst, loginEvery),
		streams: make(chan struct{}, maxStreams), revoked: cfg.Revocations,
	}
	if d.revoked == nil {
		d.revoked = &memoryRevocations{}
	}
	switch {
	case len(cfg.SessionKey) >= 32:
		d.key = append([]byte(nil), cfg.SessionKey...)
	case len(cfg.SessionKey) > 0:
		return nil, errors.New("dashboard: the session key must be at least 32 bytes")
	default:
		if _, err := rand.Read(d.key); err != nil {
			return nil, fmt.Errorf("dashboard: session key: %w", err)
		}
	}
	return &Dashboard{Router: d.routes(), d: d}, nil
}

// Dashboard is the dashboard's handler, to be mounted at "/". It is a
// chi.Router so that a parent router sees its routes (HEAD is answered
// like GET through the mount).
type Dashboard struct {
	chi.Router
	d *dashboard
}

// GuardAPI applies the dashboard's read rule to another handler, such as
// the JSON API: with Auth.ReadRequiresAuth, a request without a valid
// session cookie, bearer token or trusted header is answered 401 in JSON.
// Without it, next serves everyone.
func (h *Dashboard) GuardAPI(next http.Handler) http.Handler {
	if !h.d.cfg.Auth.ReadRequiresAuth {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, _ := h.d.authenticate(r); id.User == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="storeops"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"authentication required: log in to the dashboard or send Authorization: Bearer <token>"}` + "\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (d *dashboard) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(middleware.GetHead, securityHeaders, d.identify)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		d.fail(w, r, http.StatusNotFound, "There is no page at this address.")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		d.fail(w, r, http.StatusMethodNotAllowed, "This page does not accept "+r.Method+" requests.")
	})
	r.Get("/static/{file}", d.static.serve)

	r.Get("/login", d.loginForm)
	r.With(d.checkCSRF).Post("/login", d.login)
	r.Get("/logout", d.logoutForm)
	r.With(d.checkCSRF).Post("/logout", d.logout)

	r.Group(func(r chi.Router) {
		r.Use(d.readAuth)
		r.Get("/", d.storesPage)
		r.Get("/events", d.events)
		r.Get("/sync", d.syncPage)
		r.Get("/stores/{name}", d.storePage)
		if d.cfg.Proposer != nil {
			r.With(d.requireLogin).Get("/proposals", d.proposalsPage)
			r.Get("/new-store", d.createForm)
			r.With(d.checkCSRF).Post("/new-store", d.create)
			r.With(d.checkCSRF).Post("/stores/{name}/delete", d.remove)
		}
	})
	return r
}

// securityHeaders sets the headers of every dashboard response, replacing
// the JSON API's stricter CSP with the one pages need. Pages show user
// data, so nothing but the static files may be cached.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// render executes the page template name with data into a buffer and
// writes it with status, so that a template error never sends half a page.
func (d *dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, data *view) {
	t, ok := d.pages[name]
	if !ok {
		d.internal(w, r, fmt.Errorf("no page template %q", name))
		return
	}
	d.fill(w, r, data)
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		d.internal(w, r, fmt.Errorf("render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail answers with an error page carrying msg, which must be safe to show.
func (d *dashboard) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	d.render(w, r, status, "error.html", &view{Title: http.StatusText(status), Data: errorPage{Status: status, Message: msg}})
}

// internal logs err and answers 500 without its details.
func (d *dashboard) internal(w http.ResponseWriter, r *http.Request, err error) {
	d.log.ErrorContext(r.Context(), "dashboard request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte("<!doctype html><title>Internal error</title><p>Internal error; the log has the details.</p>\n"))
}
