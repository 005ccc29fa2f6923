package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/storeops/storeops/reconcile"
	"github.com/storeops/storeops/render"
)

// Limits of the list endpoints.
const (
	DefaultSyncLimit  = 20
	MaxSyncLimit      = 100
	DefaultEventLimit = 50
	MaxEventLimit     = 500
)

// phases are the store phases the ?phase= filter accepts.
var phases = reconcile.Phases

// StoreList is the answer of GET /api/v1/stores.
type StoreList struct {
	Revision  string                  `json:"revision"`
	Generated time.Time               `json:"generated"`
	Stores    []reconcile.StoreStatus `json:"stores"`
}

// PodList is the answer of GET /api/v1/stores/{name}/pods.
type PodList struct {
	Store     string `json:"store"`
	Namespace string `json:"namespace"`
	Pods      []Pod  `json:"pods"`
}

// EventList is the answer of GET /api/v1/stores/{name}/events.
type EventList struct {
	Store     string  `json:"store"`
	Namespace string  `json:"namespace"`
	Events    []Event `json:"events"`
}

// QuotaList is the answer of GET /api/v1/stores/{name}/quota.
type QuotaList struct {
	Store     string       `json:"store"`
	Namespace string       `json:"namespace"`
	Quota     []QuotaUsage `json:"quota"`
}

// SyncList is the answer of GET /api/v1/syncs, newest first.
type SyncList struct {
	Syncs []reconcile.SyncRecord `json:"syncs"`
}

// Status is the answer of GET /api/v1/status: the snapshot without its
// stores and history, with counts and the last sync.
type Status struct {
	Revision  string                  `json:"revision"`
	Source    string                  `json:"source"`
	Syncing   bool                    `json:"syncing"`
	Leader    bool                    `json:"leader"`
	Refused   *reconcile.Refusal      `json:"refused,omitempty"`
	Generated time.Time               `json:"generated"`
	Stores    int                     `json:"stores"`
	Phases    map[reconcile.Phase]int `json:"phases"`
	LastSync  *reconcile.SyncRecord   `json:"lastSync,omitempty"`
	// Shards is this replica's part when the replicas share the stores
	// (serve --shards).
	Shards *reconcile.ShardView `json:"shards,omitempty"`
	// Clusters lists the target clusters when stores live on several.
	Clusters []reconcile.ClusterStatus `json:"clusters,omitempty"`
}

// Health is the answer of GET /api/v1/health.
type Health struct {
	// Status is "ok", "refused" (the newest revision is refused; the last
	// good one stays applied) or "unready".
	Status     string     `json:"status"`
	Ready      bool       `json:"ready"`
	ReadyError string     `json:"readyError,omitempty"`
	Leader     bool       `json:"leader"`
	Syncing    bool       `json:"syncing"`
	Revision   string     `json:"revision"`
	LastSync   *time.Time `json:"lastSync,omitempty"`
	Generated  time.Time  `json:"generated"`
}

