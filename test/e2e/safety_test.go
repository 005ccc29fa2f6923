package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/shard"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fastLease makes leader election quick for tests.
func fastLease(name string) []string {
	return []string{"--leader-election-name", name, "--leader-lease-duration", "4s", "--leader-renew-deadline", "3s", "--leader-retry-period", "500ms"}
}

// sync --once refuses to apply while a serve leader holds the Lease, and
// applies once the leader has stopped and given the Lease back.
func TestSyncOnceRefusedWhileServeLeads(t *testing.T) {
	cleanupStores(t, "e2e-once-a", "e2e-once-b")
	c := testcluster.Get(t)
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "once", map[string]string{"stores.yaml": "stores:\n  - {name: e2e-once-a, type: woocommerce}\n"})
	// The default Lease durations: a short Lease could lapse on a busy
	// machine and let sync --once take it legitimately. Stopping the
	// daemon gives the Lease back at once, so nothing waits on them.
	d := startDaemon(t, repo.URL(), "--leader-election-name", "e2e-once")
	d.waitUntil("leading", func() bool { return d.status().Leader })

	file := filepath.Join(t.TempDir(), "stores.yaml")
	writeTestFile(t, file, "stores:\n  - {name: e2e-once-b, type: woocommerce}\n")
	args := []string{"sync", "--once", "--wait=false", "-f", file, "--kubeconfig", c.Kubeconfig, "--leader-election-name", "e2e-once"}
	code, out := run(t, args...)
	if code == 0 || !contains(out, "holds the leader Lease", "not applying") {
		t.Fatalf("sync --once beside a leader: exit %d:\n%s", code, out)
	}
	if _, err := c.Client.CoreV1().Namespaces().Get(context.Background(), "store-e2e-once-b", metav1.GetOptions{}); err == nil {
		t.Fatal("the refused sync --once created a store")
	}

	d.stop() // gives the Lease back
	if code, out := run(t, args...); code != 0 || !strings.Contains(out, "install e2e-once-b: ok") {
		t.Fatalf("sync --once after the leader stopped: exit %d:\n%s", code, out)
	}
}

// A restart while Git is unreachable serves the revision in the cache
// dir: the stores stay declared, none shows Deleting.
func TestRestartWithGitDownServesTheCache(t *testing.T) {
	cleanupStores(t, "e2e-cache-one")
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "cache", map[string]string{"stores.yaml": "stores:\n  - {name: e2e-cache-one, type: woocommerce}\n"})
	dir := filepath.Join(t.TempDir(), "git-cache")
	extra := append(fastLease("e2e-cache"), "--git-cache-dir", dir)
	d := startDaemon(t, repo.URL(), extra...)
	d.waitPhase("e2e-cache-one", reconcile.PhaseReady)
	rev := d.status().Revision
	d.kill()

	srv.Stop()
	d = startDaemon(t, repo.URL(), extra...)
	d.waitUntil("the cached revision", func() bool { return d.status().Revision == rev })
	st, ok := d.store("e2e-cache-one")
	if !ok || !st.Declared || st.Phase == reconcile.PhaseDeleting {
		t.Fatalf("after a restart with Git down: %+v", st)
	}
	if s := d.status(); s.Refused == nil || !strings.Contains(s.Refused.Message, "from the cache") {
		t.Fatalf("status does not say the cache is served: %+v", s.Refused)
	}
}

