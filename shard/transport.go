package shard

import (
	"fmt"
	"net/http"
	"strings"
)

// Wrap is for rest.Config.Wrap: the returned transport refuses, with an
// error wrapping ErrNotOwner, every request other than GET and HEAD whose
// URL path is in the namespace of a store (per Config.StoreOfNamespace)
// that this member does not own at that moment. Requests in no namespace
// (cluster-scoped objects, and creating a namespace: POST
// /api/v1/namespaces names it only in the body) and in namespaces of no
// store pass.
//
// A request let through counts as in flight for its shard until its
// response headers arrive: a graceful release waits for those before it
// gives the shard's Lease back.
func (m *Member) Wrap(next http.RoundTripper) http.RoundTripper {
	return &fencedTransport{m: m, next: next}
}

type fencedTransport struct {
	m    *Member
	next http.RoundTripper
}

func (t *fencedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || t.m.cfg.StoreOfNamespace == nil {
		return t.next.RoundTrip(r)
	}
	ns, ok := namespaceOf(r.URL.Path)
	if !ok {
		return t.next.RoundTrip(r)
	}
	store, ok := t.m.cfg.StoreOfNamespace(ns)
	if !ok {
		return t.next.RoundTrip(r)
	}
	k := t.m.ShardOf(store)
	s := t.m.shards[k]
	// Count first, check second: a release closes the fence, then waits
	// for the count to drop to zero, so it either sees this request or
	// this request sees the fence closed.
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	if !t.m.OwnsShard(k) {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, fmt.Errorf("%s %s: store %q (shard %d) is not owned by %s: %w", r.Method, r.URL.Path, store, k, t.m.cfg.ID, ErrNotOwner)
	}
	return t.next.RoundTrip(r)
}

// namespaceOf returns the namespace a request path is in:
// /api/v1/namespaces/<ns>[/...] or /apis/<group>/<version>/namespaces/<ns>[/...],
// possibly after a path prefix of the API server's URL.
func namespaceOf(path string) (string, bool) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range seg {
		switch {
		case s == "api" && i+3 < len(seg) && seg[i+2] == "namespaces":
			return seg[i+3], seg[i+3] != ""
		case s == "apis" && i+4 < len(seg) && seg[i+3] == "namespaces":
			return seg[i+4], seg[i+4] != ""
		}
	}
	return "", false
}
