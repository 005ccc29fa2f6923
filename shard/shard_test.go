package shard

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestShardOf(t *testing.T) {
	// FNV-1a 32 of "" is the offset basis 0x811c9dc5 = 2166136261, of "a"
	// 0xe40c292c = 3826002220.
	for _, c := range []struct {
		store  string
		shards int
		want   int
	}{
		{"", 32, 2166136261 % 32},
		{"a", 32, 3826002220 % 32},
		{"a", 7, 3826002220 % 7},
		{"anything", 1, 0},
	} {
		if got := ShardOf(c.store, c.shards); got != c.want {
			t.Errorf("ShardOf(%q, %d) = %d, want %d", c.store, c.shards, got, c.want)
		}
	}
	counts := make([]int, 32)
	for i := range 32000 {
		store := fmt.Sprintf("shop-%d", i)
		h := fnv.New32a()
		h.Write([]byte(store))
		k := ShardOf(store, 32)
		if k != int(h.Sum32()%32) {
			t.Fatalf("ShardOf(%q) = %d, not FNV-1a mod 32", store, k)
		}
		counts[k]++
	}
	for k, n := range counts {
		if n < 800 || n > 1200 { // mean 1000
			t.Errorf("shard %d has %d of 32000 stores", k, n)
		}
	}
}

func ids(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("storeops-7c9f8-%05d", i*7919))
	}
	return out
}

func TestAssignmentStable(t *testing.T) {
	if got := Assignment(nil, 4); !slices.Equal(got, []string{"", "", "", ""}) {
		t.Errorf("no members: %q", got)
	}
	if got := Assignment([]string{"only"}, 3); !slices.Equal(got, []string{"only", "only", "only"}) {
		t.Errorf("one member: %q", got)
	}
	members := ids(5)
	want := Assignment(members, 64)
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := slices.Clone(members)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		shuffled = append(shuffled, shuffled[0], "") // duplicates and empty ids do not count
		if got := Assignment(shuffled, 64); !slices.Equal(got, want) {
			t.Fatalf("Assignment depends on the order of members:\n%q\n%q", got, want)
		}
	}
	for k, o := range want {
		if !slices.Contains(members, o) {
			t.Errorf("shard %d owned by %q, not a member", k, o)
		}
	}
}

func TestAssignmentBalance(t *testing.T) {
	for _, n := range []int{2, 3, 5, 10} {
		owners := Assignment(ids(n), 4096)
		count := map[string]int{}
		for _, o := range owners {
			count[o]++
		}
		mean := 4096 / n
		for _, id := range ids(n) {
			if c := count[id]; c < mean*8/10 || c > mean*12/10 {
				t.Errorf("%d members: %s owns %d of 4096 shards, mean %d", n, id, c, mean)
			}
		}
	}
	// With the default 32 shards and 3 members nobody is left out.
	count := map[string]int{}
	for _, o := range Assignment(ids(3), DefaultShards) {
		count[o]++
	}
	if len(count) != 3 {
		t.Errorf("32 shards over 3 members: %v", count)
	}
}

func TestAssignmentMinimalMovement(t *testing.T) {
	const shards = 4096
	for _, n := range []int{1, 2, 4, 9} {
		before := Assignment(ids(n), shards)
		joined := append(ids(n), "newcomer")
		after := Assignment(joined, shards)
		moved := 0
		for k := range after {
			if after[k] != before[k] {
				moved++
				if after[k] != "newcomer" {
					t.Fatalf("join: shard %d moved from %s to %s, not to the newcomer", k, before[k], after[k])
				}
			}
		}
		if want := shards / (n + 1); moved < want*8/10 || moved > want*12/10 {
			t.Errorf("join of a member to %d: %d shards moved, want about %d", n, moved, want)
		}
		// Leaving moves only the leaver's shards, each to some other.
		leaver := ids(n)[0]
		var rest []string
		for _, id := range joined {
			if id != leaver {
				rest = append(rest, id)
			}
		}
		left := Assignment(rest, shards)
		for k := range left {
			if after[k] != leaver && left[k] != after[k] {
				t.Fatalf("leave: shard %d moved from %s to %s though %s left", k, after[k], left[k], leaver)
			}
			if left[k] == leaver {
				t.Fatalf("leave: shard %d still owned by %s", k, leaver)
			}
		}
	}
}
