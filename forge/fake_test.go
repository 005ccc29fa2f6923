package forge_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storeops/storeops/forge"
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

// mustNew returns the forge of cfg or ends the test.
func mustNew(t *testing.T, cfg forge.Config) forge.Forge {
	t.Helper()
	f, err := forge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// openTest is what a forge's Open test has in common across its cases:
// the forge, the call and what it must send.
type openTest struct {
	pulls     string // "/escaped/path" of the pull requests
	newForge  func(*testing.T, *fakeAPI) forge.Forge
	header    func(*testing.T, request) // checks the headers of each request
	head      string
	title     string
	wantBody  map[string]any    // of the POST
	wantQuery map[string]string // of the GET that looks for the open one
}

// run calls Open against a fake API that answers the POST with post and
// the GET with list (a nil route answers 404) and checks the error, that
// the token is not in it, the requests with their headers, the POST body
// and the GET query. It returns what Open returned.
func (o openTest) run(t *testing.T, post, list route, wantErr error, wantReqs []string) *forge.PullRequest {
	t.Helper()
	routes := map[string]route{}
	if post != nil {
		routes["POST "+o.pulls] = post
	}
	if list != nil {
		routes["GET "+o.pulls] = list
	}
	api := newFakeAPI(t, routes)
	got, err := o.newForge(t, api).Open(context.Background(), o.head, "main", o.title, "the body")
	if !errors.Is(err, wantErr) {
		t.Fatalf("err = %v, want %v", err, wantErr)
	}
	if err != nil && strings.Contains(err.Error(), testToken) {
		t.Errorf("error shows the token: %v", err)
	}
	reqs := api.requests()
	var seen []string
	for _, r := range reqs {
		seen = append(seen, r.Method+" "+r.Path)
		o.header(t, r)
	}
	if diff := cmp.Diff(wantReqs, seen); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(o.wantBody, reqs[0].Body); diff != "" {
		t.Errorf("POST body (-want +got):\n%s", diff)
	}
	if len(reqs) > 1 {
		if diff := cmp.Diff(o.wantQuery, reqs[1].Query); diff != "" {
			t.Errorf("GET query (-want +got):\n%s", diff)
		}
	}
	return got
}
