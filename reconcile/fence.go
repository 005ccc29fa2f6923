package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
)

// ErrNotLeader is returned for every request of a fenced client while its
// holder does not hold the Lease.
var ErrNotLeader = errors.New("not holding the leader Lease: storeops applies nothing")

// Fence lets the applier's requests through only while this process holds
// the leader Lease. A leader that loses its Lease (partitioned, paused,
// its renewals late) may still have actions in flight, and Helm keeps
// working in the background after its context ends; the fence makes
// every one of their requests fail from the moment the Lease's context is
// cancelled, so that two appliers never write at once.
//
// The zero Fence is closed.
type Fence struct {
	lease atomic.Pointer[context.Context]
}

// Hold opens the fence until ctx, the Lease's context, is cancelled.
func (f *Fence) Hold(ctx context.Context) { f.lease.Store(&ctx) }

// Close closes the fence.
func (f *Fence) Close() { f.lease.Store(nil) }

// Open reports whether requests may pass now.
func (f *Fence) Open() bool {
	ctx := f.lease.Load()
	return ctx != nil && (*ctx).Err() == nil
}

// Wrap is for rest.Config.Wrap: the returned transport refuses every
// request while the fence is closed.
func (f *Fence) Wrap(next http.RoundTripper) http.RoundTripper {
	return fencedTransport{f: f, next: next}
}

type fencedTransport struct {
	f    *Fence
	next http.RoundTripper
}

func (t fencedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !t.f.Open() {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, ErrNotLeader)
	}
	return t.next.RoundTrip(r)
}
