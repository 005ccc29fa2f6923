package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storeops/storeops/reconcile"
)

// The whole store list is encoded once per snapshot: the same snapshot
// answers the same bytes, a new snapshot its own list, and filters still
// apply.
func TestListStoresFollowsTheSnapshot(t *testing.T) {
	e := start(t, nil)
	first := e.get("/api/v1/stores")
	wantJSON(t, first, http.StatusOK)
	if again := e.get("/api/v1/stores"); again.body != first.body {
		t.Errorf("same snapshot, another body:\n%s\n%s", first.body, again.body)
	}
	e.board.Publish(&reconcile.Snapshot{Revision: "def456", Stores: []reconcile.StoreStatus{
		{Name: "delta", Type: "medusa", Phase: reconcile.PhaseReady},
		{Name: "omega", Type: "woocommerce", Phase: reconcile.PhaseFailed},
	}})
	r := e.get("/api/v1/stores")
	wantJSON(t, r, http.StatusOK)
	if diff := cmp.Diff([]string{"delta", "omega"}, storeNames(t, r)); diff != "" {
		t.Errorf("after a new snapshot (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"omega"}, storeNames(t, e.get("/api/v1/stores?phase=Failed"))); diff != "" {
		t.Errorf("filtered (-want +got):\n%s", diff)
	}
}

// A client that accepts gzip gets the list compressed (once per
// snapshot), and it is the same list; one that does not, or refuses it
// with q=0, gets it plain.
func TestListStoresGzip(t *testing.T) {
	e := start(t, nil)
	plain := e.get("/api/v1/stores")
	for _, tc := range []struct {
		accept string
		zipped bool
	}{{"gzip", true}, {"br, gzip;q=0.8", true}, {"", false}, {"gzip;q=0", false}, {"identity", false}} {
		req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/stores", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.accept != "" {
			req.Header.Set("Accept-Encoding", tc.accept)
		}
		// A transport of its own: the default one would ask for gzip and
		// decompress without saying.
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.zipped {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q", tc.accept, resp.Header.Get("Content-Encoding"))
			continue
		}
		if !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: no Vary: Accept-Encoding", tc.accept)
		}
		body := raw
		if tc.zipped {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if string(body) != plain.body {
			t.Errorf("Accept-Encoding %q: another list:\n%s\nwant\n%s", tc.accept, body, plain.body)
		}
	}
}

// A client that sends back the list's entity tag gets 304 Not Modified and
// no body while the list is the same; the whole list once it changed. The plain and the gzipped list have tags of their
// own, and answers may be kept only to be revalidated.
func TestListStoresRevalidates(t *testing.T) {
	e := start(t, nil)
	get := func(accept, ifNoneMatch string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/stores", nil)
		if err != nil {
			t.Fatal(err)
		}
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		if ifNoneMatch != "" {
			req.Header.Set("If-None-Match", ifNoneMatch)
		}
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	first, body := get("", "")
	tag := first.Header.Get("ETag")
	if first.StatusCode != http.StatusOK || len(body) == 0 || !strings.HasPrefix(tag, `"`) {
		t.Fatalf("first answer: %d, ETag %q, %d bytes", first.StatusCode, tag, len(body))
	}
	if cc := first.Header.Get("Cache-Control"); !strings.Contains(cc, "no-cache") || !strings.Contains(cc, "private") {
		t.Errorf("Cache-Control %q, want private, no-cache", cc)
	}
	zipped, _ := get("gzip", "")
	ztag := zipped.Header.Get("ETag")
	if ztag == "" || ztag == tag {
		t.Fatalf("gzipped list tag %q, plain %q: want a tag of its own", ztag, tag)
	}
	for _, tc := range []struct {
		accept, ifNoneMatch string
		want                int
	}{
		{"", tag, http.StatusNotModified},
		{"", "W/" + tag, http.StatusNotModified},
		{"", `"other", ` + tag, http.StatusNotModified},
		{"", "*", http.StatusNotModified},
		{"gzip", ztag, http.StatusNotModified},
		{"gzip", tag, http.StatusOK}, // the plain list's tag does not name the gzipped one
		{"", `"stale"`, http.StatusOK},
	} {
		resp, body := get(tc.accept, tc.ifNoneMatch)
		if resp.StatusCode != tc.want {
			t.Errorf("Accept-Encoding %q, If-None-Match %q: %d, want %d", tc.accept, tc.ifNoneMatch, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusNotModified && (len(body) > 0 || resp.Header.Get("ETag") == "") {
			t.Errorf("If-None-Match %q: 304 with %d bytes, ETag %q", tc.ifNoneMatch, len(body), resp.Header.Get("ETag"))
		}
	}
	e.board.Publish(&reconcile.Snapshot{Revision: "def456", Stores: []reconcile.StoreStatus{
		{Name: "delta", Type: "medusa", Phase: reconcile.PhaseReady},
	}})
	resp, body := get("", tag)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == tag || !strings.Contains(string(body), "delta") {
		t.Errorf("changed list: %d, ETag %q (was %q), body %s", resp.StatusCode, resp.Header.Get("ETag"), tag, body)
	}
}
