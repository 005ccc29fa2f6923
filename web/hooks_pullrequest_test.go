package web_test

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/web"
)

// TestPullRequestWebhooks: a signed pull request (merge request) event
// asks for plan previews and never syncs; unsigned, it is refused; without
// a PullRequest callback it is ignored as before.
func TestPullRequestWebhooks(t *testing.T) {
	events := map[gitsource.Provider]string{gitsource.GitHub: "pull_request", gitsource.Gitea: "pull_request", gitsource.GitLab: "Merge Request Hook"}
	for p, event := range events {
		t.Run(string(p), func(t *testing.T) {
			var previews, syncs atomic.Int64
			e := start(t, func(c *web.Config) {
				c.PullRequest = func() { previews.Add(1) }
				c.Trigger = func(string) { syncs.Add(1) }
			})
			body := `{"action":"synchronize","number":3}`
			hdr := hookHeader(p, body)
			eventHeader := map[gitsource.Provider]string{gitsource.GitHub: gitsource.HeaderGitHubEvent, gitsource.Gitea: gitsource.HeaderGiteaEvent, gitsource.GitLab: gitsource.HeaderGitLabEvent}[p]
			hdr.Set(eventHeader, event)
			if r := e.send(http.MethodPost, "/hooks/"+string(p), body, hdr); r.status != http.StatusAccepted || previews.Load() != 1 || syncs.Load() != 0 {
				t.Fatalf("signed pull request event: %d %s; previews %d, syncs %d", r.status, r.body, previews.Load(), syncs.Load())
			}
			hdr.Set(authHeader(p), "wrong")
			if r := e.send(http.MethodPost, "/hooks/"+string(p), body, hdr); r.status != http.StatusUnauthorized || previews.Load() != 1 {
				t.Fatalf("unsigned pull request event: %d; previews %d", r.status, previews.Load())
			}
		})
	}
}
