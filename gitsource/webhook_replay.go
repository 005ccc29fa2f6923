package gitsource

import "sync"

// DefaultDeliveryMemory is how many delivery IDs NewDeliveries keeps when
// given size <= 0: at most 4096 IDs of at most 128 bytes each.
const DefaultDeliveryMemory = 4096

// Deliveries remembers the IDs of the most recent webhook deliveries, a
// fixed number of them, so that a delivery received again (a forge's
// retry or redelivery, or a captured request sent again) is
// acknowledged without triggering anything. Its memory is bounded: when
// full, the oldest ID is forgotten. It is safe for concurrent use.
//
// Delivery IDs are not covered by the forges' signatures: this catches
// a delivery sent twice, not a captured body sent with a new ID. A
// webhook only asks for a sync, so such a replay costs one sync, never
// content.
type Deliveries struct {
	mu    sync.Mutex
	seen  map[string]struct{}
	order []string // ring of the keys in seen, oldest at next
	next  int
}

// NewDeliveries returns a Deliveries that keeps size IDs
// (DefaultDeliveryMemory when size <= 0).
func NewDeliveries(size int) *Deliveries {
	if size <= 0 {
		size = DefaultDeliveryMemory
	}
	return &Deliveries{seen: make(map[string]struct{}, size), order: make([]string, 0, size)}
}

// Seen records the delivery id of provider and reports whether it was
// recorded already. An empty id is never recorded nor seen: the sender
// gave none.
func (d *Deliveries) Seen(p Provider, id string) bool {
	if id == "" {
		return false
	}
	key := string(p) + "\x00" + id
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[key]; ok {
		return true
	}
	if len(d.order) < cap(d.order) {
		d.order = append(d.order, key)
	} else {
		delete(d.seen, d.order[d.next])
		d.order[d.next] = key
		d.next = (d.next + 1) % len(d.order)
	}
	d.seen[key] = struct{}{}
	return false
}

// Len is how many IDs are remembered.
func (d *Deliveries) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}