// kill -9 of the daemon during the installs of several stores: after the
// restart every release left pending is recovered at once (not after
// --stuck-after, set to an hour here) and the fleet converges.
func TestKillDuringInstallsRecovers(t *testing.T) {
	names := []string{"e2e-kill-a", "e2e-kill-b", "e2e-kill-c", "e2e-kill-d"}
	cleanupStores(t, names...)
	c := testcluster.Get(t)
	var file strings.Builder
	file.WriteString("stores:\n")
	for i, n := range names {
		typ := "woocommerce"
		if i%2 == 1 {
			typ = "medusa"
		}
		file.WriteString("  - {name: " + n + ", type: " + typ + "}\n")
	}
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "kill", map[string]string{"stores.yaml": file.String()})
	extra := append(fastLease("e2e-kill"), "--stuck-after", "1h", "--workers", "4")
	d := launchDaemon(t, nil, repo.URL(), extra...)

	// Kill it as soon as some release is being installed.
	ctx := context.Background()
	d.waitUntil("a release pending", func() bool {
		list, err := c.Client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,status=pending-install"})
		return err == nil && len(list.Items) > 0
	})
	d.kill()
	pending, err := c.Client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,status=pending-install"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed with %d releases pending-install", len(pending.Items))

	began := time.Now()
	d = startDaemon(t, repo.URL(), extra...)
	for _, n := range names {
		d.waitPhase(n, reconcile.PhaseReady)
	}
	t.Logf("the fleet converged %s after the restart", time.Since(began).Round(time.Millisecond))
	left, err := c.Client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,status in (pending-install,pending-upgrade,failed)"})
	if err != nil || len(left.Items) != 0 {
		t.Fatalf("releases still pending or failed: %v %d", err, len(left.Items))
	}
}

