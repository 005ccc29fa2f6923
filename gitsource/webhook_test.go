package gitsource_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/storeops/storeops/gitsource"
)

var (
	hookSecret = []byte("webhook-secret")
	hookSHA    = "0123456789abcdef0123456789abcdef01234567"
	hookBody   = `{"ref":"refs/heads/main","before":"` + strings.Repeat("1", 40) + `","after":"` + hookSHA + `","commits":[]}`
)

func sign(secret []byte, body string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

// request builds a valid push request for p; edit changes it.
func request(p gitsource.Provider, body string, edit func(*http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/"+string(p), strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	switch p {
	case gitsource.GitHub:
		r.Header.Set(gitsource.HeaderGitHubEvent, "push")
		r.Header.Set(gitsource.HeaderGitHubSignature, "sha256="+sign(hookSecret, body))
	case gitsource.GitLab:
		r.Header.Set(gitsource.HeaderGitLabEvent, "Push Hook")
		r.Header.Set(gitsource.HeaderGitLabToken, string(hookSecret))
	case gitsource.Gitea:
		r.Header.Set(gitsource.HeaderGiteaEvent, "push")
		r.Header.Set(gitsource.HeaderGiteaSignature, sign(hookSecret, body))
	case gitsource.Generic:
		r.Header.Set(gitsource.HeaderStoreopsSignature, "sha256="+sign(hookSecret, body))
	}
	if edit != nil {
		edit(r)
	}
	return r
}

// authHeader is the header carrying p's signature or token.
func authHeader(p gitsource.Provider) string {
	return map[gitsource.Provider]string{
		gitsource.GitHub:  gitsource.HeaderGitHubSignature,
		gitsource.GitLab:  gitsource.HeaderGitLabToken,
		gitsource.Gitea:   gitsource.HeaderGiteaSignature,
		gitsource.Generic: gitsource.HeaderStoreopsSignature,
	}[p]
}

func eventHeader(p gitsource.Provider) string {
	return map[gitsource.Provider]string{
		gitsource.GitHub: gitsource.HeaderGitHubEvent,
		gitsource.GitLab: gitsource.HeaderGitLabEvent,
		gitsource.Gitea:  gitsource.HeaderGiteaEvent,
	}[p]
}

type hookCase struct {
	name   string
	body   string // hookBody when empty
	secret []byte // hookSecret when nil
	max    int64
	edit   func(*http.Request)
	want   error // nil: accepted
}

func TestParsePush(t *testing.T) {
	for _, p := range gitsource.Providers {
		t.Run(string(p), func(t *testing.T) {
			hdr := authHeader(p)
			wrongAuth := func(r *http.Request) { r.Header.Set(hdr, request(p, hookBody+" ", nil).Header.Get(hdr)) }
			if p == gitsource.GitLab {
				wrongAuth = func(r *http.Request) { r.Header.Set(hdr, "webhook-secreT") }
			}
			tests := []hookCase{
				{name: "valid"},
				{name: "missing signature", edit: func(r *http.Request) { r.Header.Del(hdr) }, want: gitsource.ErrUnauthorized},
				{name: "wrong signature", edit: wrongAuth, want: gitsource.ErrUnauthorized},
				{name: "truncated signature", edit: func(r *http.Request) { v := r.Header.Get(hdr); r.Header.Set(hdr, v[:len(v)-2]) }, want: gitsource.ErrUnauthorized},
				{name: "other secret", secret: []byte("other"), want: gitsource.ErrUnauthorized},
				{name: "empty secret", secret: []byte{}, want: gitsource.ErrUnauthorized},
				{name: "oversized body", max: int64(len(hookBody) - 1), want: gitsource.ErrTooLarge},
				{name: "oversized body, no length", max: int64(len(hookBody) - 1), edit: func(r *http.Request) { r.ContentLength = -1 }, want: gitsource.ErrTooLarge},
				{name: "wrong method", edit: func(r *http.Request) { r.Method = http.MethodGet }, want: gitsource.ErrMethod},
				{name: "malformed JSON", body: `{"ref":`, want: gitsource.ErrBadRequest},
				{name: "no ref", body: `{"after":"` + hookSHA + `"}`, want: gitsource.ErrBadRequest},
				{name: "bad after", body: `{"ref":"refs/heads/main","after":"xyz"}`, want: gitsource.ErrBadRequest},
				{name: "tag push", body: `{"ref":"refs/tags/v1","after":"` + hookSHA + `"}`, want: gitsource.ErrIgnoredEvent},
			}
			if p != gitsource.GitLab { // GitLab sends a token, not a signature of the body
				tests = append(tests, hookCase{name: "tampered body", edit: func(r *http.Request) {
					sig := r.Header.Get(hdr)
					*r = *request(p, strings.Replace(hookBody, "main", "prod", 1), nil)
					r.Header.Set(hdr, sig)
				}, want: gitsource.ErrUnauthorized})
			}
			if ev := eventHeader(p); ev != "" {
				tests = append(tests,
					hookCase{name: "ping", edit: func(r *http.Request) { r.Header.Set(ev, "ping") }, want: gitsource.ErrIgnoredEvent},
					hookCase{name: "no event", edit: func(r *http.Request) { r.Header.Del(ev) }, want: gitsource.ErrBadRequest},
				)
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					body := hookBody
					if tc.body != "" {
						body = tc.body
					}
					secret := hookSecret
					if tc.secret != nil {
						secret = tc.secret
					}
					r := request(p, body, tc.edit)
					push, err := gitsource.ParsePush(p, secret, r, tc.max)
					if tc.want == nil {
						if err != nil {
							t.Fatalf("ParsePush: %v", err)
						}
						want := gitsource.Push{Provider: p, Branch: "main", Revision: hookSHA}
						if diff := cmp.Diff(want, push); diff != "" {
							t.Fatalf("Push (-want +got):\n%s", diff)
						}
						if !push.Tracks("main") || push.Tracks("prod") || push.Deleted() {
							t.Fatal("Tracks/Deleted wrong")
						}
						return
					}
					if !errors.Is(err, tc.want) {
						t.Fatalf("ParsePush error = %v, want %v", err, tc.want)
					}
					if push != (gitsource.Push{}) {
						t.Fatalf("ParsePush returned %+v with an error", push)
					}
				})
			}
		})
	}
}

