package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const oneStore = `# e2e config
stores:
  - name: e2e-one
    type: woocommerce
`

func cleanupStores(t *testing.T, names ...string) {
	c := testcluster.Get(t)
	t.Cleanup(func() {
		for _, n := range names {
			err := c.Client.CoreV1().Namespaces().Delete(context.Background(), "store-"+n, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				t.Logf("cleanup %s: %v", n, err)
			}
		}
	})
}

// TestServeFollowsGit: a push plus webhook adds a store without waiting
// for the schedule; a broken stores.yaml changes nothing and the API shows
// its error with the line; with the Git server down the daemon keeps
// serving the last good state and recovers when it returns.
func TestServeFollowsGit(t *testing.T) {
	cleanupStores(t, "e2e-one", "e2e-two", "e2e-three")
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "config", map[string]string{"stores.yaml": oneStore})
	d := startDaemon(t, repo.URL())
	d.waitPhase("e2e-one", reconcile.PhaseReady)

	// Push a store and call the webhook: Ready without a cron tick.
	rev := repo.Commit(t, map[string]string{"stores.yaml": oneStore + "  - name: e2e-two\n    type: medusa\n"}, "add two")
	if code := d.push("main", rev); code != http.StatusAccepted {
		t.Fatalf("webhook answered %d", code)
	}
	d.waitPhase("e2e-two", reconcile.PhaseReady)
	if s := d.status(); s.Revision != rev {
		t.Fatalf("status revision %s, want %s", s.Revision, rev)
	}

	// A push to another branch triggers nothing.
	if code := d.push("feature", rev); code != http.StatusAccepted {
		t.Fatalf("webhook for another branch answered %d", code)
	}

	// A broken file: nothing changes, the error shows with its line.
	bad := repo.Commit(t, map[string]string{"stores.yaml": oneStore + "  - name: Bad_Name\n    type: medusa\n"}, "break it")
	d.push("main", bad)
	d.waitUntil("the refusal in the status", func() bool {
		s := d.status()
		return s.Refused != nil && s.Refused.Reason == "InvalidConfig"
	})
	s := d.status()
	if s.Revision != rev || len(s.Refused.Errors) != 1 || !contains(s.Refused.Errors[0], "stores.yaml:5:11: stores[1].name", `"Bad_Name" is not a DNS label`) {
		t.Fatalf("status after a broken push: revision %s, refused %+v", s.Revision, s.Refused)
	}
	if st, ok := d.store("e2e-two"); !ok || st.Phase != reconcile.PhaseReady {
		t.Fatalf("e2e-two after a broken push: %+v", st)
	}
	var list web.SyncList
	d.getJSON("/api/v1/syncs", &list)
	refusedInHistory := false
	for _, s := range list.Syncs {
		refusedInHistory = refusedInHistory || s.Revision == bad && s.Refused != nil
		if s.Revision == bad && s.Refused == nil {
			t.Fatalf("the broken revision was applied: %+v", s)
		}
	}
	if !refusedInHistory {
		t.Fatalf("sync history does not show the refused revision: %+v", list.Syncs)
	}

	// Git server down: the last good state stays served.
	srv.Stop()
	d.push("main", bad)
	d.waitUntil("the source error in the status", func() bool {
		s := d.status()
		return s.Refused != nil && s.Refused.Reason == "SourceUnavailable"
	})
	if st, ok := d.store("e2e-two"); !ok || st.Phase != reconcile.PhaseReady {
		t.Fatalf("e2e-two with Git down: %+v", st)
	}

	// Back up, with a fix: it is applied.
	srv.Start(t)
	fixed := repo.Commit(t, map[string]string{"stores.yaml": oneStore + "  - name: e2e-two\n    type: medusa\n  - name: e2e-three\n    type: woocommerce\n"}, "fix it")
	d.push("main", fixed)
	d.waitPhase("e2e-three", reconcile.PhaseReady)
	if s := d.status(); s.Refused != nil || s.Revision != fixed {
		t.Fatalf("after recovery: revision %s refused %+v", s.Revision, s.Refused)
	}
}

// TestPlanAndSyncOnce: plan shows the changes (exit 2), sync --once applies
// them and waits for the stores, then plan finds nothing (exit 0).
func TestPlanAndSyncOnce(t *testing.T) {
	cleanupStores(t, "e2e-cli")
	c := testcluster.Get(t)
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "cli", map[string]string{"stores.yaml": "stores:\n  - name: e2e-cli\n    type: woocommerce\n"})

	code, out := run(t, "plan", "--repo", repo.URL(), "--kubeconfig", c.Kubeconfig)
	if code != 2 || !contains(out, "+ install e2e-cli: store is new", "1 change(s).") {
		t.Fatalf("plan before: exit %d\n%s", code, out)
	}
	code, out = run(t, "sync", "--once", "--repo", repo.URL(), "--kubeconfig", c.Kubeconfig)
	if code != 0 || !contains(out, "install e2e-cli: ok", "stores ready.") {
		t.Fatalf("sync --once: exit %d\n%s", code, out)
	}
	code, out = run(t, "plan", "--repo", repo.URL(), "--kubeconfig", c.Kubeconfig, "-o", "json")
	if code != 0 || !strings.Contains(out, `"actions": []`) {
		t.Fatalf("plan after: exit %d\n%s", code, out)
	}
	repo.Commit(t, map[string]string{"stores.yaml": "stores:\n  - name: e2e-cli\n    type: woocommerce\n    options:\n      title: Renamed\n"}, "rename")
	code, out = run(t, "plan", "--git-url", repo.URL(), "--kubeconfig", c.Kubeconfig)
	if code != 2 || !contains(out, "~ upgrade e2e-cli: values changed", "+++ desired/batch.v1.Job.store-e2e-cli.", "+          value: Renamed\n") {
		t.Fatalf("plan of an upgrade: exit %d\n%s", code, out)
	}
}
