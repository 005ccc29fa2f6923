package forge_test

import (
	"context"
	"errors"
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

func TestRateLimit(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   error
	}{
		{http.StatusForbidden, `{"message":"API rate limit exceeded for user ID 1."}`, forge.ErrRateLimited},
		{http.StatusTooManyRequests, `{"message":"Too Many Requests"}`, forge.ErrRateLimited},
		{http.StatusForbidden, `{"message":"Must have admin rights to Repository."}`, forge.ErrAuth},
	} {
		api := newFakeAPI(t, map[string]route{"GET " + ghPulls: reply(tc.status, tc.body)})
		_, err := newGitHub(t, api).FindOpen(context.Background(), "x", "main")
		if !errors.Is(err, tc.want) {
			t.Errorf("%d %s: err = %v, want %v", tc.status, tc.body, err, tc.want)
		}
	}
}
