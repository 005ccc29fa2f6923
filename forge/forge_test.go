package forge_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/forge"
)

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  forge.Config
		ok   bool
	}{
		{"github default URL", forge.Config{Kind: "github", Repo: "acme/config", Token: "t"}, true},
		{"gitlab nested project", forge.Config{Kind: "gitlab", Repo: "a/b/c", Token: "t"}, true},
		{"gitea", forge.Config{Kind: "gitea", BaseURL: "https://git.example/", Repo: "acme/config", Token: "t"}, true},
		{"gitea without URL", forge.Config{Kind: "gitea", Repo: "acme/config", Token: "t"}, false},
		{"unknown kind", forge.Config{Kind: "bitbucket", Repo: "acme/config", Token: "t"}, false},
		{"no token", forge.Config{Kind: "github", Repo: "acme/config"}, false},
		{"token with newline", forge.Config{Kind: "github", Repo: "acme/config", Token: "t\nX-Evil: 1"}, false},
		{"repo without owner", forge.Config{Kind: "github", Repo: "config", Token: "t"}, false},
		{"github nested repo", forge.Config{Kind: "github", Repo: "a/b/c", Token: "t"}, false},
		{"repo with dot-dot", forge.Config{Kind: "gitlab", Repo: "a/../b", Token: "t"}, false},
		{"URL with credentials", forge.Config{Kind: "gitea", BaseURL: "https://u:p@git.example", Repo: "a/b", Token: "t"}, false},
		{"URL without scheme", forge.Config{Kind: "gitea", BaseURL: "git.example", Repo: "a/b", Token: "t"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := forge.New(tt.cfg)
			if tt.ok && err != nil {
				t.Fatalf("New: %v", err)
			}
			if !tt.ok && !errors.Is(err, forge.ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
		})
	}
}

// A GitLab or Gitea URL given with its API suffix is not doubled.
func TestBaseURLSuffix(t *testing.T) {
	for _, tc := range []struct{ kind, suffix, path string }{
		{forge.KindGitLab, "/api/v4", "/api/v4/projects/a%2Fb/merge_requests"},
		{forge.KindGitea, "/api/v1", "/api/v1/repos/a/b/pulls"},
	} {
		api := newFakeAPI(t, map[string]route{"GET " + tc.path: reply(http.StatusOK, []any{})})
		for _, base := range []string{api.URL, api.URL + tc.suffix, api.URL + tc.suffix + "/"} {
			f, err := forge.New(forge.Config{Kind: tc.kind, BaseURL: base, Repo: "a/b", Token: testToken})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.List(context.Background(), "storeops/", 5); err != nil {
				t.Errorf("%s %s: %v", tc.kind, base, err)
			}
		}
	}
}

func TestRedirectToOtherHostRefused(t *testing.T) {
	other := newFakeAPI(t, map[string]route{"GET " + ghPulls: reply(http.StatusOK, []any{})})
	api := newFakeAPI(t, map[string]route{"GET " + ghPulls: func(w http.ResponseWriter, _ request) {
		// 127.0.0.1 vs localhost: another host for the client.
		w.Header().Set("Location", strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+ghPulls)
		w.WriteHeader(http.StatusFound)
	}})
	_, err := newGitHub(t, api).FindOpen(context.Background(), "x", "main")
	if err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("err = %v, want a refused redirect", err)
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	api := newFakeAPI(t, map[string]route{"GET " + ghPulls: func(w http.ResponseWriter, _ request) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		writeJSON(w, http.StatusOK, []any{})
	}})
	defer close(release)
	f, err := forge.New(forge.Config{Kind: forge.KindGitHub, BaseURL: api.URL, Repo: "acme/config", Token: testToken,
		Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.FindOpen(context.Background(), "x", "main")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
}

func TestAnswerTooLarge(t *testing.T) {
	api := newFakeAPI(t, map[string]route{"GET " + ghPulls: func(w http.ResponseWriter, _ request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("[" + strings.Repeat(" ", 9<<20) + "]"))
	}})
	_, err := newGitHub(t, api).FindOpen(context.Background(), "x", "main")
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v, want a refused large answer", err)
	}
}

// An error answer that echoes the token (some proxies do) is redacted
// and shortened.
func TestErrorRedactsToken(t *testing.T) {
	api := newFakeAPI(t, map[string]route{"POST " + ghPulls: reply(http.StatusForbidden,
		`{"message":"token `+testToken+` lacks scope `+strings.Repeat("x", 2000)+`"}`)})
	_, err := newGitHub(t, api).Open(context.Background(), "h", "main", "t", "b")
	if !errors.Is(err, forge.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), testToken) || len(err.Error()) > 500 {
		t.Errorf("error not redacted or not shortened: %v", err)
	}
}

