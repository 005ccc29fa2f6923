package gitsource_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/storeops/storeops/gitsource"
)

// formRequest is a delivery of the JSON payload as a form, signed the
// way p signs it: GitHub and generic senders over the body as sent,
// Gitea over the JSON, GitLab with its token.
func formRequest(p gitsource.Provider, payload string) *http.Request {
	body := url.Values{"payload": {payload}}.Encode()
	signed := body
	if p == gitsource.Gitea {
		signed = payload
	}
	r := request(p, body, nil)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if hdr := authHeader(p); p != gitsource.GitLab {
		prefix := "sha256="
		if p == gitsource.Gitea {
			prefix = ""
		}
		r.Header.Set(hdr, prefix+sign(hookSecret, signed))
	}
	return r
}

// Before form deliveries were understood, a GitHub form push failed as
// malformed JSON (400) and a Gitea form push as a wrong signature (401).
func TestParsePushForm(t *testing.T) {
	want := gitsource.Push{Branch: "main", Revision: hookSHA}
	for _, p := range gitsource.Providers {
		t.Run(string(p), func(t *testing.T) {
			for _, form := range []bool{false, true} {
				r := request(p, hookBody, nil)
				if form {
					r = formRequest(p, hookBody)
				}
				push, err := gitsource.ParsePush(p, hookSecret, r, 0)
				if err != nil {
					t.Fatalf("form %v: %v", form, err)
				}
				want.Provider = p
				if diff := cmp.Diff(want, push); diff != "" {
					t.Errorf("form %v: Push (-want +got):\n%s", form, diff)
				}
			}
		})
	}
}

func TestParsePushFormSignedOverTheWrongThing(t *testing.T) {
	// GitHub signs the form body; a signature of the JSON inside is
	// not GitHub's.
	r := formRequest(gitsource.GitHub, hookBody)
	r.Header.Set(gitsource.HeaderGitHubSignature, "sha256="+sign(hookSecret, hookBody))
	if _, err := gitsource.ParsePush(gitsource.GitHub, hookSecret, r, 0); !errors.Is(err, gitsource.ErrUnauthorized) {
		t.Errorf("GitHub form signed over the JSON: %v, want ErrUnauthorized", err)
	}
	// Gitea signs the JSON; a signature of the form body is not Gitea's.
	r = formRequest(gitsource.Gitea, hookBody)
	body := url.Values{"payload": {hookBody}}.Encode()
	r.Header.Set(gitsource.HeaderGiteaSignature, sign(hookSecret, body))
	if _, err := gitsource.ParsePush(gitsource.Gitea, hookSecret, r, 0); !errors.Is(err, gitsource.ErrUnauthorized) {
		t.Errorf("Gitea form signed over the form body: %v, want ErrUnauthorized", err)
	}
	// A tampered payload fails the signature of both.
	for _, p := range []gitsource.Provider{gitsource.GitHub, gitsource.Gitea} {
		r := formRequest(p, hookBody)
		sig := r.Header.Get(authHeader(p))
		r = formRequest(p, strings.Replace(hookBody, "main", "prod", 1))
		r.Header.Set(authHeader(p), sig)
		if _, err := gitsource.ParsePush(p, hookSecret, r, 0); !errors.Is(err, gitsource.ErrUnauthorized) {
			t.Errorf("%s: tampered form: %v, want ErrUnauthorized", p, err)
		}
	}
}

func TestParsePushFormMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"no payload field": "other=1",
		"two payloads":     "payload=%7B%7D&payload=%7B%7D",
		"bad escape":       "payload=%zz",
		"payload not JSON": "payload=hello",
	} {
		for _, p := range []gitsource.Provider{gitsource.GitHub, gitsource.Gitea} {
			r := request(p, body, nil)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			if p == gitsource.GitHub {
				r.Header.Set(gitsource.HeaderGitHubSignature, "sha256="+sign(hookSecret, body))
			}
			_, err := gitsource.ParsePush(p, hookSecret, r, 0)
			switch {
			case p == gitsource.GitHub && !errors.Is(err, gitsource.ErrBadRequest):
				t.Errorf("%s %s: %v, want ErrBadRequest", p, name, err)
			case p == gitsource.Gitea && err == nil:
				t.Errorf("%s %s: accepted", p, name)
			}
		}
	}
}