// A webhook that lands on a follower reaches the leader, which syncs at
// once (both run with an hourly schedule).
func TestWebhookOnFollowerReachesTheLeader(t *testing.T) {
	cleanupStores(t, "e2e-fwd-one", "e2e-fwd-two")
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "fwd", map[string]string{"stores.yaml": "stores:\n  - {name: e2e-fwd-one, type: woocommerce}\n"})
	a := startDaemon(t, repo.URL(), fastLease("e2e-fwd")...)
	b := startDaemon(t, repo.URL(), fastLease("e2e-fwd")...)
	leader, follower := electedOf(a, b)
	leader.waitPhase("e2e-fwd-one", reconcile.PhaseReady)
	rev := repo.Commit(t, map[string]string{"stores.yaml": "stores:\n  - {name: e2e-fwd-one, type: woocommerce}\n  - {name: e2e-fwd-two, type: woocommerce}\n"}, "add two")
	if code := follower.push("main", rev); code >= 300 {
		t.Fatalf("webhook to the follower: %d", code)
	}
	leader.waitPhase("e2e-fwd-two", reconcile.PhaseReady)
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A leader whose Lease is taken away mid-sync (a partition, a pause)
// applies nothing more from the moment it notices: no object of a store is
// created after it stopped leading, and a new revision it is then told
// about is not applied.
func TestLeaderWithoutItsLeaseAppliesNothing(t *testing.T) {
	names := []string{"e2e-steal-a", "e2e-steal-b", "e2e-steal-c", "e2e-steal-d", "e2e-steal-new"}
	cleanupStores(t, names...)
	c := testcluster.Get(t)
	ctx := context.Background()
	var file strings.Builder
	file.WriteString("stores:\n")
	for _, n := range names[:4] {
		file.WriteString("  - {name: " + n + ", type: medusa}\n")
	}
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "steal", map[string]string{"stores.yaml": file.String()})
	d := launchDaemon(t, nil, repo.URL(), append(fastLease("e2e-steal"), "--workers", "1")...)
	d.waitUntil("a release pending", func() bool {
		list, err := c.Client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,status=pending-install"})
		return err == nil && len(list.Items) > 0
	})

	// Take the Lease away, for an hour.
	leases := c.Client.CoordinationV1().Leases("default")
	for {
		l, err := leases.Get(ctx, "e2e-steal", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		thief, hour, now := "thief", int32(3600), metav1.NowMicro()
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.AcquireTime, l.Spec.RenewTime = &thief, &hour, &now, &now
		if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err == nil {
			break
		} else if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	d.waitUntil("the old leader to stop leading", func() bool { return !d.status().Leader })
	lost := time.Now()
	d.waitUntil("its sync to end", func() bool { return !d.status().Syncing })

	// Tell it about a new store: it must not apply it.
	rev := repo.Commit(t, map[string]string{"stores.yaml": file.String() + "  - {name: e2e-steal-new, type: woocommerce}\n"}, "add new")
	d.push("main", rev)
	d.waitUntil("the new revision seen", func() bool { return d.status().Revision == rev })
	d.waitUntil("its sync to end", func() bool { return !d.status().Syncing })
	if _, err := c.Client.CoreV1().Namespaces().Get(ctx, "store-e2e-steal-new", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the leader without its Lease created a store: %v", err)
	}
	// Nothing of any store was created after it noticed the loss (creation
	// times have a second's resolution).
	after := lost.Add(time.Second).Truncate(time.Second)
	for _, n := range names {
		ns := "store-" + n
		secrets, err := c.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		deployments, err := c.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var created []metav1.ObjectMeta
		for _, s := range secrets.Items {
			created = append(created, s.ObjectMeta)
		}
		for _, dep := range deployments.Items {
			created = append(created, dep.ObjectMeta)
		}
		for _, m := range created {
			if m.CreationTimestamp.After(after) {
				t.Errorf("%s/%s created at %s, after the leader lost its Lease (%s)", ns, m.Name, m.CreationTimestamp, lost.Format(time.RFC3339Nano))
			}
		}
	}
	if !strings.Contains(d.out.String(), "not holding the leader Lease") && !strings.Contains(d.out.String(), "no longer leading") {
		t.Errorf("the daemon did not say it stopped applying")
	}
}

// electedOf waits until exactly one of two daemons leads and returns it
// first.
func electedOf(a, b *daemon) (leader, follower *daemon) {
	a.waitUntil("a leader", func() bool {
		la, lb := a.status().Leader, b.status().Leader
		switch {
		case la && !lb:
			leader, follower = a, b
		case lb && !la:
			leader, follower = b, a
		}
		return leader != nil
	})
	return leader, follower
}

// sync --once refuses to apply while the replicas of a sharded serve
// renew their member Leases, even when none holds the leader Lease (as
// for a moment while they start), and applies once they are gone.
func TestSyncOnceRefusedBesideShardMembers(t *testing.T) {
	cleanupStores(t, "e2e-shonce-a")
	c := testcluster.Get(t)
	ctx := context.Background()
	dur, holder, now := int32(300), "replica-x", metav1.NewMicroTime(time.Now())
	member := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-shonce-member-replica-x", Namespace: "default",
			Labels: map[string]string{shard.GroupLabel: "e2e-shonce", shard.RoleLabel: "member"}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &now},
	}
	if _, err := c.Client.CoordinationV1().Leases("default").Create(ctx, member, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoordinationV1().Leases("default").Delete(ctx, member.Name, metav1.DeleteOptions{})
	})

	file := filepath.Join(t.TempDir(), "stores.yaml")
	writeTestFile(t, file, "stores:\n  - {name: e2e-shonce-a, type: woocommerce}\n")
	args := []string{"sync", "--once", "--wait=false", "-f", file, "--kubeconfig", c.Kubeconfig, "--leader-election-name", "e2e-shonce-leader"}
	code, out := run(t, args...)
	if code == 0 || !contains(out, "sharded", "not applying") {
		t.Fatalf("sync --once beside a sharded replica: exit %d:\n%s", code, out)
	}
	if _, err := c.Client.CoreV1().Namespaces().Get(ctx, "store-e2e-shonce-a", metav1.GetOptions{}); err == nil {
		t.Fatal("the refused sync --once created a store")
	}

	if err := c.Client.CoordinationV1().Leases("default").Delete(ctx, member.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, out := run(t, args...); code != 0 || !strings.Contains(out, "install e2e-shonce-a: ok") {
		t.Fatalf("sync --once once the replicas are gone: exit %d:\n%s", code, out)
	}
}
