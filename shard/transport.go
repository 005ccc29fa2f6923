package shard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Wrap is for rest.Config.Wrap: the returned transport refuses, with an
// error wrapping ErrNotOwner, every request other than GET and HEAD whose
// URL path is in the namespace of a store (per Config.StoreOfNamespace)
// that this member does not own at that moment, and every creation of
// such a namespace (POST /api/v1/namespaces names it in the body, which is
// read for it). Requests in no namespace (cluster-scoped objects) and in
// namespaces of no store pass.
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
	if !ok && r.Method == http.MethodPost && isNamespaces(r.URL.Path) {
		// Creating a namespace names it in the body only.
		var err error
		if ns, err = createdNamespace(r); err != nil {
			return nil, err
		}
		ok = ns != ""
	}
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

// isNamespaces reports whether path is the collection of namespaces,
// /api/v1/namespaces, possibly after a path prefix of the API server's
// URL.
func isNamespaces(path string) bool {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	n := len(seg)
	return n >= 3 && seg[n-3] == "api" && seg[n-1] == "namespaces"
}

// createdNamespace reads the name of the namespace a creation request
// sends (JSON, as client-go sends it by default), leaving the request's
// body to be sent whole. A body that is not JSON names none.
func createdNamespace(r *http.Request) (string, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return "", nil
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return "", fmt.Errorf("%s %s: read the body: %w", r.Method, r.URL.Path, err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	var ns struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if json.Unmarshal(body, &ns) != nil {
		return "", nil
	}
	return ns.Metadata.Name, nil
}
