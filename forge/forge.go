// Package forge opens and lists pull requests on the Git host of the
// config repository: Gitea, GitHub or GitLab (where they are called merge
// requests). It speaks each host's REST API with net/http and
// encoding/json, and only the few calls storeops needs.
//
// Errors wrap ErrAuth, ErrNotFound or ErrConflict when the host answered
// with the matching status, so callers can tell "fix the token" from
// "retry later". The token is sent in a header only and never appears in
// an error or a log line.
package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The kinds of forge.
const (
	KindGitea  = "gitea"
	KindGitHub = "github"
	KindGitLab = "gitlab"
)

// Default API roots, used when Config.BaseURL is empty.
const (
	DefaultGitHubURL = "https://api.github.com"
	DefaultGitLabURL = "https://gitlab.com"
)

// DefaultTimeout bounds each API call when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Config says which forge to talk to and how.
type Config struct {
	// Kind is KindGitea, KindGitHub or KindGitLab.
	Kind string
	// BaseURL is the API root: https://api.github.com (or
	// https://host/api/v3 for GitHub Enterprise), https://gitlab.com, or
	// the Gitea server's URL. GitLab's /api/v4, Gitea's /api/v1 and, for
	// a GitHub host not named api.* (GitHub Enterprise Server), /api/v3
	// are added when missing. Empty means the public GitHub or GitLab.
	// It must be https unless the host is a loopback address: the token
	// is never sent over plain http to another host.
	BaseURL string
	// Repo is "owner/name", or the project's full path on GitLab
	// ("group/subgroup/name").
	Repo string
	// Token is the access token; it needs the right to read and open
	// pull requests.
	Token string
	// HTTPClient makes the requests; a client with DefaultTimeout when
	// nil. Redirects to another host are refused either way, so the
	// token never leaves the forge.
	HTTPClient *http.Client
	// Timeout bounds each API call; DefaultTimeout when zero.
	Timeout time.Duration
}

// PullRequest is a pull request (GitHub, Gitea) or merge request
// (GitLab).
type PullRequest struct {
	// Number is the number people see: #12 or !12.
	Number int
	// URL is the web page of the pull request.
	URL string
	// State is "open", "merged" or "closed".
	State string
	// Head is the branch with the change, Base the branch it goes into.
	// The head branch of a pull request from a fork is a branch of the
	// fork: a branch of the repository that has the same name is
	// another one.
	Head, Base string
	// Fork is true when the head branch is in another repository than
	// the base (a fork, or one deleted since): Head is then no branch of
	// the repository.
	Fork bool
	// HeadRef is the ref of the repository (the base) that the forge
	// keeps at the head commit of the pull request, from a fork or not:
	// refs/pull/<N>/head on GitHub and Gitea,
	// refs/merge-requests/<N>/head on GitLab.
	HeadRef     string
	Title, Body string
	Created     time.Time
}

// Pull request states.
const (
	StateOpen   = "open"
	StateMerged = "merged"
	StateClosed = "closed"
)

// Forge is the pull request API of one repository.
type Forge interface {
	// FindOpen returns the open pull request from the branch head of the
	// repository itself (not of a fork) into base, or nil.
	FindOpen(ctx context.Context, head, base string) (*PullRequest, error)
	// Open opens a pull request from head into base. When the forge
	// answers that one is already open, Open returns that one.
	Open(ctx context.Context, head, base, title, body string) (*PullRequest, error)
	// List returns pull requests (any state) whose head branch starts with
	// prefix, newest first, at most limit (DefaultListLimit when limit <=
	// 0), those from forks included (with Fork set). It looks at the
	// newest MaxListScan pull requests of the repository only.
	List(ctx context.Context, prefix string, limit int) ([]PullRequest, error)
}

// Bounds of List.
const (
	DefaultListLimit = 50
	MaxListScan      = 1000
)

