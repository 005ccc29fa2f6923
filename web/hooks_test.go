package web_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/web"
)

func sign(secret []byte, body string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

func pushBody(branch string) string {
	return `{"ref":"refs/heads/` + branch + `","before":"` + strings.Repeat("1", 40) + `","after":"` + hookSHA + `","commits":[]}`
}

// hookHeader returns the headers of a valid push of body from p.
func hookHeader(p gitsource.Provider, body string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	switch p {
	case gitsource.GitHub:
		h.Set(gitsource.HeaderGitHubEvent, "push")
		h.Set(gitsource.HeaderGitHubSignature, "sha256="+sign(hookSecret, body))
	case gitsource.GitLab:
		h.Set(gitsource.HeaderGitLabEvent, "Push Hook")
		h.Set(gitsource.HeaderGitLabToken, string(hookSecret))
	case gitsource.Gitea:
		h.Set(gitsource.HeaderGiteaEvent, "push")
		h.Set(gitsource.HeaderGiteaSignature, sign(hookSecret, body))
	case gitsource.Generic:
		h.Set(gitsource.HeaderStoreopsSignature, "sha256="+sign(hookSecret, body))
	}
	return h
}

func authHeader(p gitsource.Provider) string {
	return map[gitsource.Provider]string{
		gitsource.GitHub: gitsource.HeaderGitHubSignature, gitsource.GitLab: gitsource.HeaderGitLabToken,
		gitsource.Gitea: gitsource.HeaderGiteaSignature, gitsource.Generic: gitsource.HeaderStoreopsSignature,
	}[p]
}

func TestWebhooks(t *testing.T) {
	const limit = 4096
	for _, p := range gitsource.Providers {
		t.Run(string(p), func(t *testing.T) {
			e := start(t, func(c *web.Config) { c.MaxBodyBytes = limit })
			path := "/hooks/" + string(p)
			valid := pushBody("main")
			hdr := authHeader(p)
			big := `{"ref":"refs/heads/main","after":"` + hookSHA + `","pad":"` + strings.Repeat("x", limit) + `"}`
			for _, tc := range []struct {
				name   string
				method string
				body   string
				header func(http.Header)
				status int
				result string
			}{
				{name: "missing signature", header: func(h http.Header) { h.Del(hdr) }, status: 401, result: "unauthorized"},
				{name: "wrong signature", header: func(h http.Header) { h.Set(hdr, strings.Repeat("0", len(h.Get(hdr)))) }, status: 401, result: "unauthorized"},
				{name: "truncated signature", header: func(h http.Header) { v := h.Get(hdr); h.Set(hdr, v[:len(v)-2]) }, status: 401, result: "unauthorized"},
				{name: "wrong secret", header: func(h http.Header) {
					if p == gitsource.GitLab {
						h.Set(hdr, "other")
					} else {
						h.Set(hdr, strings.Replace(h.Get(hdr), sign(hookSecret, valid), sign([]byte("other"), valid), 1))
					}
				}, status: 401, result: "unauthorized"},
				{name: "other branch", body: pushBody("feature"), status: 202, result: "ignored"},
				{name: "oversized body", body: big, status: 413, result: "too_large"},
				{name: "GET", method: http.MethodGet, status: 405, result: "method_not_allowed"},
				{name: "PUT", method: http.MethodPut, status: 405, result: "method_not_allowed"},
				{name: "signed garbage", body: "not json", status: 400, result: "bad_request"},
				{name: "tag push", body: `{"ref":"refs/tags/v1","after":"` + hookSHA + `"}`, status: 202, result: "ignored"},
				{name: "valid", status: 202, result: "accepted"},
			} {
				body := tc.body
				if body == "" {
					body = valid
				}
				h := hookHeader(p, body)
				if tc.header != nil {
					tc.header(h)
				}
				method := tc.method
				if method == "" {
					method = http.MethodPost
				}
				before := len(e.trig.got())
				r := e.send(method, path, body, h)
				wantJSON(t, r, tc.status)
				if strings.Contains(r.body, string(hookSecret)) {
					t.Errorf("%s: the secret is in the response %s", tc.name, r.body)
				}
				if tc.status == 405 && r.header.Get("Allow") != http.MethodPost {
					t.Errorf("%s: Allow = %q", tc.name, r.header.Get("Allow"))
				}
				got := e.trig.got()[before:]
				if tc.result != "accepted" {
					if len(got) != 0 {
						t.Errorf("%s: Trigger called: %q", tc.name, got)
					}
					continue
				}
				if diff := cmp.Diff([]string{"webhook " + string(p) + " " + hookSHA}, got); diff != "" {
					t.Errorf("%s: Trigger calls (-want +got):\n%s", tc.name, diff)
				}
				var res web.HookResult
				r.decode(t, &res)
				if res != (web.HookResult{Status: "accepted", Revision: hookSHA}) {
					t.Errorf("%s: %+v", tc.name, res)
				}
			}

			// Every request was counted by result.
			want := map[string]float64{"unauthorized": 4, "ignored": 2, "too_large": 1,
				"method_not_allowed": 2, "bad_request": 1, "accepted": 1}
			if diff := cmp.Diff(want, webhookCounts(t, e, string(p))); diff != "" {
				t.Errorf("storeops_webhooks_total (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWebhookPing(t *testing.T) {
	e := start(t, nil)
	body := `{"zen":"Keep it logically awesome."}`
	h := hookHeader(gitsource.GitHub, body)
	h.Set(gitsource.HeaderGitHubEvent, "ping")
	r := e.send(http.MethodPost, "/hooks/github", body, h)
	wantJSON(t, r, http.StatusAccepted)
	var res web.HookResult
	r.decode(t, &res)
	if res.Status != "ignored" || len(e.trig.got()) != 0 {
		t.Errorf("ping: %+v, triggers %q", res, e.trig.got())
	}
}

func TestWebhookUnknownOrDisabledProvider(t *testing.T) {
	e := start(t, func(c *web.Config) {
		c.Webhooks = []web.Webhook{{Provider: gitsource.GitHub, Secret: hookSecret}}
	})
	body := pushBody("main")
	for _, path := range []string{"/hooks/gitlab", "/hooks/bitbucket", "/hooks/GitHub", "/hooks/%3Cscript%3E", "/hooks/"} {
		r := e.send(http.MethodPost, path, body, hookHeader(gitsource.GitLab, body))
		wantJSON(t, r, http.StatusNotFound)
		if strings.ContainsAny(r.body, "<>") {
			t.Errorf("%s: unescaped HTML in %s", path, r.body)
		}
	}
	wantJSON(t, e.send(http.MethodPost, "/hooks/github", body, hookHeader(gitsource.GitHub, body)), http.StatusAccepted)
	if len(e.trig.got()) != 1 {
		t.Errorf("triggers %q", e.trig.got())
	}
	if got := webhookCounts(t, e, "unknown"); got["not_found"] != 4 {
		t.Errorf("unknown provider counts %v", got)
	}
}

// webhookCounts scrapes /metrics over HTTP and returns
// storeops_webhooks_total of provider by result.
func webhookCounts(t *testing.T, e *env, provider string) map[string]float64 {
	t.Helper()
	r := e.get("/metrics")
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", r.status, r.body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	got := map[string]float64{}
	for _, m := range families["storeops_webhooks_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["provider"] == provider {
			got[labels["result"]] = m.GetCounter().GetValue()
		}
	}
	return got
}

func TestMetricsEndpoint(t *testing.T) {
	e := start(t, nil)
	e.metrics.ObserveAction("install", "success")
	r := e.get("/metrics")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", r.status, r.header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"storeops_stores", "storeops_leader", "storeops_actions_total", "go_goroutines"} {
		if families[name] == nil {
			t.Errorf("%s missing from /metrics", name)
		}
	}
	for _, m := range families["storeops_stores"].GetMetric() {
		if m.GetLabel()[0].GetValue() == "Ready" && m.GetGauge().GetValue() != 2 {
			t.Errorf("storeops_stores{phase=Ready} = %v, want 2", m.GetGauge().GetValue())
		}
	}
	if families["storeops_leader"].GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Error("storeops_leader is not 1")
	}

	// Without Metrics there is no /metrics.
	e = start(t, func(c *web.Config) { c.Metrics = nil })
	wantJSON(t, e.get("/metrics"), http.StatusNotFound)
}

// FuzzWebhook sends random requests to every webhook route: none may
// panic or fail with a 5xx, and only validly signed pushes to the tracked
// branch may trigger.
func FuzzWebhook(f *testing.F) {
	body := pushBody("main")
	for i, p := range gitsource.Providers {
		h := hookHeader(p, body)
		f.Add(i, http.MethodPost, body, h.Get(authHeader(p)), "push")
	}
	f.Add(0, http.MethodPost, "", "", "")
	f.Add(1, http.MethodGet, "{", "x", "Push Hook")
	f.Add(2, http.MethodPost, `{"ref":"refs/heads/main","after":null}`, "sha256=zz", "push")
	f.Add(3, http.MethodPost, strings.Repeat("[", 5000), "sha256=", "push")

	tr := &triggers{}
	s, err := web.New(web.Config{
		Board: fixtureBoard(), Trigger: tr.trigger, Branch: "main", MaxBodyBytes: 2048,
		Webhooks: []web.Webhook{
			{Provider: gitsource.GitHub, Secret: hookSecret}, {Provider: gitsource.GitLab, Secret: hookSecret},
			{Provider: gitsource.Gitea, Secret: hookSecret}, {Provider: gitsource.Generic, Secret: hookSecret},
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, provider int, method, body, sig, event string) {
		p := gitsource.Providers[(provider%4+4)%4]
		if !validMethod(method) {
			method = http.MethodPost
		}
		req := httptest.NewRequest(method, "/hooks/"+string(p), strings.NewReader(body))
		req.Header.Set(authHeader(p), sig)
		for _, name := range []string{gitsource.HeaderGitHubEvent, gitsource.HeaderGitLabEvent, gitsource.HeaderGiteaEvent} {
			req.Header.Set(name, event)
		}
		before := len(tr.got())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if w.Code == http.StatusAccepted && strings.Contains(w.Body.String(), `"accepted"`) {
			if len(tr.got()) != before+1 {
				t.Fatalf("accepted without one Trigger call")
			}
			if !isSigned(p, body, sig) {
				t.Fatalf("accepted an unsigned request: sig %q", sig)
			}
		} else if len(tr.got()) != before {
			t.Fatalf("status %d triggered", w.Code)
		}
	})
}

func validMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch:
		return true
	}
	return false
}

func isSigned(p gitsource.Provider, body, sig string) bool {
	switch p {
	case gitsource.GitLab:
		return sig == string(hookSecret)
	case gitsource.Gitea:
		return strings.EqualFold(sig, sign(hookSecret, body))
	}
	return strings.EqualFold(sig, "sha256="+sign(hookSecret, body))
}
