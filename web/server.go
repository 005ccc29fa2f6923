package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/metrics"
	"github.com/storeops/storeops/reconcile"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes   = gitsource.DefaultMaxWebhookBody // GitHub's limit is gitsource.GitHubMaxWebhookBody
	DefaultRequestTimeout = 15 * time.Second
)

// Config is what a Server needs. Board is required, and Trigger is when
// Webhooks is not empty; the rest is optional.
type Config struct {
	// Board holds the status snapshots the API serves; it is only read.
	Board *reconcile.Board
	// Trigger asks for a sync. It must not block and should coalesce
	// requests; the webhook handlers call it and answer at once.
	Trigger func(reason string)
	// PullRequest, when set, is called (it must not block) for each
	// authenticated pull request or merge request event, which never
	// syncs: storeops refreshes its plan previews on it.
	PullRequest func()
	// Branch is the tracked branch: only pushes to it trigger a sync.
	Branch string
	// Webhooks are the enabled receivers, one per provider, served at
	// /hooks/{provider}.
	Webhooks []Webhook
	// Cluster reads pods, events and quota usage of store namespaces.
	// When nil, the endpoints that need it answer 503.
	Cluster ClusterReader
	// Metrics is served at /metrics and counts webhooks. When nil,
	// /metrics is not served.
	Metrics *metrics.Metrics
	// Logger receives error logs and, at debug level, the access log.
	Logger *slog.Logger
	// Ready reports readiness for /readyz: nil when ready. A nil Ready is
	// always ready.
	Ready func() error
	// MaxBodyBytes limits the webhook bodies of every provider. When <=
	// 0, each provider has its own limit, gitsource.MaxWebhookBody: 25
	// MiB for GitHub (streamed, not held in memory), 1 MiB for the
	// others.
	MaxBodyBytes int64
	// DeliveryMemory is how many webhook delivery IDs are remembered to
	// acknowledge a delivery received again without triggering
	// (gitsource.DefaultDeliveryMemory when <= 0).
	DeliveryMemory int
	// RequestTimeout bounds the API handlers (DefaultRequestTimeout when
	// <= 0).
	RequestTimeout time.Duration
	// TrustProxyHeaders makes the server take the client address from
	// X-Forwarded-For, X-Real-IP or True-Client-IP, and the request ID
	// from X-Request-Id. Enable it only behind a proxy that sets those
	// headers itself; otherwise any client can forge them in the logs.
	TrustProxyHeaders bool
	// APIGuard, when set, wraps every /api/v1 route, e.g. to require the
	// dashboard's login (dashboard.Dashboard.GuardAPI).
	APIGuard func(http.Handler) http.Handler
}

// Webhook is an enabled push receiver. Secret is the shared secret
// configured at the forge; it must not be empty.
type Webhook struct {
	Provider gitsource.Provider
	Secret   []byte
}

// Server serves the read-only JSON API under /api/v1, the webhook
// receivers under /hooks, /metrics, /healthz and /readyz. Create it with
// New.
type Server struct {
	cfg    Config
	log    *slog.Logger
	hooks  map[gitsource.Provider][]byte
	seen   *gitsource.Deliveries
	router chi.Router

	listMu   sync.Mutex
	listSnap *reconcile.Snapshot // the snapshot listBody encodes
	listBody []byte              // GET /api/v1/stores without filters
	listGzip []byte              // listBody gzip-compressed
	listTag  string              // entity tag of listBody's content (see listETag)
}

