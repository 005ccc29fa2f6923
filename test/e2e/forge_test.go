package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/storeops/storeops/internal/giteatest"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web/dashboard"
	"golang.org/x/crypto/bcrypt"
)

// TestDashboardProposesThroughGitea is the whole loop on a real forge: in
// a real browser, a logged-in user asks the dashboard for a new store; it
// opens a pull request on Gitea; the pull request is merged; Gitea's push
// webhook triggers storeops; the store reaches Ready on the local control
// plane and appears on the dashboard.
func TestDashboardProposesThroughGitea(t *testing.T) {
	cleanupStores(t, "e2e-gitea-a", "e2e-gitea-b")
	exe := chromiumPath(t)
	g := giteatest.Start(t)
	clone := g.CreateRepo(t, "fleet", map[string]string{"stores.yaml": "# The fleet\nstores:\n  - name: e2e-gitea-a # the first store\n    type: woocommerce\n"})

	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), dashboard.MinBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemonEnv(t, []string{"STOREOPS_GIT_TOKEN=" + g.Token(), "STOREOPS_FORGE_TOKEN=" + g.Token()}, clone,
		"--webhooks", "gitea",
		"--forge", "gitea", "--forge-url", g.URL(), "--forge-repo", g.RepoPath("fleet"),
		"--dashboard-users-file", users)
	g.AddWebhook(t, "fleet", "http://"+d.addr+"/hooks/gitea", webhookSecret)
	d.waitPhase("e2e-gitea-a", reconcile.PhaseReady)

	tab := newBrowser(t, exe)
	base := "http://" + d.addr
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	run("open the create form, log in",
		chromedp.Navigate(base+"/new-store"),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("user"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse"),
		chromedp.Click(chromedp.CSS("form.login button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("name")),
	)
	run("propose the store",
		chromedp.SendKeys(chromedp.ID("name"), "e2e-gitea-b"),
		chromedp.SendKeys(chromedp.ID("adminEmail"), "owner@b.example.com"),
		chromedp.Click(chromedp.CSS("form.create button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("pr-link")),
	)
	link, err := chromedp.Run(tab, chromedp.AttributeValue(chromedp.ID("pr-link"), "href"))
	if err != nil {
		t.Fatal(err)
	}
	prURL := link.Value
	m := regexp.MustCompile(`/pulls/(\d+)$`).FindStringSubmatch(prURL)
	if m == nil {
		t.Fatalf("pull request link %q", prURL)
	}
	number, _ := strconv.Atoi(m[1])
	body := g.ReadFile(t, "fleet", "storeops/add-e2e-gitea-b", "stores.yaml")
	if !contains(body, "# The fleet", "# the first store", "name: e2e-gitea-b", "email: owner@b.example.com") {
		t.Fatalf("proposed stores.yaml:\n%s", body)
	}

	// Nothing changes in the cluster until the pull request is merged.
	if _, ok := d.store("e2e-gitea-b"); ok {
		t.Fatal("the store exists before the merge")
	}
	g.Merge(t, "fleet", number)
	d.waitPhase("e2e-gitea-b", reconcile.PhaseReady) // the schedule is hourly: the webhook did it

	ctx, cancel := context.WithTimeout(tab, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("store-e2e-gitea-b")),
	); err != nil {
		t.Fatalf("the new store on the dashboard: %v", err)
	}
	saveScreenshot(t, tab, "e2e-gitea-stores")
	run("proposals page", chromedp.Navigate(base+"/proposals"), chromedp.WaitVisible(chromedp.CSS("main")))
	proposals, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if !contains(proposals, "e2e-gitea-b", "merged") {
		t.Fatalf("proposals page:\n%s", proposals)
	}
}

// chromiumPath is the browser, from $CHROMIUM or Debian's package.
func chromiumPath(t *testing.T) string {
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no Chromium at %s: apt-get install -y chromium, or set $CHROMIUM", path)
	}
	return path
}

// newBrowser starts headless Chromium and returns a tab.
func newBrowser(t *testing.T, exe string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.UserDataDir(t.TempDir()), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return tab
}

// saveScreenshot writes a PNG of the tab to test/artifacts.
func saveScreenshot(t *testing.T, tab context.Context, name string) {
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join("..", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
}