// Rate limits are read from the headers, as GitHub documents them
// (X-RateLimit-Remaining: 0 for the primary limit, Retry-After for the
// secondary ones), not from the message. Before, a 403 whose message did
// not say "rate limit" was taken for a refused token, and one that did
// say it for a rate limit whatever the headers.
func TestRateLimit(t *testing.T) {
	reset := time.Now().Add(90 * time.Second).Unix()
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   error
		retry  time.Duration // 0: not checked
	}{
		{name: "primary limit", status: http.StatusForbidden, body: `{"message":"Forbidden"}`,
			header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": fmt.Sprint(reset)}, want: forge.ErrRateLimited, retry: 90 * time.Second},
		{name: "secondary limit", status: http.StatusForbidden, body: `{"message":"You have exceeded a secondary rate limit."}`,
			header: map[string]string{"Retry-After": "60", "X-RateLimit-Remaining": "4990"}, want: forge.ErrRateLimited, retry: time.Minute},
		{name: "429", status: http.StatusTooManyRequests, body: `{"message":"Too Many Requests"}`,
			header: map[string]string{"Retry-After": "7"}, want: forge.ErrRateLimited, retry: 7 * time.Second},
		{name: "GitLab headers", status: http.StatusTooManyRequests, body: `Retry later`,
			header: map[string]string{"RateLimit-Remaining": "0"}, want: forge.ErrRateLimited},
		{name: "missing permission, with budget left", status: http.StatusForbidden, body: `{"message":"Must have admin rights to Repository."}`,
			header: map[string]string{"X-RateLimit-Remaining": "4999"}, want: forge.ErrAuth},
		{name: "message alone is not a rate limit", status: http.StatusForbidden, body: `{"message":"API rate limit exceeded for user ID 1."}`,
			header: map[string]string{"X-RateLimit-Remaining": "12"}, want: forge.ErrAuth},
	} {
		api := newFakeAPI(t, map[string]route{"GET " + ghPulls: func(w http.ResponseWriter, _ request) {
			for k, v := range tc.header {
				w.Header().Set(k, v)
			}
			writeJSON(w, tc.status, tc.body)
		}})
		_, err := newGitHub(t, api).FindOpen(context.Background(), "x", "main")
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
			continue
		}
		var apiErr *forge.APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("%s: %T is not an *APIError", tc.name, err)
		}
		if tc.retry != 0 && (apiErr.RetryAfter < tc.retry-2*time.Second || apiErr.RetryAfter > tc.retry) {
			t.Errorf("%s: RetryAfter = %s, want %s", tc.name, apiErr.RetryAfter, tc.retry)
		}
	}
}

// A GitHub Enterprise Server URL given without /api/v3 gets it, as
// go-github's WithEnterpriseURLs does; api.github.com and GitHub
// Enterprise Cloud's api.<name>.ghe.com are served at the root. Before,
// https://github.example.com led to "404 Not Found" on every call.
func TestGitHubEnterpriseBaseURL(t *testing.T) {
	api := newFakeAPI(t, map[string]route{"GET " + ghPulls: reply(http.StatusOK, []any{})})
	for _, base := range []string{api.URL, api.URL + "/", api.URL + "/api/v3", api.URL + "/api/v3/"} {
		f := mustNew(t, forge.Config{Kind: forge.KindGitHub, BaseURL: base, Repo: "acme/config", Token: testToken})
		if _, err := f.FindOpen(context.Background(), "x", "main"); err != nil {
			t.Errorf("%s: %v", base, err)
		}
	}
	for base, want := range map[string]string{
		"":                                   "https://api.github.com/repos/acme/config/pulls",
		"https://api.github.com/":            "https://api.github.com/repos/acme/config/pulls",
		"https://api.acme.ghe.com":           "https://api.acme.ghe.com/repos/acme/config/pulls",
		"https://github.acme.example":        "https://github.acme.example/api/v3/repos/acme/config/pulls",
		"https://github.acme.example/api/v3": "https://github.acme.example/api/v3/repos/acme/config/pulls",
	} {
		var got string
		hc := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			got = r.URL.Scheme + "://" + r.URL.Host + r.URL.Path
			return nil, errors.New("no network in this test")
		})}
		f := mustNew(t, forge.Config{Kind: forge.KindGitHub, BaseURL: base, Repo: "acme/config", Token: testToken, HTTPClient: hc})
		_, _ = f.FindOpen(context.Background(), "x", "main")
		if got != want {
			t.Errorf("base %q: asked %s, want %s", base, got, want)
		}
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The token never goes over plain http, except to a loopback address.
// Before, any http:// URL was accepted.
func TestPlainHTTPOnlyToLoopback(t *testing.T) {
	for _, kind := range []string{forge.KindGitHub, forge.KindGitLab, forge.KindGitea} {
		for base, ok := range map[string]bool{
			"http://git.example.com":  false,
			"http://10.0.0.8:3000":    false,
			"http://[fe80::1]:3000":   false,
			"http://127.0.0.1:3000":   true,
			"http://127.8.9.10":       true,
			"http://localhost:3000/":  true,
			"http://[::1]:3000":       true,
			"https://git.example.com": true,
		} {
			_, err := forge.New(forge.Config{Kind: kind, BaseURL: base, Repo: "acme/config", Token: testToken})
			switch {
			case ok && err != nil:
				t.Errorf("%s %s: %v", kind, base, err)
			case !ok && (!errors.Is(err, forge.ErrConfig) || !strings.Contains(err.Error(), "plain http")):
				t.Errorf("%s %s: err = %v, want ErrConfig about plain http", kind, base, err)
			case err != nil && strings.Contains(err.Error(), testToken):
				t.Errorf("%s %s: the token is in the error", kind, base)
			}
		}
	}
	if !forge.IsLoopback("LOCALHOST") || !forge.IsLoopback("::ffff:127.0.0.1") || forge.IsLoopback("localhost.example.com") || forge.IsLoopback("") {
		t.Error("IsLoopback")
	}
}
