// Package shard splits the stores of a fleet between the replicas of
// `storeops serve`, so that every replica works and each store is acted on
// by at most one replica at a time.
//
// # Model
//
// The stores are hashed into a fixed number of shards (ShardOf). Each
// replica is a Member: it announces itself with its own member Lease
// (<prefix>-member-<id>) renewed every RenewInterval, and reads the member
// Leases of the others with an informer. The owner of a shard is a pure
// function of the live member ids (Assignment, rendezvous hashing), so
// every member computes the same owners without talking to the others,
// and a member joining or leaving moves only about 1/n of the shards.
//
// Ownership is not taken from the assignment alone: each shard has a Lease
// (<prefix>-shard-<k>) that acts as a fence. A member acts on a shard only
// while it holds that Lease, taken with the API server's optimistic
// concurrency (resourceVersion), so at most one member holds it at once.
// The assignment only says who should hold it:
//
//   - the assigned member takes the Lease when it does not exist, when its
//     holder released it (holderIdentity ""), or when the holder stopped
//     renewing it for its whole leaseDurationSeconds;
//   - a member that holds a shard assigned to another calls the Drain hook
//     (in-flight work of the shard finishes), closes its fence for the
//     shard, waits for the requests already sent through its fenced
//     transport, and only then sets holderIdentity to "";
//   - membership changes are acted on once the set of live members has
//     been stable for StableFor, so a member flapping does not move shards
//     back and forth.
//
// # Fencing
//
// Owns (and the transport returned by Wrap) says yes for a shard only
// while this member holds its Lease and the last successful renewal,
// counted from the moment the renewal was sent, is younger than
// LeaseDuration - SafetyMargin. Another member takes an unreleased Lease
// over only after it has seen the same resourceVersion of it for the whole
// LeaseDuration by its own clock, which starts after the holder sent that
// renewal. So a member that is partitioned, paused or too slow closes its
// fence at least SafetyMargin before anyone else may open one, without
// relying on synchronised clocks (only on clocks running at about the same
// rate). SafetyMargin must cover the time a request already past the fence
// can take to reach the API server.
//
// # Use
//
//	m, err := shard.New(shard.Config{
//		Client: client, Namespace: "storeops", ID: identity,
//		OnAcquire: func(k int) { enqueueStoresOfShard(k) },
//		Drain:     func(ctx context.Context, k int) { waitForWorkOfShard(ctx, k) },
//		StoreOfNamespace: storeOfNamespace,
//	})
//	restConfig.Wrap(m.Wrap)    // the applier's writes are fenced
//	go m.Run(ctx)
//	...
//	if m.Owns(store) { reconcile(store) }
//
// Every member of a group must use the same Prefix, Namespace, Shards and
// LeaseDuration. The service account needs get, list, watch, create,
// update and delete on leases.coordination.k8s.io in Namespace.
package shard

import (
	"errors"
	"hash/fnv"
	"slices"
	"time"
)

// Defaults of Config.
const (
	DefaultPrefix        = "storeops"
	DefaultShards        = 32
	DefaultRenewInterval = 2 * time.Second
	DefaultLeaseDuration = 10 * time.Second
	DefaultStableFor     = time.Second
	DefaultDrainTimeout  = time.Minute
	DefaultStopTimeout   = 10 * time.Second
)

// Labels of the Leases of a group.
const (
	// GroupLabel carries the Prefix on every Lease of the group; members
	// watch the Leases with this label.
	GroupLabel = "storeops.dev/shard-group"
	// RoleLabel is "member" on member Leases and "shard" on shard Leases.
	RoleLabel = "storeops.dev/shard-role"
)

// ErrNotOwner is wrapped by the errors of the fenced transport (Wrap) for
// a write to the namespace of a store this member does not own.
var ErrNotOwner = errors.New("store not owned by this replica")

// ShardOf returns the shard of a store among shards shards: the FNV-1a
// 32-bit hash of its name modulo shards. shards must be positive.
func ShardOf(store string, shards int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(store))
	return int(h.Sum32() % uint32(shards))
}

// Assignment returns the owner of each of shards shards among members:
// for shard k, the member with the highest weight hash(member, k)
// (rendezvous hashing). It depends neither on the order of members nor on
// duplicates; empty ids are ignored, and with no member every owner is "".
// Removing a member moves only its own shards; adding one moves only the
// shards it now owns.
func Assignment(members []string, shards int) []string {
	ids := slices.Clone(members)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	ids = slices.DeleteFunc(ids, func(s string) bool { return s == "" })
	seeds := make([]uint64, len(ids))
	for i, id := range ids {
		h := fnv.New64a()
		_, _ = h.Write([]byte(id))
		seeds[i] = h.Sum64()
	}
	owners := make([]string, shards)
	for k := range owners {
		var best uint64
		for i, id := range ids {
			// ids are sorted, so ties go to the smallest id.
			if w := weight(seeds[i], k); owners[k] == "" || w > best {
				best, owners[k] = w, id
			}
		}
	}
	return owners
}

// weight is the rendezvous weight of a member (seed: the FNV-1a 64 hash
// of its id) for a shard, mixed with the SplitMix64 finaliser so that the
// weights of one member for different shards are independent.
func weight(seed uint64, shard int) uint64 {
	return mix(seed ^ mix(uint64(shard)+0x9e3779b97f4a7c15))
}

func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
