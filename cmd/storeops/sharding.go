package main

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
	"github.com/storeops/storeops/shard"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// sharding splits the stores between the replicas of serve (--shards):
// every replica applies, each only the stores of the shards whose Lease
// it holds (package shard). The leader Lease still elects one replica for
// what must be done once: commit statuses, plan previews.
type sharding struct {
	m   *shard.Member
	rec func() *reconcile.Reconciler

	mu       sync.Mutex
	draining map[int]bool // shards being handed over: no new work

	// queue queues the stores of the shards acquired, several shards in
	// one pass over the fleet.
	queue shardBatch

	// view is the member's status as last read (see watch): the status
	// reads it under the reconciler's lock, which the member's own locks
	// must never wait on.
	view atomic.Pointer[shard.Status]
}

// watch keeps view fresh until ctx ends. The status shows the group
// and each store's replica: when what it shows changed, it is published
// again, even if no store changed (a quiet fleet publishes nothing else).
func (s *sharding) watch(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		st := s.m.Status()
		if old := s.view.Swap(&st); old != nil && !sameShown(old, &st) {
			if r := s.rec(); r != nil {
				r.Refresh()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sameShown reports whether a and b show the same group in the status:
// members, shards held and the holder of each shard.
func sameShown(a, b *shard.Status) bool {
	return slices.Equal(a.Members, b.Members) && slices.Equal(a.Held, b.Held) && slices.Equal(a.Holders, b.Holders)
}

// shardView is the reconciler's Shards.
func (s *sharding) shardView() *reconcile.ShardView {
	st := s.view.Load()
	if st == nil {
		return &reconcile.ShardView{Member: s.m.ID(), Shards: s.m.Shards()}
	}
	return &reconcile.ShardView{Member: st.ID, Shards: st.Shards, Members: st.Members, Held: st.Held}
}

// replicaOf is the reconciler's ReplicaOf: the holder of the store's
// shard as last seen.
func (s *sharding) replicaOf(store string) string {
	st := s.view.Load()
	if k := s.m.ShardOf(store); st != nil && k < len(st.Holders) {
		return st.Holders[k]
	}
	return ""
}

// newSharding makes this process a member of the instance's shard group.
// Its Leases go through a client of their own (not the fenced applier's),
// rate-limited for a renewal of every shard each interval.
func newSharding(cfg *rest.Config, f *engineFlags, shards int, rec func() *reconcile.Reconciler, log *slog.Logger) (*sharding, error) {
	leaseCfg := rest.CopyConfig(cfg)
	leaseCfg.QPS, leaseCfg.Burst = float32(max(20, 2*shards)), max(40, 4*shards)
	client, err := kubernetes.NewForConfig(leaseCfg)
	if err != nil {
		return nil, err
	}
	s := &sharding{rec: rec, draining: map[int]bool{}}
	s.queue.do = s.enqueueShards
	s.m, err = shard.New(shard.Config{
		Client:           client,
		Namespace:        f.lease.namespace,
		Prefix:           f.shardGroup(),
		ID:               newIdentity(),
		Shards:           shards,
		OnAcquire:        s.acquired,
		Drain:            s.drain,
		StoreOfNamespace: storeOfNamespace,
		Log:              log,
	})
	return s, err
}

// storeOfNamespace maps a store namespace to its store.
func storeOfNamespace(ns string) (string, bool) {
	name, ok := strings.CutPrefix(ns, render.NamespacePrefix)
	return name, ok && name != ""
}

// owns is the reconciler's Owns: the shard's Lease is held and the shard
// is not being handed over.
func (s *sharding) owns(store string) bool {
	k := s.m.ShardOf(store)
	s.mu.Lock()
	draining := s.draining[k]
	s.mu.Unlock()
	return !draining && s.m.OwnsShard(k)
}

// acquired queues every store of shard k: this replica acts on them now.
// It returns at once (the member's loop calls it); the stores are queued
// from another goroutine, those of the shards acquired together in one
// or two passes over the fleet (at start, 32 shards: not 32 passes).
func (s *sharding) acquired(k int) {
	s.mu.Lock()
	delete(s.draining, k)
	s.mu.Unlock()
	s.queue.add(k)
}

// enqueueShards queues every store of the shards ks.
func (s *sharding) enqueueShards(ks map[int]bool) {
	if r := s.rec(); r != nil {
		r.EnqueueMatching(func(store string) bool { return ks[s.m.ShardOf(store)] })
	}
}

// shardBatch runs do for the shards added, one pass at a time: the shards
// added while a pass runs go together into the next, so shards added in a
// burst cost at most two passes, however many.
type shardBatch struct {
	do func(ks map[int]bool)

	mu      sync.Mutex
	pending map[int]bool
	running bool
}

// add asks for a pass over shard k and returns at once.
func (b *shardBatch) add(k int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending == nil {
		b.pending = map[int]bool{}
	}
	b.pending[k] = true
	if !b.running {
		b.running = true
		go b.run()
	}
}

func (b *shardBatch) run() {
	for {
		b.mu.Lock()
		ks := b.pending
		b.pending = nil
		if len(ks) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.do(ks)
	}
}

// drain stops new work on shard k and waits for the work in flight.
func (s *sharding) drain(ctx context.Context, k int) {
	s.mu.Lock()
	s.draining[k] = true
	s.mu.Unlock()
	r := s.rec()
	if r == nil {
		return
	}
	inShard := func(store string) bool { return s.m.ShardOf(store) == k }
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for r.Busy(inShard) {
		select {
		case <-ctx.Done():
			return // the fence closes anyway: what is still running cannot write
		case <-tick.C:
		}
	}
}

// startShards runs this replica's shard membership and its workers until
// ctx ends: the workers act only on the stores of the shards held. When
// ctx ends the workers finish their actions, and the member drains and
// gives back its shards.
func (d *daemon) startShards(ctx context.Context) {
	go d.shard.watch(ctx)
	d.workers.Add(2)
	go func() {
		defer d.workers.Done()
		if err := d.shard.m.Run(ctx); err != nil {
			d.log.Error("shard membership", "error", err)
		}
	}()
	go func() {
		defer d.workers.Done()
		d.rec.Run(ctx)
	}()
	d.log.Info("sharded: this replica applies the stores of the shards it holds", "shards", d.shard.m.Shards(), "member", d.shard.m.ID())
}