// Errors wrapped by the clients; test them with errors.Is.
var (
	// ErrConfig means Config is invalid.
	ErrConfig = errors.New("invalid forge configuration")
	// ErrAuth means the forge refused the token (401, or 403 for a
	// token that lacks a permission).
	ErrAuth = errors.New("forge refused the token")
	// ErrNotFound means the repository (or a pull request) does not
	// exist, or the token may not see it (404).
	ErrNotFound = errors.New("not found on the forge")
	// ErrConflict means the forge refused the change as it stands (409,
	// 422, and GitLab's 400 for validation errors): for example no
	// commits between the branches.
	ErrConflict = errors.New("forge refused the change")
	// ErrRateLimited means the forge asks to slow down (429, or a 403
	// with X-RateLimit-Remaining: 0 or Retry-After); retry later, after
	// APIError.RetryAfter when it is set.
	ErrRateLimited = errors.New("forge rate limit exceeded")
)

// APIError is a failed API call: the request, the status and the
// forge's message (shortened). Its Unwrap returns ErrAuth, ErrNotFound,
// ErrConflict or ErrRateLimited when the status maps to one.
type APIError struct {
	Kind    string
	Method  string
	Path    string // without the query
	Status  int
	Message string
	// RateLimited is set when the forge said to slow down: a 429, or a
	// 403 with X-RateLimit-Remaining: 0 or a Retry-After header
	// (GitHub's primary and secondary rate limits). The message text is
	// not looked at.
	RateLimited bool
	// RetryAfter is how long the forge asked to wait, from Retry-After
	// or X-RateLimit-Reset (RateLimit-Reset on GitLab); zero when it did
	// not say.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s %s: %d %s", e.Kind, e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if err := e.Unwrap(); err != nil {
		msg += " (" + err.Error()
		if e.RetryAfter > 0 {
			msg += fmt.Sprintf("; retry after %s", e.RetryAfter)
		}
		msg += ")"
	}
	return msg
}

// Unwrap maps the status to one of the package's errors.
func (e *APIError) Unwrap() error {
	if e.RateLimited {
		return ErrRateLimited
	}
	switch e.Status {
	case http.StatusTooManyRequests:
		return ErrRateLimited
	case http.StatusForbidden, http.StatusUnauthorized:
		return ErrAuth
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict, http.StatusUnprocessableEntity:
		return ErrConflict
	case http.StatusBadRequest:
		// GitLab answers validation errors with 400 where GitHub and
		// Gitea answer 422.
		if e.Kind == KindGitLab {
			return ErrConflict
		}
	}
	return nil
}

// rateLimit reads the rate-limit headers of an error answer received at
// now: GitHub's and Gitea's X-RateLimit-*, GitLab's RateLimit-*, and
// Retry-After.
func (e *APIError) rateLimit(h http.Header, now time.Time) {
	remaining := firstHeader(h, "X-RateLimit-Remaining", "RateLimit-Remaining")
	retry := strings.TrimSpace(h.Get("Retry-After"))
	switch {
	case e.Status == http.StatusTooManyRequests:
		e.RateLimited = true
	case e.Status == http.StatusForbidden && (remaining == "0" || retry != ""):
		e.RateLimited = true
	}
	if !e.RateLimited {
		return
	}
	if retry != "" {
		if secs, err := strconv.Atoi(retry); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		} else if t, err := http.ParseTime(retry); err == nil && t.After(now) {
			e.RetryAfter = t.Sub(now)
		}
		return
	}
	if remaining == "0" {
		if reset, err := strconv.ParseInt(firstHeader(h, "X-RateLimit-Reset", "RateLimit-Reset"), 10, 64); err == nil {
			if t := time.Unix(reset, 0); t.After(now) {
				e.RetryAfter = t.Sub(now).Round(time.Second)
			}
		}
	}
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(h.Get(n)); v != "" {
			return v
		}
	}
	return ""
}

