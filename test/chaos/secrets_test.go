package chaos_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storeops/storeops/forge"
	"github.com/storeops/storeops/gitsource"
	"github.com/storeops/storeops/internal/giteatest"
	"github.com/storeops/storeops/internal/storeopsbin"
	"github.com/storeops/storeops/proposals"
	"github.com/storeops/storeops/render"
)

// Case 5: the secrets sweep. A fleet is created, upgraded and partly
// deleted with debug logs in text and JSON; every API endpoint, dashboard
// page and metric is read for every store, and `storeops plan` and
// `sync --once` are run; then every credential of every store, the
// instance key, the webhook secret and the API token are searched for in
// all of it (raw, base64, URL-encoded), together with the pull requests
// the dashboard's buttons would open for this fleet (see sweepProposals).
// Every other case ends with the same sweep of its own outputs.
func TestSecretsSweep(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "5 secrets sweep", "sec", map[string]storeSpec{
		"chaos-s-woo": {Type: "woocommerce"}, "chaos-s-med": {Type: "medusa"}, "chaos-s-gone": {Type: "woocommerce"},
	})
	dir := t.TempDir()
	gitToken := randomHex(20)
	e.secrets[gitToken] = "Git token"
	e.extra = []string{"--dashboard-read-auth"}
	e.env = []string{"STOREOPS_GIT_TOKEN=" + gitToken}

	text := e.start("text")
	rev := e.repo.Head(t, "main")
	e.waitConverged(text, rev)
	e.res.Iterations++
	e.declared["chaos-s-woo"] = storeSpec{Type: "woocommerce", Title: "Upgraded"}
	delete(e.declared, "chaos-s-gone")
	rev = e.commit("upgrade one, delete one")
	text.hook(rev)
	e.waitConverged(text, rev)
	e.res.Converged++
	e.collectSecrets()
	readEverything(t, text)
	text.stop()

	// A second replica logging JSON, restarted from scratch.
	e.res.Iterations++
	js := e.start("json", "--log-format", "json")
	e.waitConverged(js, rev)
	e.res.Converged++
	readEverything(t, js)

	// The commands people run by hand.
	e.declared["chaos-s-med"] = storeSpec{Type: "medusa", Title: "Planned"}
	e.commit("a change to plan")
	ctx := context.Background()
	env := append(os.Environ(), "STOREOPS_GIT_TOKEN="+gitToken)
	for _, args := range [][]string{
		{"plan", "--repo", e.repo.URL(), "--kubeconfig", e.c.Kubeconfig, "--instance", e.instance},
		{"plan", "--repo", e.repo.URL(), "--kubeconfig", e.c.Kubeconfig, "--instance", e.instance, "-o", "json"},
		{"validate", "-f", writeFile(t, dir, "stores.yaml", e.file())},
	} {
		_, out, err := storeopsbin.Run(ctx, binary, env, args...)
		if err != nil {
			t.Fatal(err)
		}
		e.out.add("storeops "+args[0], out)
	}
	sweepProposals(t, e)
	e.collectSecrets()
	leaks := e.sweep()
	for _, l := range leaks {
		t.Errorf("secret leaked: %s", l)
	}
	texts := e.out.all()
	size := 0
	for _, s := range texts {
		size += len(s)
	}
	t.Logf("swept %d outputs (%d bytes) for %d secret values", len(texts), size, len(e.secrets))
}

// readEverything fetches every endpoint and page for every store.
func readEverything(t *testing.T, d *daemon) {
	t.Helper()
	paths := []string{"/healthz", "/readyz", "/metrics", "/api/v1/stores", "/api/v1/syncs", "/api/v1/status", "/api/v1/health", "/", "/sync", "/login"}
	stores, ok := d.stores()
	if !ok {
		t.Fatal("GET /api/v1/stores failed")
	}
	for n := range stores {
		paths = append(paths, "/api/v1/stores/"+n, "/api/v1/stores/"+n+"/pods", "/api/v1/stores/"+n+"/events", "/api/v1/stores/"+n+"/quota", "/stores/"+n)
	}
	for _, p := range paths {
		if code, _ := d.fetch(p, d.authHeader); code != http.StatusOK {
			t.Errorf("GET %s: %d", p, code)
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sweepProposals adds to the sweep the pull requests that the dashboard's
// Create and Delete buttons open for the fleet: a real Gitea holds a copy
// of the case's stores.yaml, and the proposals package (what the buttons
// call) proposes a new store and the deletion of one of the fleet's; the
// titles and bodies of the pull requests, as Gitea serves them, and the
// proposals list are swept. The forge token is one more secret. (The
// daemons of the case read their own Git server, which is no forge: the
// proposals are made from the test.)
func sweepProposals(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	g := giteatest.Start(t)
	e.secrets[g.Token()] = "forge token"
	const repo = "chaos-sweep"
	clone := g.CreateRepo(t, repo, map[string]string{"stores.yaml": e.file()})
	src, err := gitsource.New(gitsource.Config{URL: clone, Auth: gitsource.Auth{Token: g.Token()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fg, err := forge.New(forge.Config{Kind: forge.KindGitea, BaseURL: g.URL(), Repo: g.RepoPath(repo), Token: g.Token()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := proposals.New(proposals.Config{Source: src, Forge: fg})
	if err != nil {
		t.Fatal(err)
	}
	var made []proposals.Proposal
	for _, propose := range []func() (proposals.Proposal, error){
		func() (proposals.Proposal, error) {
			return p.ProposeCreate(ctx, render.NewStore{Name: "chaos-s-new", Type: "medusa", Plan: "large"}, "chaos")
		},
		func() (proposals.Proposal, error) { return p.ProposeDelete(ctx, e.names()[0], "chaos") },
	} {
		pr, err := propose()
		if err != nil {
			t.Fatalf("propose: %v", err)
		}
		made = append(made, pr)
	}
	pulls := g.Pulls(t, repo)
	if len(pulls) != len(made) {
		t.Fatalf("%d pull requests on Gitea, want %d", len(pulls), len(made))
	}
	for _, pr := range pulls {
		if !strings.Contains(pr.Body, "store-") {
			t.Errorf("pull request #%d: the body does not show the change:\n%s", pr.Number, pr.Body)
		}
		e.out.add(fmt.Sprintf("pull request #%d on Gitea", pr.Number), pr.Title+"\n"+pr.Body)
	}
	list, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.out.add("proposals list", fmt.Sprintf("%+v\n%+v", list, made))
	t.Logf("swept %d pull request bodies from Gitea", len(pulls))
}