func (s *Server) listStores(w http.ResponseWriter, r *http.Request) {
	match, err := storeFilter(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	snap := s.cfg.Board.Current()
	q := r.URL.Query()
	unfiltered := len(q["phase"]) == 0 && len(q["type"]) == 0
	if unfiltered {
		// A snapshot never changes once published: its whole list is
		// encoded once, not at each of the dashboard's and clients' polls.
		s.listMu.Lock()
		body, zipped, tag := s.listBody, s.listGzip, s.listTag
		if s.listSnap != snap {
			body = nil
		}
		s.listMu.Unlock()
		if body != nil {
			writeList(w, r, body, zipped, tag)
			return
		}
	}
	list := StoreList{Revision: snap.Revision, Generated: snap.Generated, Stores: []reconcile.StoreStatus{}}
	for _, st := range snap.Stores {
		if match(st) {
			list.Stores = append(list.Stores, normalized(st))
		}
	}
	if !unfiltered {
		writeJSON(w, http.StatusOK, list)
		return
	}
	body, err := json.Marshal(list)
	if err != nil {
		writeJSON(w, http.StatusOK, list) // answers the encoding error
		return
	}
	body = append(body, '\n')
	zipped, tag := gzipped(body), listETag(body)
	s.listMu.Lock()
	s.listSnap, s.listBody, s.listGzip, s.listTag = snap, body, zipped, tag
	s.listMu.Unlock()
	writeList(w, r, body, zipped, tag)
}

// writeList answers the whole store list: gzip-compressed, once per
// snapshot, for a client that accepts it (a thousand stores are about
// 1.5 MB of JSON, a tenth of that compressed). The list carries an entity
// tag of its content; a client that sends it back (If-None-Match) while
// the list is the same gets 304 Not Modified and no body. Answers may be
// kept by the client but not used without asking (private, no-cache):
// a browser or poller then asks with the tag on its own.
func writeList(w http.ResponseWriter, r *http.Request, body, zipped []byte, tag string) {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	h.Set("Cache-Control", "private, no-cache")
	useGzip := zipped != nil && acceptsGzip(r)
	if useGzip {
		tag = strings.TrimSuffix(tag, `"`) + `-gzip"` // another representation, another tag
	}
	h.Set("ETag", tag)
	if noneMatch(r, tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if useGzip {
		h.Set("Content-Encoding", "gzip")
		writeBody(w, zipped)
		return
	}
	writeBody(w, body)
}

// listETag is a strong entity tag of a store list (which names the time
// its snapshot was made): the first 128 bits of its SHA-256.
func listETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// noneMatch reports whether r's If-None-Match names tag (or is "*"),
// comparing weakly as RFC 9110 asks of GET.
func noneMatch(r *http.Request, tag string) bool {
	for _, h := range r.Header.Values("If-None-Match") {
		for _, t := range strings.Split(h, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == tag {
				return true
			}
		}
	}
	return false
}

// acceptsGzip reports whether r's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, h := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(h, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0" {
				return true
			}
		}
	}
	return false
}

// gzipped compresses body, or returns nil if it cannot.
func gzipped(body []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil
	}
	if _, err := zw.Write(body); err != nil || zw.Close() != nil {
		return nil
	}
	return buf.Bytes()
}

