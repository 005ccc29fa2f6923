package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/giteatest"
	"github.com/storeops/storeops/web"
)

// received is one delivery a real Gitea made to the server, with the
// server's answer.
type received struct {
	header http.Header
	body   []byte
	status int
	answer web.HookResult
}

// TestGiteaDeliveries points a JSON and a form webhook of a real Gitea at
// the server, tracking the branch prod. Before, the form delivery was
// refused with 401 (Gitea signs the JSON inside the form), and a delivery
// sent again triggered again.
func TestGiteaDeliveries(t *testing.T) {
	g := giteatest.Start(t)
	g.CreateRepo(t, "config", map[string]string{"stores.yaml": "stores: []\n"})
	g.CreateBranch(t, "config", "prod", "main")

	triggered := make(chan string, 16)
	s, err := web.New(web.Config{
		Board: fixtureBoard(), Branch: "prod",
		Trigger:  func(reason string) { triggered <- reason },
		Webhooks: []web.Webhook{{Provider: gitsource.Gitea, Secret: []byte("gitea-hook-secret")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	deliveries := make(chan received, 32)
	h := s.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		d := received{header: r.Header.Clone(), body: body, status: rec.Code}
		_ = json.Unmarshal(rec.Body.Bytes(), &d.answer)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		deliveries <- d
	}))
	t.Cleanup(srv.Close)
	nextDelivery := func() received {
		t.Helper()
		select {
		case d := <-deliveries:
			return d
		case <-time.After(30 * time.Second):
			t.Fatal("no delivery from Gitea within 30s")
		}
		return received{}
	}
	for _, ct := range []string{"json", "form"} {
		g.AddHook(t, "config", giteatest.Hook{URL: srv.URL + "/hooks/gitea", Secret: "gitea-hook-secret", ContentType: ct,
			Events: []string{"push", "delete"}})
	}

	// A push to prod: both deliveries accepted, two syncs asked for.
	sha := g.WriteFile(t, "config", "prod", "stores.yaml", "stores: []\n# changed\n", "Change")
	var pushes []received
	for len(pushes) < 2 {
		d := nextDelivery()
		if d.status != http.StatusAccepted {
			t.Fatalf("%s delivery answered %d: %+v", d.header.Get("Content-Type"), d.status, d.answer)
		}
		if d.answer.Revision == sha {
			pushes = append(pushes, d)
		}
	}
	if ct0, ct1 := pushes[0].header.Get("Content-Type"), pushes[1].header.Get("Content-Type"); ct0 == ct1 {
		t.Errorf("both accepted deliveries are %s", ct0)
	}
	// Each captured delivery sent again is acknowledged, not triggered.
	for _, d := range pushes {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/gitea", bytes.NewReader(d.body))
		req.Header = d.header.Clone()
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		again := nextDelivery()
		if again.status != http.StatusAccepted || again.answer.Status != "replayed" || again.answer.Delivery != d.header.Get("X-Gitea-Delivery") {
			t.Errorf("replayed %s delivery: %d %+v", d.header.Get("Content-Type"), again.status, again.answer)
		}
	}

	// Deleting the tracked branch: Gitea's "delete" events are
	// acknowledged and trigger nothing.
	g.DeleteBranch(t, "config", "prod")
	for deletes := 0; deletes < 2; {
		d := nextDelivery()
		if d.header.Get("X-Gitea-Event") == "delete" {
			deletes++
			if d.status != http.StatusAccepted || d.answer.Status != "ignored" {
				t.Errorf("delete event answered %d %+v", d.status, d.answer)
			}
		}
	}
	// Trigger runs before the answer is written: every sync asked for
	// is in the channel by now. The push to prod asked for two, one per
	// webhook; the replays and the deletion for none. (A late delivery of
	// the branch's creation, at main's revision, may have asked for one.)
	n := 0
	for {
		select {
		case got := <-triggered:
			if got == "webhook gitea "+sha {
				n++
			}
			continue
		default:
		}
		break
	}
	if n != 2 {
		t.Errorf("%d syncs asked for at %s, want 2", n, sha)
	}
}
