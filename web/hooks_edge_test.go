package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/web"
)

// Before, a push deleting the tracked branch was accepted and triggered
// a sync "webhook <provider> 0000…".
func TestWebhookTrackedBranchDeleted(t *testing.T) {
	zeros := strings.Repeat("0", 40)
	for _, p := range gitsource.Providers {
		t.Run(string(p), func(t *testing.T) {
			e := start(t, nil)
			body := `{"ref":"refs/heads/main","before":"` + hookSHA + `","after":"` + zeros + `","deleted":true,"commits":[]}`
			r := e.send(http.MethodPost, "/hooks/"+string(p), body, hookHeader(p, body))
			wantJSON(t, r, http.StatusAccepted)
			var res web.HookResult
			r.decode(t, &res)
			if res.Status != "ignored" || !strings.Contains(res.Reason, `tracked branch "main" was deleted`) {
				t.Errorf("answer %+v", res)
			}
			if got := e.trig.got(); len(got) != 0 {
				t.Errorf("Trigger called: %q", got)
			}
			if got := webhookCounts(t, e, string(p)); got["ignored"] != 1 || got["accepted"] != 0 {
				t.Errorf("counts %v", got)
			}
		})
	}
}

// deliveryHeader is the header carrying p's delivery ID.
func deliveryHeader(p gitsource.Provider) string {
	return map[gitsource.Provider]string{
		gitsource.GitHub: gitsource.HeaderGitHubDelivery, gitsource.GitLab: gitsource.HeaderIdempotencyKey,
		gitsource.Gitea: gitsource.HeaderGiteaDelivery, gitsource.Generic: gitsource.HeaderStoreopsDelivery,
	}[p]
}

// Before, a delivery sent twice triggered twice.
func TestWebhookReplayedDelivery(t *testing.T) {
	for _, p := range gitsource.Providers {
		t.Run(string(p), func(t *testing.T) {
			e := start(t, nil)
			body := pushBody("main")
			send := func(id string) web.HookResult {
				h := hookHeader(p, body)
				h.Set(deliveryHeader(p), id)
				r := e.send(http.MethodPost, "/hooks/"+string(p), body, h)
				wantJSON(t, r, http.StatusAccepted)
				var res web.HookResult
				r.decode(t, &res)
				return res
			}
			if res := send("delivery-1"); res.Status != "accepted" {
				t.Fatalf("first delivery: %+v", res)
			}
			if res := send("delivery-1"); res != (web.HookResult{Status: "replayed", Delivery: "delivery-1",
				Reason: "delivery delivery-1 was received before; nothing triggered"}) {
				t.Errorf("replay: %+v", res)
			}
			if res := send("delivery-2"); res.Status != "accepted" {
				t.Errorf("a new delivery: %+v", res)
			}
			want := []string{"webhook " + string(p) + " " + hookSHA, "webhook " + string(p) + " " + hookSHA}
			if diff := cmp.Diff(want, e.trig.got()); diff != "" {
				t.Errorf("triggers (-want +got):\n%s", diff)
			}
			if got := webhookCounts(t, e, string(p)); got["replayed"] != 1 || got["accepted"] != 2 {
				t.Errorf("counts %v", got)
			}
			// A forged request reusing a known ID is refused before the
			// ID is looked at, and does not evict or record anything.
			h := hookHeader(p, body)
			h.Set(deliveryHeader(p), "delivery-3")
			h.Set(authHeader(p), "sha256="+strings.Repeat("0", 64))
			wantJSON(t, e.send(http.MethodPost, "/hooks/"+string(p), body, h), http.StatusUnauthorized)
			if res := send("delivery-3"); res.Status != "accepted" {
				t.Errorf("delivery-3 after a forged one: %+v", res)
			}
		})
	}
}

func TestWebhookDeliveryMemoryIsBounded(t *testing.T) {
	e := start(t, func(c *web.Config) { c.DeliveryMemory = 2 })
	body := pushBody("main")
	for i, id := range []string{"a", "b", "c", "a"} {
		h := hookHeader(gitsource.GitHub, body)
		h.Set(gitsource.HeaderGitHubDelivery, id)
		wantJSON(t, e.send(http.MethodPost, "/hooks/github", body, h), http.StatusAccepted)
		if got := len(e.trig.got()); got != i+1 {
			t.Fatalf("after %s: %d triggers, want %d (a was forgotten)", id, got, i+1)
		}
	}
}

// Before, a GitHub form delivery answered 400 (not JSON) and a Gitea
// form delivery 401 (Gitea signs the JSON inside the form).
func TestWebhookFormDeliveries(t *testing.T) {
	e := start(t, nil)
	payload := pushBody("main")
	form := url.Values{"payload": {payload}}.Encode()
	for _, p := range gitsource.Providers {
		h := hookHeader(p, form) // GitHub and generic sign the body as sent
		if p == gitsource.Gitea {
			h = hookHeader(p, payload)
		}
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		r := e.send(http.MethodPost, "/hooks/"+string(p), form, h)
		wantJSON(t, r, http.StatusAccepted)
		var res web.HookResult
		r.decode(t, &res)
		if res != (web.HookResult{Status: "accepted", Revision: hookSHA}) {
			t.Errorf("%s form: %+v", p, res)
		}
	}
	if got := len(e.trig.got()); got != len(gitsource.Providers) {
		t.Errorf("%d triggers", got)
	}
}

// Before, every provider was limited to 1 MiB, and GitHub pushes over
// it (GitHub sends up to 25 MB) answered 413.
func TestWebhookBodyLimits(t *testing.T) {
	e := start(t, nil) // the default limits
	var b strings.Builder
	b.WriteString(`{"ref":"refs/heads/main","after":"` + hookSHA + `","commits":[`)
	for i := 0; b.Len() < 3<<20; i++ {
		fmt.Fprintf(&b, `{"id":"%040d","message":"%s"},`, i, strings.Repeat("m", 500))
	}
	b.WriteString(`{}]}`)
	big := b.String()
	wantJSON(t, e.send(http.MethodPost, "/hooks/github", big, hookHeader(gitsource.GitHub, big)), http.StatusAccepted)
	if got := len(e.trig.got()); got != 1 {
		t.Errorf("3 MiB GitHub push: %d triggers", got)
	}
	for _, p := range []gitsource.Provider{gitsource.GitLab, gitsource.Gitea, gitsource.Generic} {
		wantJSON(t, e.send(http.MethodPost, "/hooks/"+string(p), big, hookHeader(p, big)), http.StatusRequestEntityTooLarge)
	}
	if got := len(e.trig.got()); got != 1 {
		t.Errorf("%d triggers", got)
	}
}
