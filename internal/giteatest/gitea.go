// Package giteatest runs a real Gitea for tests: built once from the Go
// module proxy into the repository's .cache (see BuildIfNeeded), then
// started per test on a free loopback port with its own SQLite database
// and repositories in a temporary directory, an admin user and an access
// token. Helpers create repositories with files, add webhooks and merge
// pull requests through Gitea's API.
//
// Start skips the test under -short. Every helper takes a testing.TB and
// fails the test on error. The Gitea process is stopped when the test
// ends, and killed by the kernel if the test binary dies first.
package giteatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/proc"
)

// The admin account Start creates. "admin" itself is a reserved name in
// Gitea.
const (
	adminUser  = "storeops-admin"
	adminEmail = "admin@storeops.test"
)

// Gitea is a running Gitea server.
type Gitea struct {
	url   string
	token string
	dir   string // state: app.ini, data, repositories, log
	log   string
	bin   Install
	web   *proc.Process
	http  *http.Client
	stop  sync.Once
	opts  Options
}

var (
	buildOnce sync.Once
	build     Install
	buildErr  error
)

// install builds Gitea once per test binary, logging the time of a
// real build.
func install(tb testing.TB) Install {
	tb.Helper()
	buildOnce.Do(func() {
		cache, err := DefaultCacheDir()
		if err != nil {
			buildErr = err
			return
		}
		var log bytes.Buffer
		build, buildErr = BuildIfNeeded(context.Background(), BuildOptions{CacheDir: cache, Go: os.Getenv("GO"), Log: &log})
		if buildErr != nil {
			buildErr = fmt.Errorf("%w\n%s", buildErr, tailString(log.String(), 40))
		} else if log.Len() > 0 {
			fmt.Fprint(os.Stderr, tailString(log.String(), 3))
		}
	})
	if buildErr != nil {
		tb.Fatalf("giteatest: build Gitea: %v", buildErr)
	}
	return build
}

// Options change the configuration of a Gitea started with StartWith.
type Options struct {
	// MaxResponseItems is [api] MAX_RESPONSE_ITEMS, the most items one
	// page of the API holds whatever the client asks for; Gitea's
	// default (50) when 0.
	MaxResponseItems int
}

// Start runs a fresh Gitea with an admin user and token, and stops it
// when the test ends. It skips the test under -short.
func Start(tb testing.TB) *Gitea {
	tb.Helper()
	return StartWith(tb, Options{})
}

// StartWith is Start with options.
func StartWith(tb testing.TB, opts Options) *Gitea {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs a real Gitea; skipped under -short")
	}
	bin := install(tb)
	began := time.Now()
	g := &Gitea{dir: tb.TempDir(), bin: bin, http: &http.Client{Timeout: 30 * time.Second}, opts: opts}
	port, err := freePort()
	if err != nil {
		tb.Fatalf("giteatest: %v", err)
	}
	g.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	g.log = filepath.Join(g.dir, "gitea.log")
	if err := g.writeConfig(port); err != nil {
		tb.Fatalf("giteatest: %v", err)
	}
	password := randomHex(16)
	for _, args := range [][]string{
		{"migrate"},
		{"admin", "user", "create", "--admin", "--username", adminUser, "--email", adminEmail,
			"--password", password, "--must-change-password=false"},
	} {
		if _, err := g.cli(args...); err != nil {
			tb.Fatalf("giteatest: %v", err)
		}
	}
	out, err := g.cli("admin", "user", "generate-access-token", "--username", adminUser,
		"--token-name", "storeops-test", "--scopes", "all", "--raw")
	if err != nil {
		tb.Fatalf("giteatest: %v", err)
	}
	// The command logs to standard output too; the token is the line
	// of 40 hex digits.
	g.token = tokenLine(out)
	if g.token == "" {
		tb.Fatalf("giteatest: generate-access-token printed no token:\n%s", out)
	}
	if err := g.startWeb(); err != nil {
		tb.Fatalf("giteatest: %v", err)
	}
	tb.Cleanup(g.Stop)
	if err := g.waitReady(time.Minute); err != nil {
		tb.Fatalf("giteatest: %v\nlast lines of %s:\n%s", err, g.log, tailFile(g.log, 30))
	}
	tb.Logf("giteatest: Gitea %s ready at %s in %s", Version, g.url, time.Since(began).Round(10*time.Millisecond))
	return g
}

// URL is the server's root URL, "http://127.0.0.1:<port>"; the API is
// under /api/v1.
func (g *Gitea) URL() string { return g.url }

