package e2e_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/storeops/storeops/internal/giteatest"
	"github.com/storeops/storeops/reconcile"
)

// TestCommitStatusThroughGitea: storeops serve with --forge gitea sets the
// commit status storeops/sync on the revisions it applies: success once
// the store is Ready, failure with the located errors for an invalid
// stores.yaml, each linking to the dashboard's sync page. It comments
// the plan of an open pull request, made against the live cluster, and
// edits that one comment when the pull request changes: Gitea's signed
// pull request webhooks trigger the previews (the periodic scan is set to
// an hour here).
func TestCommitStatusThroughGitea(t *testing.T) {
	cleanupStores(t, "e2e-status-a")
	g := giteatest.Start(t)
	clone := g.CreateRepo(t, "fleet", map[string]string{"stores.yaml": "stores:\n  - name: e2e-status-a\n    type: woocommerce\n"})
	head, ok := g.BranchHead(t, "fleet", "main")
	if !ok {
		t.Fatal("no main branch")
	}
	// The proposals page needs a login: an API token.
	const apiToken = "e2e-status-token-0123456789"
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("bot:"+apiToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemonEnv(t, []string{"STOREOPS_GIT_TOKEN=" + g.Token(), "STOREOPS_FORGE_TOKEN=" + g.Token()}, clone,
		"--dashboard-tokens-file", tokens,
		"--forge", "gitea", "--forge-url", g.URL(), "--forge-repo", g.RepoPath("fleet"),
		"--dashboard-url", "https://storeops.example/", "--pr-preview-interval", "1h", "--webhooks", "gitea")
	g.AddHook(t, "fleet", giteatest.Hook{URL: "http://" + d.addr + "/hooks/gitea", Secret: webhookSecret,
		Events: []string{"push", "pull_request", "pull_request_sync"}})
	d.waitPhase("e2e-status-a", reconcile.PhaseReady)
	status := func(sha string) (state, desc, target string) {
		var combined struct {
			Statuses []struct {
				Status, Context, Description string
				TargetURL                    string `json:"target_url"`
			} `json:"statuses"`
		}
		g.API(t, http.MethodGet, "/repos/"+g.RepoPath("fleet")+"/commits/"+sha+"/status", nil, &combined)
		for _, s := range combined.Statuses {
			if s.Context == "storeops/sync" {
				return s.Status, s.Description, s.TargetURL
			}
		}
		return "", "", ""
	}
	d.waitUntil("success on the first revision", func() bool {
		state, _, _ := status(head.Commit)
		return state == "success"
	})
	if _, desc, target := status(head.Commit); desc != "applied; 1 stores Ready" || target != "https://storeops.example/sync" {
		t.Errorf("success status: %q → %q", desc, target)
	}

	// A pull request adding a store: its plan, against the live cluster
	// (where e2e-status-a exists and is unchanged).
	g.CreateBranch(t, "fleet", "storeops/add-e2e-status-b", "main")
	g.WriteFile(t, "fleet", "storeops/add-e2e-status-b", "stores.yaml", "stores:\n  - name: e2e-status-a\n    type: woocommerce\n  - name: e2e-status-b\n    type: medusa\n", "add b")
	var pr struct {
		Number int `json:"number"`
	}
	g.API(t, http.MethodPost, "/repos/"+g.RepoPath("fleet")+"/pulls", map[string]string{"head": "storeops/add-e2e-status-b", "base": "main", "title": "Add b"}, &pr)
	type note struct {
		ID   int64  `json:"id"`
		Body string `json:"body"`
	}
	planComments := func() []note {
		var all, ours []note
		g.API(t, http.MethodGet, "/repos/"+g.RepoPath("fleet")+"/issues/"+strconv.Itoa(pr.Number)+"/comments", nil, &all)
		for _, c := range all {
			if strings.Contains(c.Body, "<!-- storeops:plan -->") {
				ours = append(ours, c)
			}
		}
		return ours
	}
	d.waitUntil("the plan comment", func() bool {
		c := planComments()
		return len(c) == 1 && strings.Contains(c[0].Body, "changes 1 store(s)")
	})
	first := planComments()[0]
	if !strings.Contains(first.Body, "- install e2e-status-b (medusa, small, e2e-status-b.stores.localhost)") {
		t.Fatalf("plan comment:\n%s", first.Body)
	}
	g.WriteFile(t, "fleet", "storeops/add-e2e-status-b", "stores.yaml", "stores:\n  - name: e2e-status-a\n    type: woocommerce\n  - name: e2e-status-b\n    type: medusa\n    plan: huge\n", "huge b")
	d.waitUntil("the plan comment edited", func() bool {
		c := planComments()
		return len(c) == 1 && strings.Contains(c[0].Body, "is invalid")
	})
	if c := planComments()[0]; c.ID != first.ID || !strings.Contains(c.Body, "stores.yaml:6:11: stores[1].plan") {
		t.Fatalf("edited comment %d (was %d):\n%s", c.ID, first.ID, c.Body)
	}
	// The dashboard's proposals page shows it too.
	req, _ := http.NewRequest(http.MethodGet, "http://"+d.addr+"/proposals", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "stores.yaml:6:11: stores[1].plan") {
		t.Errorf("proposals page without the plan preview:\n%s", page)
	}

	bad := g.WriteFile(t, "fleet", "main", "stores.yaml", "stores:\n  - name: e2e-status-a\n    type: shopify\n", "unknown type")
	// Gitea's push webhook triggers the sync.
	d.waitUntil("failure on the invalid revision", func() bool {
		state, _, _ := status(bad)
		return state == "failure"
	})
	if _, desc, _ := status(bad); !strings.Contains(desc, "invalid stores.yaml: stores.yaml:3:11: stores[0].type") {
		t.Errorf("failure status: %q", desc)
	}
}
