package main

import (
	"maps"
	"slices"
	"testing"
)

// Shards acquired while a pass runs go together into the next one: 32
// shards acquired at once cost two passes, not 32, and every shard is in
// one of them.
func TestShardBatchQueuesShardsAcquiredTogetherInOnePass(t *testing.T) {
	passes := make(chan []int)
	release := make(chan struct{})
	b := &shardBatch{do: func(ks map[int]bool) {
		passes <- slices.Sorted(maps.Keys(ks))
		<-release
	}}
	b.add(0)
	if got := <-passes; !slices.Equal(got, []int{0}) {
		t.Fatalf("first pass %v, want [0]", got)
	}
	var rest []int
	for k := 1; k < 32; k++ {
		b.add(k) // while the first pass runs: returns at once
		rest = append(rest, k)
	}
	b.add(5) // twice: once in the pass
	release <- struct{}{}
	if got := <-passes; !slices.Equal(got, rest) {
		t.Fatalf("second pass %v, want %v", got, rest)
	}
	release <- struct{}{}
	b.add(40) // after the burst: a pass of its own, nothing else left over
	if got := <-passes; !slices.Equal(got, []int{40}) {
		t.Fatalf("third pass %v, want [40]", got)
	}
	close(release)
}