// Token is an access token of the admin user with every scope.
func (g *Gitea) Token() string { return g.token }

// AdminUser is the admin's user name; repositories made by CreateRepo
// belong to it.
func (g *Gitea) AdminUser() string { return adminUser }

// LogFile is Gitea's log, for test failure messages.
func (g *Gitea) LogFile() string { return g.log }

// Stop stops the server (SIGTERM to its process group, SIGKILL after a
// few seconds). Start registers it as a cleanup; calling it again does
// nothing.
func (g *Gitea) Stop() {
	g.stop.Do(func() { g.web.Stop(5 * time.Second) })
}

func (g *Gitea) writeConfig(port int) error {
	for _, d := range []string{"custom/conf", "data", "repos", "log", "home"} {
		if err := os.MkdirAll(filepath.Join(g.dir, d), 0o755); err != nil {
			return err
		}
	}
	user := os.Getenv("USER")
	if user == "" {
		user = "root"
		if os.Getuid() != 0 {
			user = fmt.Sprint(os.Getuid())
		}
	}
	ini := fmt.Sprintf(appINI, user, g.bin.WorkPath, port, g.url, g.dir, randomHex(32), randomHex(48))
	if n := g.opts.MaxResponseItems; n > 0 {
		ini += fmt.Sprintf("\n[api]\nMAX_RESPONSE_ITEMS = %d\nDEFAULT_PAGING_NUM = %d\n", n, n)
	}
	return os.WriteFile(g.configPath(), []byte(ini), 0o600)
}

func (g *Gitea) configPath() string { return filepath.Join(g.dir, "custom", "conf", "app.ini") }

// appINI is Gitea's configuration; the placeholders are: run user,
// work path, port, root URL, state dir (6 times), secret key, internal
// token.
const appINI = `APP_NAME = storeops test
RUN_MODE = prod
RUN_USER = %[1]s
WORK_PATH = %[2]s

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]d
DOMAIN = 127.0.0.1
ROOT_URL = %[4]s/
LOCAL_ROOT_URL = %[4]s/
APP_DATA_PATH = %[5]s/data
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false

[database]
DB_TYPE = sqlite3
PATH = %[5]s/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = %[5]s/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = %[6]s
INTERNAL_TOKEN = %[7]s

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false
ENABLE_NOTIFY_MAIL = false

[webhook]
ALLOWED_HOST_LIST = *
DELIVER_TIMEOUT = 10

[queue]
TYPE = channel

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[mailer]
ENABLED = false

[oauth2]
ENABLED = false

[actions]
ENABLED = false

[cron.update_checker]
ENABLED = false

[log]
MODE = console
LEVEL = Info
ROOT_PATH = %[5]s/log
`

// env is the environment of Gitea's processes: the caller's, without
// Git and Gitea variables that would redirect them.
func (g *Gitea) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "GITEA_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+filepath.Join(g.dir, "home"),
		"GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true",
		"GITEA_WORK_DIR="+g.bin.WorkPath,
		"GITEA_CUSTOM="+filepath.Join(g.dir, "custom"),
	)
}

func (g *Gitea) args(cmd ...string) []string {
	return append([]string{"--config", g.configPath(), "--work-path", g.bin.WorkPath,
		"--custom-path", filepath.Join(g.dir, "custom")}, cmd...)
}

// cli runs one gitea command to its end and returns its standard output.
func (g *Gitea) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.bin.Binary, g.args(args...)...)
	cmd.Dir = g.dir
	cmd.Env = g.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("gitea %s: %w\n%s%s", args[0], err, tailString(stdout.String(), 20), tailString(stderr.String(), 20))
	}
	return stdout.String(), nil
}

// startWeb starts the server in its own process group, killed with the
// test binary.
func (g *Gitea) startWeb() error {
	cmd := exec.Command(g.bin.Binary, g.args("web")...)
	cmd.Dir = g.dir
	cmd.Env = g.env()
	web, err := proc.Start(cmd, g.log, false)
	if err != nil {
		return fmt.Errorf("start gitea web: %w", err)
	}
	g.web = web
	return nil
}

func (g *Gitea) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-g.web.Done():
			return fmt.Errorf("gitea web exited at start (%v)", g.web.Err())
		default:
		}
		resp, err := g.http.Get(g.url + "/api/v1/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gitea not ready after %s (last: %v)", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

func tokenLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if _, err := hex.DecodeString(l); err == nil && len(l) == 40 {
			return l
		}
	}
	return ""
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return tailString(string(data), n)
}