func TestParsePushUnauthenticatedPingIsRefused(t *testing.T) {
	r := request(gitsource.GitHub, `{"zen":"x"}`, func(r *http.Request) {
		r.Header.Set(gitsource.HeaderGitHubEvent, "ping")
		r.Header.Del(gitsource.HeaderGitHubSignature)
	})
	if _, err := gitsource.ParsePush(gitsource.GitHub, hookSecret, r, 0); !errors.Is(err, gitsource.ErrUnauthorized) {
		t.Fatalf("ParsePush = %v, want ErrUnauthorized", err)
	}
}

func TestParsePushBranchDeleted(t *testing.T) {
	body := `{"ref":"refs/heads/feature/x","after":"` + strings.Repeat("0", 40) + `"}`
	push, err := gitsource.ParsePush(gitsource.Generic, hookSecret, request(gitsource.Generic, body, nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	if push.Branch != "feature/x" || !push.Deleted() {
		t.Fatalf("Push = %+v", push)
	}
}

func TestHTTPStatus(t *testing.T) {
	for err, want := range map[error]int{
		nil:                       http.StatusAccepted,
		gitsource.ErrIgnoredEvent: http.StatusAccepted,
		gitsource.ErrMethod:       http.StatusMethodNotAllowed,
		gitsource.ErrUnauthorized: http.StatusUnauthorized,
		gitsource.ErrTooLarge:     http.StatusRequestEntityTooLarge,
		gitsource.ErrBadRequest:   http.StatusBadRequest,
		gitsource.ErrConfig:       http.StatusInternalServerError,
	} {
		if got := gitsource.HTTPStatus(err); got != want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", err, got, want)
		}
	}
}

func TestParseProvider(t *testing.T) {
	if p, err := gitsource.ParseProvider("GitHub"); err != nil || p != gitsource.GitHub {
		t.Fatalf("ParseProvider(GitHub) = %q, %v", p, err)
	}
	if _, err := gitsource.ParseProvider("bitbucket"); !errors.Is(err, gitsource.ErrConfig) {
		t.Fatalf("ParseProvider(bitbucket) error = %v", err)
	}
}

func FuzzParsePush(f *testing.F) {
	f.Add(0, "POST", hookBody, "sha256="+sign(hookSecret, hookBody), "push", int64(0))
	f.Add(1, "POST", hookBody, string(hookSecret), "Push Hook", int64(10))
	f.Add(2, "GET", `{"ref":`, "zz", "", int64(-1))
	f.Add(3, "POST", `{"ref":"refs/heads/a","after":"`+hookSHA+`"}`, "sha256=", "", int64(1<<20))
	f.Fuzz(func(t *testing.T, pi int, method, body, sig, event string, max int64) {
		providers := append(append([]gitsource.Provider{}, gitsource.Providers...), "unknown")
		p := providers[uint(pi)%uint(len(providers))]
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Method = method
		if p != "unknown" {
			r.Header.Set(authHeader(p), sig)
			if ev := eventHeader(p); ev != "" {
				r.Header.Set(ev, event)
			}
		}
		push, err := gitsource.ParsePush(p, hookSecret, r, max)
		if err == nil && (push.Branch == "" || push.Revision == "") {
			t.Fatalf("accepted push without branch or revision: %+v", push)
		}
		_ = gitsource.HTTPStatus(err)
	})
}
