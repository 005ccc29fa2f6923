package e2e_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/reporoot"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
)

// TestRunLocal runs deploy/run-local.sh, what `make run` runs, against the
// test cluster (KUBECONFIG set, so it starts no cluster of its own): the
// example stores come up, and a git push to the local Git server reaches
// storeops through its webhook.
func TestRunLocal(t *testing.T) {
	cleanupStores(t, "acme", "bolt", "corner-shop", "e2e-pushed")
	root, err := reporoot.Find()
	if err != nil {
		t.Fatal(err)
	}
	run := t.TempDir()
	listen, gitListen := freeAddr(t), freeAddr(t)
	cmd := exec.Command("bash", "deploy/run-local.sh", "--schedule", "@every 1h")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+testcluster.Get(t).Kubeconfig, "RUN_DIR="+run,
		"STOREOPS_LISTEN="+listen, "DEVGIT_LISTEN="+gitListen,
		"STOREOPS="+binary, "DEVGIT="+filepath.Join(run, "devgit"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // the script, devgit and storeops
		select {
		case <-done:
		case <-time.After(time.Minute):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("run-local.sh said:\n%s", out.String())
		}
	})
	d := &daemon{t: t, addr: listen, out: out, done: done}
	d.waitUntil("storeops to be ready", func() bool {
		resp, err := http.Get("http://" + listen + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	d.waitPhase("acme", reconcile.PhaseReady)
	d.waitPhase("bolt", reconcile.PhaseReady)
	d.waitPhase("corner-shop", reconcile.PhaseSuspended)
	if !contains(out.String(), "Dashboard and API:  http://"+listen+"/", "git clone http://"+gitListen+"/stores.git") {
		t.Fatalf("the script did not say how to use it:\n%s", out.String())
	}

	// Clone, add a store, push: the webhook makes storeops apply it.
	work := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, "git", args...)
		c.Dir = work
		c.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if b, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
	}
	git("clone", "-q", "http://"+gitListen+"/stores.git", ".")
	data, err := os.ReadFile(filepath.Join(work, "stores.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	added := strings.TrimRight(string(data), "\n") + "\n\n  - name: e2e-pushed\n    type: woocommerce\n"
	if err := os.WriteFile(filepath.Join(work, "stores.yaml"), []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	git("commit", "-qam", "Add a store")
	git("push", "-q", "origin", "main")
	d.waitPhase("e2e-pushed", reconcile.PhaseReady) // the schedule is hourly: the webhook did it
}
