package dashboard_test

// These tests drive the dashboard in real headless Chromium with chromedp.
// They need Chromium at /usr/bin/chromium or at $CHROMIUM (Debian:
// apt-get install -y chromium); with -short they are skipped when it is
// missing. Each test saves PNG screenshots to test/artifacts/ at the
// repository root.

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeops/storeops/reconcile"
)

// browserTimeout bounds one browser test.
const browserTimeout = 60 * time.Second

// chromium returns the browser binary, or fails (skips with -short) when
// there is none.
func chromium(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if testing.Short() {
			t.Skipf("no Chromium at %s (set $CHROMIUM): skipping the browser test in -short mode", path)
		}
		t.Fatalf("no Chromium at %s: install it (Debian: apt-get install -y chromium) or set $CHROMIUM to its path; -short skips the browser tests", path)
	}
	return path
}

// browser starts Chromium for t and returns the context of a first tab.
// newTab opens further tabs with their own cookies.
func browser(t *testing.T) (tab context.Context, newTab func() context.Context) {
	t.Helper()
	exe := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start Chromium %s: %v", exe, err)
	}
	newTab = func() context.Context {
		tabCtx, cancelTab := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
		t.Cleanup(cancelTab)
		if err := chromedp.Do(tabCtx); err != nil {
			t.Fatalf("open a tab: %v", err)
		}
		watchConsole(t, tabCtx)
		return tabCtx
	}
	watchConsole(t, browserCtx)
	return browserCtx, newTab
}

