package deploytest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/gittest"
	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/web"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestServeShardsAsServiceAccount: with the chart's RBAC and admission
// policy, a sharded replica (--shards, the chart's default for two
// replicas) takes its member and shard Leases, installs a store through
// the shard-fenced applier, and at SIGTERM gives the shards back and
// deletes its member Lease.
func TestServeShardsAsServiceAccount(t *testing.T) {
	c := testcluster.Get(t)
	inst := install(t)
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "config", map[string]string{"stores.yaml": "stores:\n  - {name: shardsa, type: woocommerce}\n"})
	const shards = 4
	sv := serveAs(t, inst, repo.URL(), fmt.Sprintf("--shards=%d", shards))
	stopped := false
	defer func() {
		if !stopped {
			_ = sv.cmd.Process.Kill()
			<-sv.done
		}
		if t.Failed() {
			t.Logf("storeops serve said:\n%s", sv.out.String())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	get := func(path string, v any) error {
		resp, err := http.Get("http://" + sv.addr + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: status %d", path, resp.StatusCode)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	waitFor(t, ctx, "the replica to hold every shard and install the store", func() (bool, error) {
		select {
		case err := <-sv.done:
			stopped = true
			t.Fatalf("storeops serve exited: %v", err)
		default:
		}
		var st web.Status
		if err := get("/api/v1/status", &st); err != nil {
			return false, err
		}
		if st.Shards == nil || len(st.Shards.Held) != shards {
			return false, nil
		}
		var s reconcile.StoreStatus
		if err := get("/api/v1/stores/shardsa", &s); err != nil {
			return false, err
		}
		return s.ReleaseRevision > 0 && s.Replica == st.Shards.Member, nil
	})
	t.Logf("sharded serve as the ServiceAccount installed its store after %s", time.Since(sv.began).Round(time.Millisecond))

	leases := func() (members, held int, err error) {
		l, err := c.Client.CoordinationV1().Leases(inst.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, 0, err
		}
		for _, x := range l.Items {
			switch {
			case strings.HasPrefix(x.Name, "storeops-member-"):
				members++
			case strings.HasPrefix(x.Name, "storeops-shard-") && x.Spec.HolderIdentity != nil && *x.Spec.HolderIdentity != "":
				held++
			}
		}
		return members, held, nil
	}
	if m, h, err := leases(); err != nil || m != 1 || h != shards {
		t.Fatalf("member Leases %d, held shard Leases %d (%v); want 1 and %d", m, h, err, shards)
	}
	_ = sv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-sv.done:
		stopped = true
		if err != nil {
			t.Errorf("storeops serve exited with %v after SIGTERM", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("storeops serve did not stop within a minute of SIGTERM")
	}
	if m, h, err := leases(); err != nil || m != 0 || h != 0 {
		t.Errorf("after a clean stop: member Leases %d, held shard Leases %d (%v); want none (given back for the other replicas)", m, h, err)
	}
}
