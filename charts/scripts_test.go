package charts_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storeops/storeops/charts"
)

// These tests run the stores' setup scripts with stubs in place of the
// programs they drive (WP-CLI, PHP, PostgreSQL's client, the Medusa CLI):
// what the scripts decide, in which order, and what they put on command
// lines. The programs themselves are not exercised (no image runs here).

// wpStub emulates the WP-CLI commands setup.sh uses, with its state in
// files under $STATE, and records every call's arguments in $STATE/calls.
const wpStub = `#!/bin/sh
S="$STATE"
printf '%s\n' "$*" >> "$S/calls"
arg() { for a in "$@"; do case "$a" in --$name=*) echo "${a#--$name=}"; return;; esac; done; }
case "$1 $2" in
"core is-installed") [ -f "$S/installed" ] ;;
"core install") cat > "$S/stdin"; touch "$S/installed" ;;
"core update-db") ;;
"plugin is-installed") [ -f "$S/plugin-$3" ] ;;
"plugin get") cat "$S/plugin-$3" ;;
"plugin install") name=version; arg "$@" > "$S/plugin-$3" ;;
"plugin is-active") [ -f "$S/active-$3" ] ;;
"plugin activate") touch "$S/active-$3" ;;
"wc update") ;;
"option update") echo "$4" > "$S/option-$3" ;;
"option get") cat "$S/option-$3" 2>/dev/null ;;
"wc payment_gateway") name=enabled; arg "$@" > "$S/gateway-$4" ;;
"wc shipping_zone_method")
  case "$3" in
  list) echo "instance_id,method_id"; if [ -f "$S/flat" ]; then echo "7,flat_rate"; fi ;;
  create|update) name=settings; arg "$@" > "$S/flat" ;;
  delete) rm -f "$S/flat" ;;
  esac ;;
"post list") cat "$S/products" 2>/dev/null || echo 0 ;;
"import wp-content/plugins/woocommerce/sample-data/sample_products.xml") echo 5 > "$S/products" ;;
"cron event") ;;
*) echo "wp stub: unexpected: $*" >&2; exit 3 ;;
esac
`

// phpStub answers setup.sh's database probe: it fails $PHP_FAILS times,
// then succeeds.
const phpStub = `#!/bin/sh
n=$(cat "$STATE/php" 2>/dev/null || echo 0)
echo $((n + 1)) > "$STATE/php"
[ "$n" -ge "${PHP_FAILS:-0}" ]
`

type wooRun struct {
	t     *testing.T
	state string
	bin   string
	env   map[string]string
}

