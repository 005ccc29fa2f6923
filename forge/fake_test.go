package forge_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const testToken = "s3cr3t-token-value"

// request is what the fake API received.
type request struct {
	Method string
	Path   string // escaped, as sent
	Query  map[string]string
	Header http.Header
	Body   map[string]any
}

// route answers one "METHOD /escaped/path" of the fake API.
type route func(w http.ResponseWriter, r request)

// fakeAPI is an httptest server that routes by method and escaped path,
// records every request and answers 404 to unknown routes.
type fakeAPI struct {
	*httptest.Server
	mu     sync.Mutex
	routes map[string]route
	reqs   []request
}

func newFakeAPI(t *testing.T, routes map[string]route) *fakeAPI {
	t.Helper()
	f := &fakeAPI{routes: routes}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	req := request{Method: r.Method, Path: r.URL.EscapedPath(), Query: map[string]string{}, Header: r.Header.Clone()}
	for k, v := range r.URL.Query() {
		req.Query[k] = strings.Join(v, ",")
	}
	if data, _ := io.ReadAll(r.Body); len(data) > 0 {
		if err := json.Unmarshal(data, &req.Body); err != nil {
			http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
			return
		}
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	h := f.routes[r.Method+" "+req.Path]
	f.mu.Unlock()
	if h == nil {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"message":"Not Found"}`)
		return
	}
	h(w, req)
}

func (f *fakeAPI) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// reply answers status with v as JSON (a string is sent as is).
func reply(status int, v any) route {
	return func(w http.ResponseWriter, _ request) {
		writeJSON(w, status, v)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if s, ok := v.(string); ok {
		_, _ = io.WriteString(w, s)
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}