// bigPush is a push payload of about size bytes, with ref and after
// first, as GitHub orders them, and a long list of commits.
func bigPush(size int) string {
	var b strings.Builder
	b.WriteString(`{"ref":"refs/heads/main","before":"` + strings.Repeat("1", 40) + `","after":"` + hookSHA + `","commits":[`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"%040d","message":"change %d","modified":["stores.yaml","%s"]}`, i, i, strings.Repeat("x", 200))
	}
	b.WriteString(`]}`)
	return b.String()
}

// Before, every provider was limited to 1 MiB: GitHub pushes larger than
// that (GitHub sends up to 25 MB) were refused with 413.
func TestParsePushLargeGitHubPayload(t *testing.T) {
	big := bigPush(5 << 20)
	for _, form := range []bool{false, true} {
		r := request(gitsource.GitHub, big, nil)
		if form {
			r = formRequest(gitsource.GitHub, big)
		}
		push, err := gitsource.ParsePush(gitsource.GitHub, hookSecret, r, 0)
		if err != nil || push.Branch != "main" || push.Revision != hookSHA {
			t.Errorf("form %v: 5 MiB GitHub push: %+v, %v", form, push, err)
		}
	}
	// The signature still covers all of it.
	r := request(gitsource.GitHub, big, nil)
	sig := r.Header.Get(gitsource.HeaderGitHubSignature)
	r = request(gitsource.GitHub, big[:len(big)-2]+"x]}", nil)
	r.Header.Set(gitsource.HeaderGitHubSignature, sig)
	if _, err := gitsource.ParsePush(gitsource.GitHub, hookSecret, r, 0); !errors.Is(err, gitsource.ErrUnauthorized) {
		t.Errorf("tampered end of a large body: %v, want ErrUnauthorized", err)
	}
	// ref and after past the part kept are refused, not guessed.
	late := `{"commits":[` + strings.Repeat(`"`+strings.Repeat("y", 1000)+`",`, 2<<10) + `"z"],"ref":"refs/heads/main","after":"` + hookSHA + `"}`
	if _, err := gitsource.ParsePush(gitsource.GitHub, hookSecret, request(gitsource.GitHub, late, nil), 0); !errors.Is(err, gitsource.ErrBadRequest) {
		t.Errorf("ref after the first MiB: %v, want ErrBadRequest", err)
	}
	// Over GitHub's 25 MB, and over 1 MiB for the others.
	over := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(""))
	over.ContentLength = gitsource.GitHubMaxWebhookBody + 1
	over.Header = request(gitsource.GitHub, "", nil).Header
	if _, err := gitsource.ParsePush(gitsource.GitHub, hookSecret, over, 0); !errors.Is(err, gitsource.ErrTooLarge) {
		t.Errorf("GitHub over 25 MiB: %v, want ErrTooLarge", err)
	}
	huge := bigPush(gitsource.GitHubMaxWebhookBody + 10)
	r = request(gitsource.GitHub, huge, func(r *http.Request) { r.ContentLength = -1 })
	if _, err := gitsource.ParsePush(gitsource.GitHub, hookSecret, r, 0); !errors.Is(err, gitsource.ErrTooLarge) {
		t.Errorf("GitHub over 25 MiB, no length: %v, want ErrTooLarge", err)
	}
	for _, p := range []gitsource.Provider{gitsource.GitLab, gitsource.Gitea, gitsource.Generic} {
		if _, err := gitsource.ParsePush(p, hookSecret, request(p, bigPush(2<<20), nil), 0); !errors.Is(err, gitsource.ErrTooLarge) {
			t.Errorf("%s: 2 MiB: %v, want ErrTooLarge", p, err)
		}
	}
}

func TestDeliveryID(t *testing.T) {
	tests := []struct {
		p      gitsource.Provider
		header map[string]string
		want   string
	}{
		{gitsource.GitHub, map[string]string{"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}, "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
		{gitsource.Gitea, map[string]string{"X-Gitea-Delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473", "X-GitHub-Delivery": "other"}, "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
		{gitsource.GitLab, map[string]string{"Idempotency-Key": "key-1", "X-Gitlab-Event-UUID": "uuid-1"}, "key-1"},
		{gitsource.GitLab, map[string]string{"X-Gitlab-Event-UUID": "uuid-1"}, "uuid-1"},
		{gitsource.Generic, map[string]string{"X-Storeops-Delivery": "ci-42"}, "ci-42"},
		{gitsource.GitHub, map[string]string{}, ""},
		{gitsource.GitHub, map[string]string{"X-GitHub-Delivery": strings.Repeat("a", 129)}, ""},
		{gitsource.GitHub, map[string]string{"X-GitHub-Delivery": "a b"}, ""},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.header {
			h.Set(k, v)
		}
		if got := gitsource.DeliveryID(tt.p, h); got != tt.want {
			t.Errorf("DeliveryID(%s, %v) = %q, want %q", tt.p, tt.header, got, tt.want)
		}
	}
	r := request(gitsource.GitHub, hookBody, func(r *http.Request) { r.Header.Set("X-GitHub-Delivery", "d-1") })
	if push, err := gitsource.ParsePush(gitsource.GitHub, hookSecret, r, 0); err != nil || push.Delivery != "d-1" {
		t.Errorf("ParsePush: %+v, %v", push, err)
	}
}

func TestDeliveriesBounded(t *testing.T) {
	d := gitsource.NewDeliveries(3)
	for _, id := range []string{"a", "b", "c"} {
		if d.Seen(gitsource.GitHub, id) {
			t.Fatalf("%s seen before it was recorded", id)
		}
	}
	if !d.Seen(gitsource.GitHub, "a") || d.Seen(gitsource.Gitea, "a") || d.Seen(gitsource.GitHub, "") || d.Seen(gitsource.GitHub, "") {
		t.Fatal("a must be seen for github only; an empty ID never")
	}
	// "a" of gitea pushed out "a" of github, the oldest.
	for i := range 1000 {
		d.Seen(gitsource.Generic, fmt.Sprint(i))
	}
	if d.Len() != 3 {
		t.Errorf("Len = %d, want 3", d.Len())
	}
	if !d.Seen(gitsource.Generic, "999") || d.Seen(gitsource.GitHub, "b") {
		t.Error("the newest must be remembered, the oldest forgotten")
	}
}