func newWooRun(t *testing.T) *wooRun {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	r := &wooRun{t: t, state: filepath.Join(dir, "state"), bin: filepath.Join(dir, "bin")}
	for _, d := range []string{r.state, r.bin, filepath.Join(dir, "html")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeExec(t, filepath.Join(r.bin, "wp"), wpStub)
	writeExec(t, filepath.Join(r.bin, "php"), phpStub)
	pw := filepath.Join(dir, "admin-password")
	if err := os.WriteFile(pw, []byte("-Secret0pass"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.env = map[string]string{
		"PATH":                r.bin + ":" + os.Getenv("PATH"),
		"STATE":               r.state,
		"WP_PATH":             filepath.Join(dir, "html"),
		"WP_CLI_BIN":          filepath.Join(r.bin, "wp"),
		"DB_WAIT_INTERVAL":    "0",
		"WORDPRESS_DB_HOST":   "shop-mysql",
		"STORE_URL":           "http://shop.stores.localhost",
		"STORE_TITLE":         "Shop",
		"ADMIN_USER":          "admin",
		"ADMIN_EMAIL":         "admin@shop.stores.localhost",
		"ADMIN_PASSWORD_FILE": pw,
		"WOOCOMMERCE_VERSION": "10.3.0",
		"IMPORTER_VERSION":    "0.8.4",
		"SAMPLE_DATA":         "true",
		"PAYMENT_METHODS":     "cod",
		"FLAT_RATE_COST":      "5.00",
	}
	return r
}

func writeExec(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

// run runs a script of the woocommerce chart and returns the wp calls it made.
func (r *wooRun) run(script string) []string {
	r.t.Helper()
	os.Remove(filepath.Join(r.state, "calls"))
	cmd := exec.Command("sh", filepath.Join("woocommerce", "files", script))
	for k, v := range r.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("%s: %v\n%s", script, err, out)
	}
	data, _ := os.ReadFile(filepath.Join(r.state, "calls"))
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func (r *wooRun) file(name string) string {
	data, _ := os.ReadFile(filepath.Join(r.state, name))
	return strings.TrimSpace(string(data))
}

func hasCall(calls []string, prefix string) bool {
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

func callIndex(t *testing.T, calls []string, prefix string) int {
	t.Helper()
	for i, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return i
		}
	}
	t.Fatalf("no call %q in %q", prefix, calls)
	return -1
}

func TestWooCommerceSetupFreshStore(t *testing.T) {
	r := newWooRun(t)
	r.env["PHP_FAILS"] = "2" // the database answers on the third try
	calls := r.run("setup.sh")
	if r.file("php") != "3" {
		t.Errorf("database probed %s times, want 3", r.file("php"))
	}
	// Installed with the password from the file, on stdin only.
	if r.file("stdin") != "-Secret0pass" {
		t.Errorf("wp core install read %q on stdin", r.file("stdin"))
	}
	for _, c := range calls {
		if strings.Contains(c, "Secret0pass") {
			t.Errorf("password on a command line: wp %s", c)
		}
	}
	if !hasCall(calls, "core install ") || !strings.Contains(calls[callIndex(t, calls, "core install ")], "--prompt=admin_password") {
		t.Errorf("core install without --prompt=admin_password: %q", calls)
	}
	if r.file("plugin-woocommerce") != "10.3.0" {
		t.Errorf("WooCommerce %q installed", r.file("plugin-woocommerce"))
	}
	if callIndex(t, calls, "core update-db") > callIndex(t, calls, "wc update") || callIndex(t, calls, "plugin install woocommerce") > callIndex(t, calls, "wc update") {
		t.Errorf("database updates out of order: %q", calls)
	}
	if r.file("option-woocommerce_onboarding_profile") != `{"skipped":true}` {
		t.Errorf("onboarding wizard not skipped: %q", r.file("option-woocommerce_onboarding_profile"))
	}
	if r.file("option-woocommerce_coming_soon") != "no" {
		t.Errorf("store not launched: woocommerce_coming_soon=%q", r.file("option-woocommerce_coming_soon"))
	}
	for gw, want := range map[string]string{"cod": "true", "bacs": "false", "cheque": "false"} {
		if got := r.file("gateway-" + gw); got != want {
			t.Errorf("payment method %s enabled=%q, want %s", gw, got, want)
		}
	}
	if !strings.Contains(r.file("flat"), `"cost":"5.00"`) || !hasCall(calls, "wc shipping_zone_method create 0 --method_id=flat_rate") {
		t.Errorf("flat rate: %q (calls %q)", r.file("flat"), calls)
	}
	if r.file("products") != "5" {
		t.Errorf("sample products not imported")
	}
}

func TestWooCommerceSetupConverges(t *testing.T) {
	r := newWooRun(t)
	r.run("setup.sh")

	// The same values again: nothing is installed or imported twice.
	calls := r.run("setup.sh")
	for _, c := range []string{"core install", "plugin install woocommerce", "import ", "wc shipping_zone_method create", "option update woocommerce_onboarding_profile"} {
		if hasCall(calls, c) {
			t.Errorf("second run did %q again", c)
		}
	}
	if !hasCall(calls, "core update-db") || !hasCall(calls, "wc update") {
		t.Errorf("second run skipped the database updates: %q", calls)
	}

	// An upgrade: new WooCommerce version, other payment methods and rate.
	r.env["WOOCOMMERCE_VERSION"] = "10.4.1"
	r.env["PAYMENT_METHODS"] = "bacs,cheque"
	r.env["FLAT_RATE_COST"] = "0"
	calls = r.run("setup.sh")
	i := callIndex(t, calls, "plugin install woocommerce")
	if !strings.Contains(calls[i], "--version=10.4.1") || !strings.Contains(calls[i], "--force") {
		t.Errorf("upgrade: %q", calls[i])
	}
	if callIndex(t, calls, "wc update") < i {
		t.Errorf("wc update before the new version: %q", calls)
	}
	if r.file("plugin-woocommerce") != "10.4.1" {
		t.Errorf("WooCommerce %q after the upgrade", r.file("plugin-woocommerce"))
	}
	for gw, want := range map[string]string{"cod": "false", "bacs": "true", "cheque": "true"} {
		if got := r.file("gateway-" + gw); got != want {
			t.Errorf("payment method %s enabled=%q, want %s", gw, got, want)
		}
	}
	if !strings.Contains(r.file("flat"), `"cost":"0"`) || !hasCall(calls, "wc shipping_zone_method update 0 7") {
		t.Errorf("flat rate not updated in place: %q", r.file("flat"))
	}

	// No flat rate wanted: the one there is removed.
	r.env["FLAT_RATE_COST"] = ""
	r.run("setup.sh")
	if r.file("flat") != "" {
		t.Errorf("flat rate left: %q", r.file("flat"))
	}
}

func TestWooCommerceCron(t *testing.T) {
	r := newWooRun(t)
	if calls := r.run("cron.sh"); hasCall(calls, "cron event") {
		t.Errorf("cron ran before WordPress was installed: %q", calls)
	}
	r.run("setup.sh")
	if calls := r.run("cron.sh"); !hasCall(calls, "cron event run --due-now") {
		t.Errorf("cron: %q", calls)
	}
}

// pgStub is a fake "pg" module for storeops/migrate.js: connections fail
// $PG_FAILS times, queries are logged to $EVENTS.
const pgStub = `const fs = require("fs")
const log = (e) => fs.appendFileSync(process.env.EVENTS, e + "\n")
class Client {
  constructor(opts) { this.opts = opts }
  async connect() {
    const n = Number(fs.existsSync(process.env.EVENTS + ".n") ? fs.readFileSync(process.env.EVENTS + ".n", "utf8") : "0")
    fs.writeFileSync(process.env.EVENTS + ".n", String(n + 1))
    if (n < Number(process.env.PG_FAILS || 0)) throw new Error("connect ECONNREFUSED")
    this.connected = true
    log("connect " + this.opts.user + "@" + this.opts.host + "/" + this.opts.database + " password=" + this.opts.password + " ssl=" + this.opts.ssl)
  }
  async query(sql, params) { log(sql.split("(")[0] + " " + params.join(",")) }
  async end() { if (this.connected) log("end") }
}
module.exports = { Client }
`

func nodeOrSkip(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	return node
}

func TestMedusaMigrateTakesTheLock(t *testing.T) {
	node := nodeOrSkip(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "node_modules", "pg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "node_modules", "pg", "index.js"), []byte(pgStub), 0o644); err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(dir, "events")
	cli := filepath.Join(dir, "medusa")
	writeExec(t, cli, "#!/bin/sh\necho \"medusa $*\" >> \"$EVENTS\"\nexit \"${MIGRATE_STATUS:-0}\"\n")
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("pgSecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{"0", "3"} {
		os.Remove(events)
		os.Remove(events + ".n")
		cmd := exec.Command(node, filepath.Join("medusa-images", "backend", "storeops", "migrate.js"))
		cmd.Env = []string{
			"NODE_PATH=" + filepath.Join(dir, "node_modules"), "EVENTS=" + events, "PG_FAILS=2",
			"MIGRATE_RETRY_MS=1", "MEDUSA_CLI=" + cli, "MIGRATE_STATUS=" + status,
			"POSTGRES_HOST=shop-postgres", "POSTGRES_USER=medusa", "POSTGRES_DB=medusa", "POSTGRES_PASSWORD_FILE=" + pw,
		}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"0": 0, "3": 3}[status]; code != want {
			t.Errorf("migration status %s: exit %d\n%s", status, code, out)
		}
		data, _ := os.ReadFile(events)
		got := strings.Split(strings.TrimSpace(string(data)), "\n")
		want := []string{
			"connect medusa@shop-postgres/medusa password=pgSecret ssl=false",
			"SELECT pg_advisory_lock 7305761171069271",
			"medusa db:migrate",
			"SELECT pg_advisory_unlock 7305761171069271",
			"end",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("status %s: events\n%s\nwant\n%s\n%s", status, strings.Join(got, "\n"), strings.Join(want, "\n"), out)
		}
	}
}

func TestMedusaSetupWaitsForHealth(t *testing.T) {
	node := nodeOrSkip(t)
	dir := t.TempDir()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		if hits.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	events := filepath.Join(dir, "events")
	cli := filepath.Join(dir, "medusa")
	writeExec(t, cli, "#!/bin/sh\necho \"$*\" >> \"$EVENTS\"\n")
	run := func(url, wait string) (int, string) {
		cmd := exec.Command(node, filepath.Join("medusa-images", "backend", "storeops", "setup.js"))
		cmd.Env = []string{"EVENTS=" + events, "MEDUSA_CLI=" + cli, "MEDUSA_SERVER_URL=" + url, "SETUP_WAIT_SECONDS=" + wait, "SETUP_RETRY_MS=1"}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := run(srv.URL, "60"); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	data, _ := os.ReadFile(events)
	if hits.Load() != 3 || strings.TrimSpace(string(data)) != "exec ./src/scripts/storeops-setup.js" {
		t.Errorf("health asked %d times; ran %q", hits.Load(), data)
	}
	os.Remove(events)
	// A server that never answers: no setup, a failure.
	if code, _ := run("http://127.0.0.1:1", "0"); code == 0 {
		t.Error("setup succeeded without a healthy server")
	}
	if _, err := os.Stat(events); err == nil {
		t.Error("setup ran without a healthy server")
	}
}

func TestStorefrontPatch(t *testing.T) {
	node := nodeOrSkip(t)
	dir := t.TempDir()
	page := "import { listCollections } from \"@lib/data/collections\"\n\nexport async function generateStaticParams() {\n  const { collections } = await listCollections()\n  return collections.map((c) => ({ handle: c.handle }))\n}\n\nexport default function Page() { return null }\n"
	files := map[string]string{
		"src/app/[countryCode]/(main)/collections/[handle]/page.tsx":     page,
		"src/app/[countryCode]/(main)/categories/[...category]/page.tsx": page,
		"src/middleware.ts":       "export const config = {\n  matcher: [\"/((?!api|_next/static|_next/image|favicon.ico).*)\"],\n}\n",
		"src/lib/data/cookies.ts": "export const setAuthToken = async (token: string) => {\n  cookies().set(\"_medusa_jwt\", token, {\n    httpOnly: true,\n    secure: process.env.NODE_ENV === \"production\",\n  })\n}\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join("medusa-images", "storefront", "patch-starter.js")
	if out, err := exec.Command(node, script, dir).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for name := range files {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		text := string(data)
		if strings.HasSuffix(name, "middleware.ts") {
			continue
		}
		if strings.HasSuffix(name, "page.tsx") {
			if strings.Count(text, "export async function generateStaticParams") != 1 || !strings.Contains(text, "catch (err)") || !strings.Contains(text, "async function storeopsGenerateStaticParams(") {
				t.Errorf("%s not wrapped:\n%s", name, text)
			}
		} else if !strings.Contains(text, `secure: process.env.STOREOPS_SECURE_COOKIES === "true"`) {
			t.Errorf("%s: cookies still Secure whenever NODE_ENV is production:\n%s", name, text)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "src", "app", "api", "storeops-health", "route.ts")); err != nil {
		t.Errorf("no health route: %v", err)
	}
	// A starter that no longer matches fails the build.
	empty := t.TempDir()
	if err := os.MkdirAll(filepath.Join(empty, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, script, empty).CombinedOutput(); err == nil {
		t.Errorf("patched a starter without the expected code:\n%s", out)
	}
}

// TestImageBuildsArePinned reads the Medusa images' Dockerfiles: every
// source is pinned or the build refuses to run, and a missing admin build
// fails the build.
func TestImageBuildsArePinned(t *testing.T) {
	for _, img := range []string{"backend", "storefront"} {
		t.Run(img, func(t *testing.T) {
			dir := filepath.Join("medusa-images", img)
			data, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			df := string(data)
			for _, p := range unpinnedSources(df, func(name string) bool {
				_, err := os.Stat(filepath.Join(dir, name))
				return err == nil
			}) {
				t.Error(p)
			}
			if img == "backend" {
				// The committed app, not a clone of the starter.
				if strings.Contains(df, "STARTER_REF") || strings.Contains(df, "git ") {
					t.Error("the backend is built from a clone, not from the committed package.json and package-lock.json")
				}
				if !regexp.MustCompile(`(?m)^COPY package\.json package-lock\.json `).MatchString(df) {
					t.Error("the backend's build does not copy the committed package.json and package-lock.json")
				}
				if !strings.Contains(df, `= "$MEDUSA_VERSION" ]`) {
					t.Error("the resolved @medusajs/framework is not compared with MEDUSA_VERSION")
				}
				build := regexp.MustCompile(`(?m)^RUN MEDUSA_BUILD=true .*npx --no-install medusa build \\\n +&& test -f \.medusa/server/public/admin/index\.html \\\n +\|\| \{ .*exit 1; \}$`)
				if !build.MatchString(df) {
					t.Error("medusa build is not followed by a check that fails without .medusa/server/public/admin/index.html")
				}
			} else if !strings.Contains(df, "node /usr/local/lib/storeops/patch-starter.js /src && npx next build") {
				t.Error("next build runs without patch-starter.js")
			}
		})
	}
}

// unpinnedSources lists what a Dockerfile fetches without a pin: base
// images without a full version (or tagged latest), ARG defaults naming a
// branch or latest, git clones, fetches of a ref that is not checked to be
// a full commit, downloads with curl or wget, and installs that do not
// follow a lock file (npm install, yarn or pnpm without a frozen lock file,
// npm ci with no lock file in the build context or from the fetched
// source). exists says whether a file is in the build context.
func unpinnedSources(df string, exists func(name string) bool) []string {
	var problems []string
	df = strings.ReplaceAll(df, "\\\n", " ")
	args := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ARG (\w+)(?:=(\S*))?$`).FindAllStringSubmatch(df, -1) {
		args[m[1]] = m[2]
		if regexp.MustCompile(`(?i)^(main|master|trunk|develop|head|latest|stable|canary|next)$|:latest$`).MatchString(m[2]) {
			problems = append(problems, fmt.Sprintf("ARG %s=%s: a branch or a moving tag", m[1], m[2]))
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1) {
		ref := m[1]
		if v := regexp.MustCompile(`^\$\{(\w+)\}$`).FindStringSubmatch(ref); v != nil {
			ref = args[v[1]]
		}
		if !regexp.MustCompile(`:\d+\.\d+\.\d+[-\w.]*(@sha256:[0-9a-f]{64})?$`).MatchString(ref) {
			problems = append(problems, fmt.Sprintf("FROM %s (%s): not pinned to a full version", m[1], ref))
		}
	}
	runs := regexp.MustCompile(`(?m)^RUN .*$`).FindAllString(df, -1)
	all := strings.Join(runs, "\n")
	if strings.Contains(all, "git clone") {
		problems = append(problems, "git clone: follows whatever the remote's default branch is")
	}
	fetched := strings.Contains(all, "git fetch")
	if fetched {
		// The ref: an ARG without a default, checked to be 40 hex digits,
		// and the checkout compared with it.
		m := regexp.MustCompile(`git fetch [^&;]* "?\$\{?(\w+)\}?"?`).FindStringSubmatch(all)
		if m == nil {
			problems = append(problems, "git fetch of a ref that is not an ARG")
		} else {
			ref := m[1]
			if def, ok := args[ref]; !ok || def != "" {
				problems = append(problems, fmt.Sprintf("ARG %s must exist without a default (got %q)", ref, def))
			}
			for _, want := range []string{
				`*[!0-9a-f]*|"") echo "` + ref + ` must be a full 40-hex commit`,
				`[ "${#` + ref + `}" -eq 40 ]`,
				`[ "$(git rev-parse HEAD)" = "$` + ref + `" ]`,
			} {
				if !strings.Contains(df, want) {
					problems = append(problems, fmt.Sprintf("the fetched ref %s is not checked: no %q", ref, want))
				}
			}
		}
	}
	if regexp.MustCompile(`\b(curl|wget)\b`).MatchString(all) {
		problems = append(problems, "curl or wget: a download without a pinned digest")
	}
	for _, r := range runs {
		if regexp.MustCompile(`\bnpm (install|i)\b`).MatchString(r) {
			problems = append(problems, "npm install resolves versions anew: use npm ci: "+r)
		}
		if regexp.MustCompile(`\byarn install\b`).MatchString(r) && !regexp.MustCompile(`yarn install --(immutable|frozen-lockfile)`).MatchString(r) {
			problems = append(problems, "yarn install without a frozen lock file: "+r)
		}
		if regexp.MustCompile(`\bpnpm install\b`).MatchString(r) && !strings.Contains(r, "pnpm install --frozen-lockfile") {
			problems = append(problems, "pnpm install without --frozen-lockfile: "+r)
		}
	}
	installs := regexp.MustCompile(`\b(npm ci|yarn install|pnpm install)\b`).MatchString(all)
	if !installs {
		problems = append(problems, "no dependency install from a lock file")
	}
	if fetched {
		if !regexp.MustCompile(`has no lockfile" >&2; exit 1`).MatchString(df) {
			problems = append(problems, "the fetched source's install does not refuse a missing lock file")
		}
	} else {
		copied := regexp.MustCompile(`(?m)^COPY [^\n]*\b(package-lock\.json|yarn\.lock|pnpm-lock\.yaml)\b`).FindStringSubmatch(df)
		switch {
		case copied == nil:
			problems = append(problems, "no lock file copied into the build")
		case !exists(copied[1]):
			problems = append(problems, copied[1]+" is not in the build context")
		}
	}
	return problems
}

// TestUnpinnedSources: the checks of TestImageBuildsArePinned catch each
// way of building from a moving source.
func TestUnpinnedSources(t *testing.T) {
	backend, err := os.ReadFile(filepath.Join("medusa-images", "backend", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	storefront, err := os.ReadFile(filepath.Join("medusa-images", "storefront", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	lock := func(string) bool { return true }
	for name, c := range map[string]struct {
		df     string
		exists func(string) bool
		want   string
	}{
		"latest base":      {strings.Replace(string(backend), "node:20.19.5-bookworm-slim", "node:latest", 1), lock, "not pinned to a full version"},
		"minor base":       {strings.Replace(string(backend), "node:20.19.5-bookworm-slim", "node:20-bookworm-slim", 1), lock, "not pinned to a full version"},
		"branch default":   {strings.Replace(string(storefront), "ARG STARTER_REF\n", "ARG STARTER_REF=main\n", 1), lock, "ARG STARTER_REF=main: a branch"},
		"clone":            {strings.Replace(string(backend), "WORKDIR /src\n", "WORKDIR /src\nRUN git clone https://github.com/medusajs/medusa-starter-default.git .\n", 1), lock, "git clone"},
		"unchecked fetch":  {strings.Replace(string(storefront), `&& [ "$(git rev-parse HEAD)" = "$STARTER_REF" ]`, "", 1), lock, "the fetched ref STARTER_REF is not checked"},
		"npm install":      {strings.Replace(string(backend), "RUN npm ci --no-audit", "RUN npm install --no-audit", 1), lock, "npm install resolves versions anew"},
		"no lock file":     {string(backend), func(n string) bool { return n != "package-lock.json" }, "package-lock.json is not in the build context"},
		"lock not copied":  {strings.Replace(string(backend), "COPY package.json package-lock.json ", "COPY package.json ", 1), lock, "no lock file copied"},
		"lockless starter": {strings.Replace(string(storefront), `has no lockfile" >&2; exit 1`, `has no lockfile"`, 1), lock, "does not refuse a missing lock file"},
		"yarn unfrozen":    {strings.Replace(string(storefront), "yarn install --immutable || yarn install --frozen-lockfile", "yarn install", 1), lock, "yarn install without a frozen lock file"},
		"curl":             {strings.Replace(string(backend), "WORKDIR /src\n", "WORKDIR /src\nRUN curl -fsSL https://example.com/x.tgz | tar -xz\n", 1), lock, "curl or wget"},
	} {
		problems := unpinnedSources(c.df, c.exists)
		if !strings.Contains(strings.Join(problems, "\n"), c.want) {
			t.Errorf("%s: %q, want a problem with %q", name, problems, c.want)
		}
	}
	for name, df := range map[string][]byte{"backend": backend, "storefront": storefront} {
		if p := unpinnedSources(string(df), lock); len(p) > 0 {
			t.Errorf("%s: %q", name, p)
		}
	}
}

// TestMedusaConfig loads storeops/config.js (the settings of
// medusa-config.ts) with node, as the server, the image build and a
// misconfigured pod would.
func TestMedusaConfig(t *testing.T) {
	node := nodeOrSkip(t)
	dir := t.TempDir()
	files := map[string]string{}
	for _, k := range []string{"postgres-password", "redis-password", "jwt-secret", "cookie-secret"} {
		p := filepath.Join(dir, k)
		if err := os.WriteFile(p, []byte("v-"+k+"-0123456789abcdefghijklmnopqrstuvwxyz\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		files[k] = p
	}
	base := map[string]string{
		"MEDUSA_BACKEND_URL": "http://shop.stores.localhost", "STORE_CORS": "http://shop.stores.localhost",
		"ADMIN_CORS": "http://shop.stores.localhost", "AUTH_CORS": "http://shop.stores.localhost",
		"POSTGRES_HOST": "shop-postgres", "POSTGRES_USER": "medusa", "POSTGRES_DB": "medusa",
		"POSTGRES_PASSWORD_FILE": files["postgres-password"], "REDIS_HOST": "shop-redis",
		"REDIS_PASSWORD_FILE": files["redis-password"], "JWT_SECRET_FILE": files["jwt-secret"],
		"COOKIE_SECRET_FILE": files["cookie-secret"],
	}
	load := func(env map[string]string) (map[string]any, string) {
		cmd := exec.Command(node, "-e", `process.stdout.write(JSON.stringify(require(process.argv[1]).settings()))`,
			filepath.Join(mustAbs(t, "medusa-images/backend/storeops/config.js")))
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.Output()
		if err != nil {
			msg := err.Error()
			if ee, ok := err.(*exec.ExitError); ok {
				msg = string(ee.Stderr)
			}
			return nil, msg
		}
		var cfg map[string]any
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatal(err)
		}
		return cfg, ""
	}
	with := func(changes map[string]string) map[string]string {
		env := maps.Clone(base)
		for k, v := range changes {
			if v == "" {
				delete(env, k)
			} else {
				env[k] = v
			}
		}
		return env
	}

	cfg, errMsg := load(base)
	if errMsg != "" {
		t.Fatal(errMsg)
	}
	pc := cfg["projectConfig"].(map[string]any)
	wantURL := "postgres://medusa:v-postgres-password-0123456789abcdefghijklmnopqrstuvwxyz@shop-postgres:5432/medusa?ssl_mode=disable"
	if pc["databaseUrl"] != wantURL {
		t.Errorf("databaseUrl %v, want %s", pc["databaseUrl"], wantURL)
	}
	if ssl := pc["databaseDriverOptions"].(map[string]any)["connection"].(map[string]any)["ssl"]; ssl != false {
		t.Errorf("databaseDriverOptions.connection.ssl %v", ssl)
	}
	if !strings.HasPrefix(pc["redisUrl"].(string), "redis://:v-redis-password-") || !strings.HasSuffix(pc["redisUrl"].(string), "@shop-redis:6379") {
		t.Errorf("redisUrl %v", pc["redisUrl"])
	}
	if pc["cookieOptions"].(map[string]any)["secure"] != false {
		t.Errorf("plain HTTP store with Secure cookies: %v", pc["cookieOptions"])
	}
	if cfg["admin"].(map[string]any)["backendUrl"] != "/" {
		t.Errorf("admin backendUrl %v", cfg["admin"])
	}
	if !strings.Contains(fmt.Sprint(cfg["modules"]), "backend_url:http://shop.stores.localhost/static") {
		t.Errorf("uploads not linked with the public URL: %v", cfg["modules"])
	}

	cfg, errMsg = load(with(map[string]string{"MEDUSA_BACKEND_URL": "https://shop.example.com"}))
	if errMsg != "" || cfg["projectConfig"].(map[string]any)["cookieOptions"].(map[string]any)["secure"] != true {
		t.Errorf("https store: cookies not Secure (%v %s)", cfg, errMsg)
	}

	// Refused: a missing secret, a default one, a missing variable.
	super := filepath.Join(dir, "super")
	if err := os.WriteFile(super, []byte("supersecret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]map[string]string{
		"no jwt secret":      with(map[string]string{"JWT_SECRET_FILE": ""}),
		"supersecret cookie": with(map[string]string{"COOKIE_SECRET_FILE": super}),
		"unreadable file":    with(map[string]string{"REDIS_PASSWORD_FILE": filepath.Join(dir, "missing")}),
		"no database host":   with(map[string]string{"POSTGRES_HOST": ""}),
	} {
		if _, errMsg := load(env); errMsg == "" {
			t.Errorf("%s: configuration loaded", name)
		}
	}

	// The image build: nothing set but MEDUSA_BUILD, and it loads.
	cfg, errMsg = load(map[string]string{"MEDUSA_BUILD": "true"})
	if errMsg != "" {
		t.Fatalf("build configuration: %s", errMsg)
	}
	if strings.Contains(fmt.Sprint(cfg), "v-") {
		t.Errorf("build configuration holds a secret: %v", cfg)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestMedusaEntrypoint runs the backend image's entrypoint: it starts the
// command only with every secret file present and no default or short
// secret.
func TestMedusaEntrypoint(t *testing.T) {
	dir := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH")}
	for _, k := range []string{"POSTGRES_PASSWORD", "REDIS_PASSWORD", "JWT_SECRET", "COOKIE_SECRET"} {
		p := filepath.Join(dir, k)
		if err := os.WriteFile(p, []byte("0123456789abcdefghijklmnopqrstuvwxyzABC"), 0o600); err != nil {
			t.Fatal(err)
		}
		env = append(env, k+"_FILE="+p)
	}
	run := func(env []string) (string, error) {
		cmd := exec.Command("sh", filepath.Join("medusa-images", "backend", "docker-entrypoint.sh"), "echo", "started")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(env); err != nil || strings.TrimSpace(out) != "started" {
		t.Errorf("valid secrets: %v %q", err, out)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("supersecret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string][]string{
		"default jwt secret": append(slices.Clone(env), "JWT_SECRET_FILE="+short),
		"missing file":       append(slices.Clone(env), "REDIS_PASSWORD_FILE="+filepath.Join(dir, "nope")),
		"no cookie secret":   slices.DeleteFunc(slices.Clone(env), func(s string) bool { return strings.HasPrefix(s, "COOKIE_SECRET_FILE=") }),
	} {
		if out, err := run(e); err == nil || strings.Contains(out, "started") {
			t.Errorf("%s: started (%q)", name, out)
		}
	}
}

// TestMedusaDatabaseSettings: the chart gives Medusa the parts of the
// database URL, which storeops/config.js assembles in the form Medusa v2
// reads; no URL with libpq's sslmode (which Medusa ignores, so that it tried
// SSL and migrations failed with "The server does not support SSL
// connections").
func TestMedusaDatabaseSettings(t *testing.T) {
	out := manifests(render(t, charts.Medusa, "shop", storeValues("shop")))
	if strings.Contains(out, "sslmode") || strings.Contains(out, "DATABASE_URL") {
		t.Error("the chart sets a DATABASE_URL or sslmode; Medusa reads ssl_mode, storeops/config.js builds the URL")
	}
	for _, want := range []string{"name: POSTGRES_HOST\n", "name: POSTGRES_PASSWORD_FILE\n", `command: ["node", "storeops/migrate.js"]`, `command: ["node", "storeops/setup.js"]`} {
		if !strings.Contains(out, want) {
			t.Errorf("manifests lack %q", want)
		}
	}
}

// TestRedisPasswordNeverAnOption runs the Redis container's command from the
// rendered chart with a stub redis-server and a password starting with "--"
// (the case that stopped Redis from starting when it was an argument): the
// password is in the configuration file, not among the arguments.
func TestRedisPasswordNeverAnOption(t *testing.T) {
	objs := objects(t, render(t, charts.Medusa, "shop", storeValues("shop")))
	ws, _ := workloads(t, objs)
	var script string
	for _, w := range ws {
		if w.name == "Deployment/shop-redis" {
			c := w.pod.Containers[0]
			if len(c.Command) != 3 || c.Command[0] != "sh" || c.Command[1] != "-c" || len(c.Args) != 0 {
				t.Fatalf("redis command %q args %q", c.Command, c.Args)
			}
			script = c.Command[2]
		}
	}
	dir := t.TempDir()
	secrets, conf, bin := filepath.Join(dir, "secrets"), filepath.Join(dir, "redis"), filepath.Join(dir, "bin")
	for _, d := range []string{secrets, conf, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const password = "--requirepass-looks-like-an-option"
	if err := os.WriteFile(filepath.Join(secrets, "redis-password"), []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	writeExec(t, filepath.Join(bin, "redis-server"), "#!/bin/sh\nprintf 'ARGS %s\\n' \"$*\"\ncat \"$1\"\n")
	script = strings.ReplaceAll(script, "/run/secrets/store", secrets)
	script = strings.ReplaceAll(script, "/run/redis", conf)
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || strings.Contains(lines[0], password) || lines[1] != "requirepass "+password {
		t.Errorf("redis-server got:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(conf, "redis.conf")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("redis.conf: %v %v", fi, err)
	}
}

// TestWordPressConfigExtra evaluates the chart's WORDPRESS_CONFIG_EXTRA the
// way the official image's wp-config.php does (eval), with PHP's CGI (as
// Apache's PHP runs it) and CLI (as WP-CLI does): the web installer answers
// 403, other pages and WP-CLI go on, and WP-Cron is off.
func TestWordPressConfigExtra(t *testing.T) {
	cgi, err := exec.LookPath("php-cgi")
	if err != nil {
		t.Skip("php-cgi is not installed")
	}
	cli, err := exec.LookPath("php")
	if err != nil {
		t.Skip("php is not installed")
	}
	objs := objects(t, render(t, charts.WooCommerce, "shop", storeValues("shop")))
	ws, _ := workloads(t, objs)
	var extra string
	for _, w := range ws {
		if w.name == "Deployment/shop-wordpress" {
			for _, e := range w.pod.Containers[0].Env {
				if e.Name == "WORDPRESS_CONFIG_EXTRA" {
					extra = e.Value
				}
			}
		}
	}
	if extra == "" {
		t.Fatal("no WORDPRESS_CONFIG_EXTRA")
	}
	dir := t.TempDir()
	// What wp-config-docker.php does with it, then the page itself.
	page := "<?php\nif ($configExtra = getenv('WORDPRESS_CONFIG_EXTRA')) { eval($configExtra); }\necho 'page ran; cron disabled=' . var_export(DISABLE_WP_CRON, true);\n"
	for _, name := range []string{"wp-admin/install.php", "wp-admin/setup-config.php", "wp-login.php", "index.php"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name    string
		blocked bool
	}{{"wp-admin/install.php", true}, {"wp-admin/setup-config.php", true}, {"wp-login.php", false}, {"index.php", false}} {
		file := filepath.Join(dir, c.name)
		cmd := exec.Command(cgi)
		cmd.Env = []string{"WORDPRESS_CONFIG_EXTRA=" + extra, "REDIRECT_STATUS=200", "REQUEST_METHOD=GET",
			"SCRIPT_FILENAME=" + file, "SCRIPT_NAME=/" + c.name, "GATEWAY_INTERFACE=CGI/1.1"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("php-cgi %s: %v\n%s", c.name, err, out)
		}
		got := string(out)
		if c.blocked != strings.Contains(got, "Status: 403") || c.blocked == strings.Contains(got, "page ran; cron disabled=true") {
			t.Errorf("web %s (blocked %v):\n%s", c.name, c.blocked, got)
		}
		// WP-CLI (the CLI SAPI) installs through install.php's functions.
		cmd = exec.Command(cli, file)
		cmd.Env = []string{"WORDPRESS_CONFIG_EXTRA=" + extra}
		out, err = cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "page ran; cron disabled=true") {
			t.Errorf("cli %s: %v\n%s", c.name, err, out)
		}
	}

	// The PHP settings the chart mounts into conf.d.
	var ini string
	for _, o := range objs {
		if md, _ := o["metadata"].(map[string]any); o["kind"] == "ConfigMap" && md["name"] == "shop-php" {
			ini, _ = o["data"].(map[string]any)["storeops.ini"].(string)
		}
	}
	iniFile := filepath.Join(dir, "storeops.ini")
	if err := os.WriteFile(iniFile, []byte(ini), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cli, "-n", "-c", iniFile, "-r", `echo ini_get("upload_max_filesize"), " ", ini_get("post_max_size");`).CombinedOutput()
	if err != nil || string(out) != "64M 64M" {
		t.Errorf("PHP upload limits: %v %q", err, out)
	}
}

// TestWooCommerceSetupPHPParses checks with `php -l` the PHP that setup.sh
// runs with php -r (its database probe).
func TestWooCommerceSetupPHPParses(t *testing.T) {
	php, err := exec.LookPath("php")
	if err != nil {
		t.Skip("php is not installed")
	}
	data, err := os.ReadFile(filepath.Join("woocommerce", "files", "setup.sh"))
	if err != nil {
		t.Fatal(err)
	}
	snippets := regexp.MustCompile(`php -r '([^']+)'`).FindAllStringSubmatch(string(data), -1)
	if len(snippets) == 0 {
		t.Fatal("no php -r in setup.sh")
	}
	for i, m := range snippets {
		p := filepath.Join(t.TempDir(), fmt.Sprintf("s%d.php", i))
		if err := os.WriteFile(p, []byte("<?php "+m[1]), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(php, "-l", p).CombinedOutput(); err != nil {
			t.Errorf("php -r %q: %v\n%s", m[1], err, out)
		}
	}
}

// TestRedisStartsWithFilePassword runs the rendered Redis command with a
// real redis-server (skipped without one): it starts, refuses clients
// without the password and answers with it, a password starting with "--"
// included.
func TestRedisStartsWithFilePassword(t *testing.T) {
	server, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	client, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli is not installed")
	}
	objs := objects(t, render(t, charts.Medusa, "shop", storeValues("shop")))
	ws, _ := workloads(t, objs)
	var script string
	for _, w := range ws {
		if w.name == "Deployment/shop-redis" {
			script = w.pod.Containers[0].Command[2]
		}
	}
	dir := t.TempDir()
	secrets, conf := filepath.Join(dir, "secrets"), filepath.Join(dir, "redis")
	for _, d := range []string{secrets, conf} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const password = "--save"
	if err := os.WriteFile(filepath.Join(secrets, "redis-password"), []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	script = strings.ReplaceAll(script, "/run/secrets/store", secrets)
	script = strings.ReplaceAll(script, "/run/redis", conf)
	script = strings.TrimSpace(script) + " --port " + port + " --bind 127.0.0.1 --dir " + dir
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = []string{"PATH=" + filepath.Dir(server) + ":" + os.Getenv("PATH")}
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	cli := func(auth string, args ...string) string {
		c := exec.Command(client, append([]string{"-h", "127.0.0.1", "-p", port}, args...)...)
		c.Env = []string{"REDISCLI_AUTH=" + auth}
		out, _ := c.CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	var got string
	for i := 0; i < 50; i++ {
		if got = cli(password, "ping"); got == "PONG" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "PONG" {
		t.Fatalf("redis with password %q: %q\n%s", password, got, log.String())
	}
	if got := cli("", "ping"); !strings.Contains(got, "NOAUTH") {
		t.Errorf("without the password: %q", got)
	}
}