// New checks cfg and returns the client of its kind. Nothing is contacted.
func New(cfg Config) (Forge, error) {
	if cfg.Token == "" {
		return nil, fmt.Errorf("%w: no token", ErrConfig)
	}
	if strings.ContainsAny(cfg.Token, "\r\n") {
		return nil, fmt.Errorf("%w: the token contains a line break", ErrConfig)
	}
	repo := strings.Trim(cfg.Repo, "/")
	parts := strings.Split(repo, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return nil, fmt.Errorf("%w: repo %q: want owner/name", ErrConfig, cfg.Repo)
		}
	}
	switch {
	case len(parts) < 2:
		return nil, fmt.Errorf("%w: repo %q: want owner/name", ErrConfig, cfg.Repo)
	case len(parts) > 2 && cfg.Kind != KindGitLab:
		return nil, fmt.Errorf("%w: repo %q: want owner/name", ErrConfig, cfg.Repo)
	}
	base := cfg.BaseURL
	var suffix string
	switch cfg.Kind {
	case KindGitHub:
		if base == "" {
			base = DefaultGitHubURL
		}
	case KindGitLab:
		if base == "" {
			base = DefaultGitLabURL
		}
		suffix = "/api/v4"
	case KindGitea:
		if base == "" {
			return nil, fmt.Errorf("%w: a Gitea forge needs its URL", ErrConfig)
		}
		suffix = "/api/v1"
	default:
		return nil, fmt.Errorf("%w: kind %q: want %s, %s or %s", ErrConfig, cfg.Kind, KindGitea, KindGitHub, KindGitLab)
	}
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: URL %q: %w", ErrConfig, base, err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return nil, fmt.Errorf("%w: URL %q: want http(s)://host", ErrConfig, base)
	case u.User != nil:
		return nil, fmt.Errorf("%w: URL must not hold credentials; give the token", ErrConfig)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%w: URL %q: no query or fragment", ErrConfig, base)
	case u.Scheme == "http" && !IsLoopback(u.Hostname()):
		return nil, fmt.Errorf("%w: URL %q: refusing to send the token over plain http to %s; use https (plain http is allowed only to a loopback address)", ErrConfig, base, u.Hostname())
	}
	if cfg.Kind == KindGitHub && githubEnterprise(u.Hostname()) {
		// As go-github's WithEnterpriseURLs: GitHub Enterprise Server
		// serves the API under /api/v3.
		suffix = "/api/v3"
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), suffix) + suffix
	u.RawPath = ""
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c := &client{kind: cfg.Kind, base: u, token: cfg.Token, repo: repo, timeout: timeout, http: httpClient(cfg.HTTPClient, u.Host)}
	switch cfg.Kind {
	case KindGitHub:
		c.auth = func(h http.Header) {
			h.Set("Authorization", "Bearer "+cfg.Token)
			h.Set("Accept", "application/vnd.github+json")
			h.Set("X-GitHub-Api-Version", "2022-11-28")
		}
		return newGitHub(c, parts[0], parts[1]), nil
	case KindGitLab:
		c.auth = func(h http.Header) { h.Set("PRIVATE-TOKEN", cfg.Token) }
		return newGitLab(c), nil
	default:
		c.auth = func(h http.Header) { h.Set("Authorization", "token "+cfg.Token) }
		return newGitea(c, parts[0], parts[1]), nil
	}
}

// githubEnterprise reports whether host is a GitHub Enterprise Server,
// whose API is under /api/v3, rather than api.github.com or an API host
// of GitHub Enterprise Cloud (api.<name>.ghe.com), served at the root.
func githubEnterprise(host string) bool {
	host = strings.ToLower(host)
	return !strings.HasPrefix(host, "api.") && !strings.Contains(host, ".api.")
}

// IsLoopback reports whether host (a name or an IP address, without a
// port) is "localhost" or a loopback address: the only hosts a token may
// be sent to over plain http.
func IsLoopback(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// httpClient returns a copy of hc (or a new client) that refuses
// redirects to another host than host: the token travels in headers
// that net/http would forward.
func httpClient(hc *http.Client, host string) *http.Client {
	var c http.Client
	if hc != nil {
		c = *hc
	} else {
		c.Timeout = DefaultTimeout
	}
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != host {
			return fmt.Errorf("refusing a redirect to another host (%s)", req.URL.Host)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		return nil
	}
	return &c
}