// watchConsole fails the test on an uncaught exception or a
// Content-Security-Policy violation in the page.
func watchConsole(t *testing.T, ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	messages := chromedp.Console(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException || strings.Contains(m.Text, "Content Security Policy") {
				t.Errorf("browser console: %s: %s", m.Type, m.Text)
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// artifacts returns test/artifacts at the repository root, created.
func artifacts(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, "test", "artifacts")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// screenshot saves the whole page as test/artifacts/dashboard-<name>.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(artifacts(t), "dashboard-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// serve is start for a browser, with an optional wrapper of the whole
// handler.
func serve(t *testing.T, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	return startWrapped(t, nil, wrap)
}

// phaseOf is a JavaScript expression: the phase text of a store's row.
func phaseOf(store string) string {
	return `((document.querySelector("#store-` + store + ` .phase") || {}).textContent || "")`
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls expr in the page until it is true.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

func TestBrowserLiveStoreList(t *testing.T) {
	e := serve(t, nil)
	tab, _ := browser(t)
	do(t, tab, "open the store list", chromedp.Navigate(e.srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("store-beta")))
	waitFor(t, tab, "the live stream", `document.body.dataset.live === "sse"`)
	if got := eval[string](t, tab, phaseOf("beta")); !strings.Contains(got, "Provisioning") {
		t.Fatalf("beta shows %q, want Provisioning", got)
	}
	// The stylesheet is applied under the CSP: phases have their colours.
	if bg := eval[string](t, tab, `getComputedStyle(document.querySelector("#store-alpha .phase")).backgroundColor`); bg != "rgb(227, 245, 233)" {
		t.Errorf("Ready badge background %q: the stylesheet did not apply", bg)
	}
	screenshot(t, tab, "stores")

	// Mark the document: a reload would lose the mark.
	eval[int](t, tab, `window.storeopsMark = 42`)
	next := sampleSnapshot()
	next.Stores[1].Phase = reconcile.PhaseReady
	next.Stores[1].Message = ""
	next.Revision = "77777777778888888888999999999900000000aa"
	e.board.Publish(next)
	waitFor(t, tab, "beta to turn Ready", phaseOf("beta")+`.includes("Ready")`)
	if mark := eval[int](t, tab, `window.storeopsMark || 0`); mark != 42 {
		t.Errorf("the page was reloaded (mark %d)", mark)
	}
	if status := eval[string](t, tab, `document.getElementById("status").textContent`); !strings.Contains(status, "7777777777") {
		t.Errorf("header status %q: want the new revision", status)
	}
	// A refusal shows the banner at once.
	e.board.Publish(refused())
	waitFor(t, tab, "the refused banner", `!!document.querySelector("#banner .banner")`)
	screenshot(t, tab, "stores-live-refused")

	// Filters work in the live view too: a filtered page gets only its rows.
	do(t, tab, "filter", chromedp.Navigate(e.srv.URL+"/?type=medusa"), chromedp.WaitVisible(chromedp.ID("store-beta")))
	waitFor(t, tab, "the live stream", `document.body.dataset.live === "sse"`)
	if n := eval[int](t, tab, `document.querySelectorAll("#store-rows tr").length`); n != 2 {
		t.Errorf("medusa filter shows %d rows, want 2", n)
	}
}

func TestBrowserPollingFallback(t *testing.T) {
	release := make(chan struct{})
	e := serve(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/events" {
				<-release
				http.Error(w, "streams are off", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	tab, _ := browser(t)
	do(t, tab, "open the store list", chromedp.Navigate(e.srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("store-beta")))
	next := sampleSnapshot()
	next.Stores[1].Phase = reconcile.PhaseReady
	e.board.Publish(next)
	close(release)
	waitFor(t, tab, "polling", `document.body.dataset.live === "poll"`)
	waitFor(t, tab, "beta to turn Ready", phaseOf("beta")+`.includes("Ready")`)
	if got := eval[string](t, tab, `document.querySelector("#store-evil-shop .message").textContent`); !strings.Contains(got, xss) {
		t.Errorf("message %q: want the text as text", got)
	}
	if n := eval[int](t, tab, `document.querySelectorAll("#store-rows script, #store-rows img").length`); n != 0 {
		t.Errorf("%d elements made from store text", n)
	}
	screenshot(t, tab, "stores-polling")
}

// login fills the login form the tab is on.
func login(t *testing.T, tab context.Context) {
	t.Helper()
	do(t, tab, "log in",
		chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Click(chromedp.CSS("form.login button[type=submit]")),
	)
}

func TestBrowserCreateStore(t *testing.T) {
	e := serve(t, nil)
	tab, _ := browser(t)
	// Anonymous: the form leads to the login page, and back.
	do(t, tab, "open the form", chromedp.Navigate(e.srv.URL+"/new-store"), chromedp.WaitVisible(chromedp.ID("password")))
	screenshot(t, tab, "login")
	login(t, tab)
	do(t, tab, "form after login", chromedp.WaitVisible(chromedp.ID("name")))

	do(t, tab, "submit a bad name",
		chromedp.SendKeys(chromedp.ID("name"), "Bad_Name"),
		chromedp.SetValue(chromedp.ID("type"), "medusa"),
		chromedp.Click(chromedp.CSS("form.create button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("name-error")),
	)
	msg := eval[string](t, tab, `document.getElementById("name-error").textContent`)
	if !strings.Contains(msg, "is not a DNS label") {
		t.Errorf("name error %q", msg)
	}
	if got := eval[string](t, tab, `document.getElementById("type").value`); got != "medusa" {
		t.Errorf("type kept as %q", got)
	}
	screenshot(t, tab, "create-error")
	if calls := e.proposer.Calls(); len(calls) != 0 {
		t.Errorf("proposer called for a bad name: %v", calls)
	}

	eval[string](t, tab, `document.getElementById("name").value = ""`)
	do(t, tab, "submit a good store",
		chromedp.SendKeys(chromedp.ID("name"), "delta"),
		chromedp.SendKeys(chromedp.ID("adminEmail"), "ops@example.com"),
		chromedp.Click(chromedp.CSS("form.create button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("pr-link")),
	)
	href := eval[string](t, tab, `document.getElementById("pr-link").href`)
	if href != "https://git.example.com/shops/stores/pulls/41" {
		t.Errorf("pull request link %q", href)
	}
	if got := e.proposer.Calls(); len(got) != 1 || got[0] != "create delta by alice" {
		t.Errorf("calls %v", got)
	}
	screenshot(t, tab, "create-proposed")
}

func TestBrowserDeleteStore(t *testing.T) {
	e := serve(t, nil)
	tab, newTab := browser(t)
	do(t, tab, "log in", chromedp.Navigate(e.srv.URL+"/login?next=/stores/gamma"))
	login(t, tab)
	do(t, tab, "store page", chromedp.WaitVisible(chromedp.ID("confirm")))
	screenshot(t, tab, "store")

	do(t, tab, "type a wrong name",
		chromedp.SendKeys(chromedp.ID("confirm"), "gama"),
		chromedp.Click(chromedp.CSS("#delete button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("confirm-error")),
	)
	if calls := e.proposer.Calls(); len(calls) != 0 {
		t.Fatalf("proposer called on a wrong name: %v", calls)
	}
	do(t, tab, "scroll", chromedp.ScrollIntoView(chromedp.ID("delete")))
	screenshot(t, tab, "delete-mismatch")
	eval[string](t, tab, `document.getElementById("confirm").value = ""`)
	do(t, tab, "type the right name",
		chromedp.SendKeys(chromedp.ID("confirm"), "gamma"),
		chromedp.Click(chromedp.CSS("#delete button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("pr-link")),
	)
	if href := eval[string](t, tab, `document.getElementById("pr-link").href`); href != "https://git.example.com/shops/stores/pulls/42" {
		t.Errorf("pull request link %q", href)
	}
	if got := e.proposer.Calls(); len(got) != 1 || got[0] != "delete gamma by alice" {
		t.Errorf("calls %v", got)
	}
	screenshot(t, tab, "delete-proposed")

	// Someone who has not logged in sees no delete form and cannot post one.
	anon := newTab()
	do(t, anon, "anonymous store page", chromedp.Navigate(e.srv.URL+"/stores/gamma"), chromedp.WaitVisible(chromedp.ID("delete")))
	if n := eval[int](t, anon, `document.querySelectorAll("#delete form").length`); n != 0 {
		t.Errorf("anonymous user sees %d delete forms", n)
	}
	do(t, anon, "follow the login link", chromedp.Click(chromedp.CSS("#delete a")), chromedp.WaitVisible(chromedp.ID("password")))
	if loc := eval[string](t, anon, `location.pathname + location.search`); loc != "/login?next=/stores/gamma" {
		t.Errorf("login link leads to %q", loc)
	}
	do(t, anon, "open the create form", chromedp.Navigate(e.srv.URL+"/new-store"), chromedp.WaitVisible(chromedp.ID("password")))
	if loc := eval[string](t, anon, `location.pathname`); loc != "/login" {
		t.Errorf("anonymous create form at %q, want the login page", loc)
	}
}

func TestBrowserPages(t *testing.T) {
	e := serve(t, nil)
	e.board.Publish(refused())
	tab, _ := browser(t)
	do(t, tab, "open the login page", chromedp.Navigate(e.srv.URL+"/login?next=/sync"))
	login(t, tab) // the proposals page needs a login
	do(t, tab, "land on the sync page", chromedp.WaitVisible(chromedp.ID("refused")))
	for _, p := range []struct{ path, name, visible string }{
		{"/sync", "sync-refused", "refused"},
		{"/proposals", "proposals", "refused"},
		{"/stores/evil-shop", "store-hostile-text", "refused"},
	} {
		// A navigation the page's own loading cancels (the login's
		// redirect to /sync still settling) ends in ERR_ABORTED: the page
		// is asked for again, a few times at most.
		for try := 1; ; try++ {
			err := chromedp.Do(tab, chromedp.Navigate(e.srv.URL+p.path), chromedp.WaitVisible(chromedp.ID(p.visible)))
			if err == nil {
				break
			}
			if try == 3 || !strings.Contains(err.Error(), "ERR_ABORTED") {
				t.Fatalf("%s: %v", p.path, err)
			}
		}
		if n := eval[int](t, tab, `document.querySelectorAll("main script, main img").length`); n != 0 {
			t.Errorf("%s: %d elements made from store text", p.path, n)
		}
		screenshot(t, tab, p.name)
	}

	// Several target clusters, one down: the sync page says which.
	snap := sampleSnapshot()
	snap.Clusters = []reconcile.ClusterStatus{{Name: "local", Ready: true}, {Name: "eu", Message: "cluster eu has not answered since 2026-03-01T12:00:00Z: connection refused"}}
	e.board.Publish(snap)
	do(t, tab, "open the sync page with clusters", chromedp.Navigate(e.srv.URL+"/sync"), chromedp.WaitVisible(chromedp.CSS("main")))
	if text := eval[string](t, tab, `document.querySelector("main").innerText`); !strings.Contains(text, "Cluster eu") || !strings.Contains(text, "its stores are held") || !strings.Contains(text, "connection refused") {
		t.Errorf("sync page with a cluster down shows:\n%s", text)
	}
	screenshot(t, tab, "sync-clusters")
}