// writeBody answers 200 with body, JSON already encoded.
func writeBody(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// storeFilter parses ?phase= and ?type= (each repeatable, values ORed)
// into a predicate.
func storeFilter(r *http.Request) (func(reconcile.StoreStatus) bool, error) {
	q := r.URL.Query()
	wantPhase := map[reconcile.Phase]bool{}
	for _, v := range q["phase"] {
		p, ok := parsePhase(v)
		if !ok {
			return nil, fmt.Errorf("%w: unknown phase %q (want one of %s)", ErrInvalid, v, joinPhases())
		}
		wantPhase[p] = true
	}
	wantType := map[string]bool{}
	for _, v := range q["type"] {
		t, ok := parseType(v)
		if !ok {
			return nil, fmt.Errorf("%w: unknown store type %q (want woocommerce or medusa)", ErrInvalid, v)
		}
		wantType[t] = true
	}
	return func(st reconcile.StoreStatus) bool {
		return (len(wantPhase) == 0 || wantPhase[st.Phase]) && (len(wantType) == 0 || wantType[st.Type])
	}, nil
}

func parsePhase(v string) (reconcile.Phase, bool) {
	for _, p := range phases {
		if strings.EqualFold(v, string(p)) {
			return p, true
		}
	}
	return "", false
}

func parseType(v string) (string, bool) {
	for _, t := range render.Types {
		if strings.EqualFold(v, string(t)) {
			return string(t), true
		}
	}
	return "", false
}

func joinPhases() string {
	names := make([]string, len(phases))
	for i, p := range phases {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// store returns the status of the store named in the path: ErrInvalid for
// a name that cannot be a store's, ErrNotFound for an unknown one.
func (s *Server) store(r *http.Request) (reconcile.StoreStatus, error) {
	name := chi.URLParam(r, "name")
	if why := render.CheckName(name); why != "" {
		return reconcile.StoreStatus{}, fmt.Errorf("%w: store name %s", ErrInvalid, why)
	}
	st, ok := s.cfg.Board.Current().Store(name)
	if !ok {
		return reconcile.StoreStatus{}, fmt.Errorf("%w: no store %q", ErrNotFound, name)
	}
	return st, nil
}

func (s *Server) getStore(w http.ResponseWriter, r *http.Request) {
	st, err := s.store(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, normalized(st))
}

// storeNamespace returns the store of the request and its namespace,
// derived from the store's name as published in the snapshot, never from
// the request itself. It fails with ErrUnavailable without a
// ClusterReader.
func (s *Server) storeNamespace(r *http.Request) (string, string, error) {
	st, err := s.store(r)
	if err != nil {
		return "", "", err
	}
	if s.cfg.Cluster == nil {
		return "", "", fmt.Errorf("%w: no cluster access configured", ErrUnavailable)
	}
	if why := render.CheckName(st.Name); why != "" { // a snapshot holds only valid names
		return "", "", fmt.Errorf("store name %s", why)
	}
	return st.Name, render.NamespacePrefix + st.Name, nil
}

func (s *Server) storePods(w http.ResponseWriter, r *http.Request) {
	name, ns, err := s.storeNamespace(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	pods, err := s.cfg.Cluster.Pods(r.Context(), ns)
	if err != nil {
		Error(w, r, fmt.Errorf("pods of %s: %w", name, err))
		return
	}
	writeJSON(w, http.StatusOK, PodList{Store: name, Namespace: ns, Pods: orEmpty(pods)})
}

func (s *Server) storeEvents(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r, DefaultEventLimit, MaxEventLimit)
	if err != nil {
		Error(w, r, err)
		return
	}
	name, ns, err := s.storeNamespace(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	events, err := s.cfg.Cluster.Events(r.Context(), ns, limit)
	if err != nil {
		Error(w, r, fmt.Errorf("events of %s: %w", name, err))
		return
	}
	if len(events) > limit {
		events = events[:limit]
	}
	writeJSON(w, http.StatusOK, EventList{Store: name, Namespace: ns, Events: orEmpty(events)})
}

func (s *Server) storeQuota(w http.ResponseWriter, r *http.Request) {
	name, ns, err := s.storeNamespace(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	quota, err := s.cfg.Cluster.QuotaUsage(r.Context(), ns)
	if err != nil {
		Error(w, r, fmt.Errorf("quota of %s: %w", name, err))
		return
	}
	writeJSON(w, http.StatusOK, QuotaList{Store: name, Namespace: ns, Quota: orEmpty(quota)})
}

func (s *Server) listSyncs(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r, DefaultSyncLimit, MaxSyncLimit)
	if err != nil {
		Error(w, r, err)
		return
	}
	h := s.cfg.Board.Current().History
	if len(h) > limit {
		h = h[:limit]
	}
	writeJSON(w, http.StatusOK, SyncList{Syncs: orEmpty(h)})
}

// limitParam parses ?limit=: def when absent, at most max; ErrInvalid
// when it is not a positive integer.
func limitParam(r *http.Request, def, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: limit %q is not a positive integer", ErrInvalid, v)
	}
	return min(n, max), nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	snap := s.cfg.Board.Current()
	st := Status{
		Revision: snap.Revision, Source: snap.Source, Syncing: snap.Syncing, Leader: snap.Leader, Shards: snap.Shards, Clusters: snap.Clusters,
		Refused: snap.Refused, Generated: snap.Generated, Stores: len(snap.Stores),
		Phases: map[reconcile.Phase]int{},
	}
	for _, p := range phases {
		st.Phases[p] = 0
	}
	for _, store := range snap.Stores {
		st.Phases[store.Phase]++
	}
	if len(snap.History) > 0 {
		last := snap.History[0]
		st.LastSync = &last
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	snap := s.cfg.Board.Current()
	h := Health{Status: "ok", Ready: true, Leader: snap.Leader, Syncing: snap.Syncing,
		Revision: snap.Revision, Generated: snap.Generated}
	if len(snap.History) > 0 {
		t := snap.History[0].Start.Add(snap.History[0].Duration)
		h.LastSync = &t
	}
	status := http.StatusOK
	switch err := s.ready(); {
	case err != nil:
		h.Status, h.Ready, h.ReadyError = "unready", false, err.Error()
		status = http.StatusServiceUnavailable
	case snap.Refused != nil:
		h.Status = "refused"
	}
	writeJSON(w, status, h)
}

// normalized returns st with nil lists made empty, so that clients see
// [] rather than null.
func normalized(st reconcile.StoreStatus) reconcile.StoreStatus {
	st.Conditions = orEmpty(st.Conditions)
	st.Workloads = orEmpty(st.Workloads)
	return st
}

// orEmpty makes nil slices encode as [] rather than null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
