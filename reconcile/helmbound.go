package reconcile

import (
	"context"
	"time"
)

// helmBound bounds one Helm install or upgrade by the applier's Timeout.
// Helm applies its own timeout only to hooks and waits, which the store
// charts do not have: an API server that holds a write would otherwise
// hold the operation, and the store's worker, for ever. At the bound Helm
// marks the release failed and returns ("context deadline exceeded"),
// the failure is recorded and retried after a backoff like any other;
// a request still in flight finishes or fails on its own.
func helmBound(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
}
