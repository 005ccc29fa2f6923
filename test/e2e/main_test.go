// Package e2e tests storeops as a user runs it: the storeops binary, a real
// Git server over HTTP and the local Kubernetes control plane.
package e2e_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/storeopsbin"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
)

// binary is the storeops binary built for this test run.
var binary string

func TestMain(m *testing.M) { os.Exit(storeopsbin.Main(m, &binary, testcluster.Main)) }

// freeAddr returns a loopback address with a free port.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// daemon is one running `storeops serve`.
type daemon struct {
	t    *testing.T
	addr string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

type syncBuffer = storeopsbin.Output

const webhookSecret = "e2e-webhook-secret"

// startDaemon runs storeops serve against repoURL and waits until ready.
func startDaemon(t *testing.T, repoURL string, extra ...string) *daemon {
	t.Helper()
	return startDaemonEnv(t, nil, repoURL, extra...)
}

// startDaemonEnv is startDaemon with more environment variables.
func startDaemonEnv(t *testing.T, env []string, repoURL string, extra ...string) *daemon {
	t.Helper()
	d := launchDaemon(t, env, repoURL, extra...)
	d.waitUntil("ready", func() bool {
		resp, err := http.Get("http://" + d.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return d
}

// launchDaemon starts storeops serve without waiting for it.
func launchDaemon(t *testing.T, env []string, repoURL string, extra ...string) *daemon {
	t.Helper()
	c := testcluster.Get(t)
	d := &daemon{t: t, addr: freeAddr(t), out: &syncBuffer{}, done: make(chan error, 1)}
	args := append([]string{"serve",
		"--git-url", repoURL,
		"--listen", d.addr,
		"--kubeconfig", c.Kubeconfig,
		"--schedule", "@every 1h", // syncs come from webhooks here, never from the clock
		"--log-level", "debug",
	}, extra...)
	if !slices.Contains(extra, "--webhooks") {
		args = append(args, "--webhooks", "generic")
	}
	// Reading requires a login by default; these tests read the status
	// API and pages anonymously unless they test the login.
	if !slices.Contains(extra, "--dashboard-read-auth") && !slices.Contains(extra, "--anonymous-reads=false") {
		args = append(args, "--anonymous-reads")
	}
	d.cmd = exec.Command(binary, args...)
	d.cmd.Env = append(append(os.Environ(), "STOREOPS_WEBHOOK_SECRET="+webhookSecret), env...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("storeops serve on %s said:\n%s", d.addr, d.out.String())
		}
	})
	return d
}

// stop sends SIGTERM and expects a clean exit.
func (d *daemon) stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Errorf("storeops serve exited with %v after SIGTERM", err)
		}
	case <-time.After(time.Minute):
		_ = d.cmd.Process.Kill()
		d.t.Errorf("storeops serve did not stop within a minute of SIGTERM")
	}
}

// kill stops the process without warning, as a crash would.
func (d *daemon) kill() {
	_ = d.cmd.Process.Kill()
	<-d.done
}

// waitUntil polls cond (an HTTP probe of the daemon) until it holds.
func (d *daemon) waitUntil(what string, cond func() bool) {
	d.t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case err := <-d.done:
			d.t.Fatalf("storeops serve exited (%v) while waiting for %s", err, what)
		case <-time.After(250 * time.Millisecond): // next poll of the API
		}
	}
}

func (d *daemon) getJSON(path string, v any) int {
	d.t.Helper()
	resp, err := http.Get("http://" + d.addr + path)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			d.t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

func (d *daemon) status() web.Status {
	var s web.Status
	if code := d.getJSON("/api/v1/status", &s); code != http.StatusOK {
		d.t.Fatalf("GET /api/v1/status: %d", code)
	}
	return s
}

func (d *daemon) store(name string) (reconcile.StoreStatus, bool) {
	var s reconcile.StoreStatus
	code := d.getJSON("/api/v1/stores/"+name, &s)
	return s, code == http.StatusOK
}

func (d *daemon) waitPhase(name string, phase reconcile.Phase) {
	d.t.Helper()
	d.waitUntil(name+" "+string(phase), func() bool {
		s, ok := d.store(name)
		return ok && s.Phase == phase
	})
}

// push sends the generic push webhook for revision, as a forge would.
func (d *daemon) push(branch, revision string) int {
	d.t.Helper()
	body, _ := json.Marshal(map[string]string{"ref": "refs/heads/" + branch, "after": revision})
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+d.addr+"/hooks/generic", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Storeops-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// run runs the storeops binary and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	code, out, err := storeopsbin.Run(ctx, binary, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return code, out
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