// New checks cfg and returns a Server. It refuses a missing Board, a
// webhook with an empty secret, an unknown or repeated provider, and
// webhooks without Trigger.
func New(cfg Config) (*Server, error) {
	if cfg.Board == nil {
		return nil, errors.New("web: Config.Board is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	s := &Server{cfg: cfg, log: cfg.Logger, hooks: map[gitsource.Provider][]byte{}, seen: gitsource.NewDeliveries(cfg.DeliveryMemory)}
	for _, h := range cfg.Webhooks {
		p, err := gitsource.ParseProvider(string(h.Provider))
		if err != nil || p != h.Provider {
			return nil, fmt.Errorf("web: webhook provider %q: want one of github, gitlab, gitea, generic", h.Provider)
		}
		if len(h.Secret) == 0 {
			return nil, fmt.Errorf("web: webhook %s: the secret is empty", p)
		}
		if _, dup := s.hooks[p]; dup {
			return nil, fmt.Errorf("web: webhook %s is configured twice", p)
		}
		s.hooks[p] = append([]byte(nil), h.Secret...)
	}
	if len(s.hooks) > 0 && cfg.Trigger == nil {
		return nil, errors.New("web: webhooks need Config.Trigger")
	}
	if len(s.hooks) > 0 && cfg.Branch == "" {
		return nil, errors.New("web: webhooks need Config.Branch")
	}
	s.router = s.routes()
	return s, nil
}

// Handler returns the handler of every route.
func (s *Server) Handler() http.Handler { return s.router }

// Router returns the root router, to add routes before serving, such as
// a dashboard: s.Router().Mount("/", dashboard). Routes added there get
// the same middleware: request IDs, panic recovery, access log and
// security headers. The default Content-Security-Policy is the strict
// one for JSON; an HTML handler replaces it with its own by setting the
// header before writing.
func (s *Server) Router() chi.Router { return s.router }

// HTTPServer returns an *http.Server for addr serving s with header and
// idle timeouts set. It has no write timeout, so that long-lived
// responses (live updates of a dashboard) work; API handlers are bounded
// by Config.RequestTimeout instead.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.router,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	if s.cfg.TrustProxyHeaders {
		r.Use(proxyClientAddr)
	} else {
		r.Use(dropClientRequestID)
	}
	r.Use(middleware.RequestID, s.requestIDHeader, securityHeaders, s.accessLog, middleware.Recoverer, middleware.GetHead)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, fmt.Errorf("%w: %s", ErrNotFound, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodGet)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method " + r.Method + " not allowed"})
	})

	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", s.readyz)
	if reg := s.cfg.Metrics.Registry(); reg != nil {
		r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelError),
			Registry:          reg,
			EnableOpenMetrics: false,
		}))
	}
	r.Route("/api/v1", func(r chi.Router) {
		if s.cfg.APIGuard != nil {
			r.Use(s.cfg.APIGuard)
		}
		r.Use(timeout(s.cfg.RequestTimeout), noStore)
		r.Get("/stores", s.listStores)
		r.Route("/stores/{name}", func(r chi.Router) {
			r.Get("/", s.getStore)
			r.Get("/pods", s.storePods)
			r.Get("/events", s.storeEvents)
			r.Get("/quota", s.storeQuota)
		})
		r.Get("/syncs", s.listSyncs)
		r.Get("/status", s.status)
		r.Get("/health", s.health)
	})
	r.With(timeout(s.cfg.RequestTimeout), noStore).HandleFunc("/hooks/{provider}", s.hook)
	return r
}

// securityHeaders sets the headers every response carries. The CSP is
// the strict one for JSON; HTML handlers may replace it.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// dropClientRequestID removes a client's X-Request-Id, so that request
// IDs in logs and answers are always the server's own unless a trusted
// proxy sets them.
func dropClientRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del(middleware.RequestIDHeader)
		next.ServeHTTP(w, r)
	})
}

// requestIDHeader echoes the request ID in X-Request-Id, so that a client
// can quote it; error responses of 5xx quote it too.
func (s *Server) requestIDHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := middleware.GetReqID(r.Context()); id != "" {
			w.Header().Set(middleware.RequestIDHeader, id)
		}
		next.ServeHTTP(w, r)
	})
}

// accessLog stores the logger in the context and logs each request at
// debug level.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log := s.log.With("request", middleware.GetReqID(r.Context()))
		r = r.WithContext(context.WithValue(r.Context(), loggerKey{}, log))
		if !log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		start := time.Now()
		defer func() {
			log.LogAttrs(r.Context(), slog.LevelDebug, "http",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", ww.Status()), slog.Int("bytes", ww.BytesWritten()),
				slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr))
		}()
		next.ServeHTTP(ww, r)
	})
}

// timeout bounds the context of a request; handlers that wait on the
// cluster fail with context.DeadlineExceeded (504) when it expires.
func timeout(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// noStore keeps status answers out of caches: they change with each sync.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// writeJSON writes v as JSON with status. encoding/json escapes <, > and
// &, so that no response can be read as HTML.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"cannot encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.ready(); err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ready returns nil when Config.Ready does, or an ErrUnavailable.
func (s *Server) ready() error {
	if s.cfg.Ready == nil {
		return nil
	}
	if err := s.cfg.Ready(); err != nil {
		return fmt.Errorf("%w: not ready: %w", ErrUnavailable, err)
	}
	return nil
}

// proxyClientAddr takes the client address from the trusted proxy in front
// of storeops: X-Real-IP, or else the last (rightmost) X-Forwarded-For
// entry, the one that proxy appended; entries further left are whatever the
// client claimed and are never believed.
func proxyClientAddr(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := strings.TrimSpace(r.Header.Get("X-Real-IP"))
		if addr == "" {
			if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
				parts := strings.Split(xff[len(xff)-1], ",")
				addr = strings.TrimSpace(parts[len(parts)-1])
			}
		}
		if ip := net.ParseIP(addr); ip != nil {
			r.RemoteAddr = net.JoinHostPort(ip.String(), "0")
		}
		next.ServeHTTP(w, r)
	})
}
