package benchfleet_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/testcluster"
	"github.com/storeops/storeops/web"
)

// BenchmarkFleetReplicas measures convergence with the stores shared
// between replicas (serve --shards): for 1, 2 and 3 replicas on one Git
// repository and one cluster, the time from the webhook of the commit
// declaring BENCH_FLEET_REPLICAS_N (100; 0 leaves it out) new stores to
// every one Ready, the API requests of all replicas together, and how
// the stores were spread (the replica each store's status names). Each
// row deletes its stores at the end, so that the next has the same room.
func BenchmarkFleetReplicas(b *testing.B) {
	n := envInt("BENCH_FLEET_REPLICAS_N", 100)
	if n == 0 {
		b.Skip("BENCH_FLEET_REPLICAS_N=0")
	}
	c := testcluster.Get(b)
	for _, replicas := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("profile=%s/stores=%d/replicas=%d", orExternal(string(c.Profile)), n, replicas), func(b *testing.B) {
			load := loadAverage()
			group := startShardGroup(b, c, n, replicas, fmt.Sprintf("bench-shards-%d", replicas))
			first := group[0]
			lines, names := fleetLines(fmt.Sprintf("rp%d", replicas), n)
			api0 := first.api.snapshot()
			t0 := first.hook(first.commit(lines))
			ready := first.waitReady(names, time.Hour).Sub(t0)
			api := first.api.snapshot().since(api0)
			var list web.StoreList
			first.get("/api/v1/stores", &list)
			spread := map[string]int{}
			for _, st := range list.Stores {
				spread[st.Replica]++
			}
			b.ReportMetric(load, "load1")
			b.ReportMetric(ready.Seconds(), "s-ready")
			b.ReportMetric(float64(api.total), "api-requests")
			b.ReportMetric(float64(api.mutating), "api-mutating")
			b.ReportMetric(float64(len(spread)), "replicas-acting")
			most := 0
			for _, k := range spread {
				most = max(most, k)
			}
			b.ReportMetric(float64(most), "most-stores-one-replica")
			first.stores = nil // every store deleted: room for the next row
			first.hook(first.repo.Commit(b, map[string]string{"stores.yaml": "stores: []\n"}, "no stores"))
			deadline := time.Now().Add(10 * time.Minute)
			for {
				var left web.StoreList
				if first.get("/api/v1/stores", &left) == http.StatusOK && len(left.Stores) == 0 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%d stores left 10 minutes after they were removed", len(left.Stores))
				}
				time.Sleep(time.Second) // polling the status API, not a wait for an outcome
			}
		})
	}
}

// fleetLines are the stores.yaml lines of n new stores, half of each type.
func fleetLines(prefix string, n int) (lines, names []string) {
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		typ := "woocommerce"
		if i%2 == 1 {
			typ = "medusa"
		}
		names = append(names, name)
		lines = append(lines, fmt.Sprintf("  - {name: %s, type: %s}\n", name, typ))
	}
	return lines, names
}

// startShardGroup starts replicas of storeops serve --shards 16 of one
// instance on one repository, each through the same request counter, and
// waits until every shard is held. The first is returned first; its
// repository and counter are the group's.
func startShardGroup(b *testing.B, c *testcluster.Cluster, n, replicas int, instance string) []*served {
	group := []*served{launchServe(b, c, n, instance, nil, "--shards", "16")}
	for len(group) < replicas {
		group = append(group, launchServe(b, c, n, instance, group[0], "--shards", "16"))
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		held := 0
		for _, s := range group {
			var st web.Status
			if s.get("/api/v1/status", &st) == http.StatusOK && st.Shards != nil && len(st.Shards.Members) == replicas {
				held += len(st.Shards.Held)
			}
		}
		if held == 16 {
			return group
		}
		if time.Now().After(deadline) {
			b.Fatalf("the %d replicas did not share the 16 shards within 3 minutes:\n%s", replicas, group[0].log.String())
		}
		time.Sleep(200 * time.Millisecond) // polling the status API
	}
}
