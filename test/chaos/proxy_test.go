package chaos_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/storeops/storeops/internal/testcluster"
)

// request is one API request a replica sent, as the proxy saw it.
type request struct {
	Replica string
	Method  string
	Path    string
	Start   time.Time // when the proxy received it
	End     time.Time // when the API server's answer was passed back
	Code    int
	// Created is the name of the namespace a POST /api/v1/namespaces
	// creates (its path names none), read from its body.
	Created string
}

// mutating reports whether the request changes something.
func (r request) mutating() bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// coordination reports whether the request is about leader election (the
// Leases every replica renews or tries to take) or an Event: what
// followers may write too.
func (r request) coordination() bool {
	return strings.Contains(r.Path, "/apis/coordination.k8s.io/") || strings.Contains(r.Path, "/events")
}

// write reports a mutating request that only an applier may send.
func (r request) write() bool { return r.mutating() && !r.coordination() }

// apiLog records the API requests of every replica of a case, in the
// order the proxy received them.
type apiLog struct {
	mu      sync.Mutex
	reqs    []request
	changed chan struct{} // closed and replaced on every new write

	// holdAfter, when set, is asked after each write whether to hold
	// every later write (until its client gives up) from then on.
	holdAfter func(request) bool
	holding   chan struct{} // closed once writes are held
	held      bool

	// stallIf, when set, holds each write it is true for until
	// unstalled is closed (then passes it on) or its client gives up.
	stallIf   func(request) bool
	unstalled chan struct{}
	stalled   int // writes held so far by stallIf
}

// stallWrites holds every later write for which cond is true (not the
// ones already in flight) until the returned function is called, which
// passes them on: an API server that takes that long to answer them.
func (l *apiLog) stallWrites(cond func(request) bool) (release func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan struct{})
	l.stallIf, l.unstalled = cond, ch
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.unstalled == ch {
			l.stallIf, l.unstalled = nil, nil
		}
		close(ch)
	}
}

// stall returns the channel that r must wait on, nil if r passes.
func (l *apiLog) stall(r request) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stallIf == nil || !r.write() || !l.stallIf(r) {
		return nil
	}
	l.stalled++
	return l.unstalled
}

// stalledWrites is the number of writes stallWrites has held so far.
func (l *apiLog) stalledWrites() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stalled
}

// holdWritesAfter makes the proxies hold every write that comes after a
// write for which cond is true; the returned channel is closed then.
func (l *apiLog) holdWritesAfter(cond func(request) bool) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holdAfter, l.holding, l.held = cond, make(chan struct{}), false
	return l.holding
}

// release stops holding writes.
func (l *apiLog) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holdAfter, l.held = nil, false
}

func (l *apiLog) holdingWrites() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

func newAPILog() *apiLog { return &apiLog{changed: make(chan struct{})} }

func (l *apiLog) add(r request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
	if r.write() {
		close(l.changed)
		l.changed = make(chan struct{})
		if l.holdAfter != nil && !l.held && r.Code < 300 && l.holdAfter(r) {
			l.held = true
			close(l.holding)
		}
	}
}

// snapshot returns the requests so far.
func (l *apiLog) snapshot() []request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]request(nil), l.reqs...)
}

// writes returns the number of writes so far and a channel closed at the
// next one.
func (l *apiLog) writes() (int, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		if r.write() {
			n++
		}
	}
	return n, l.changed
}

// writesSince returns the writes recorded after the first n requests.
func (l *apiLog) writesSince(n int) []request {
	var out []request
	for _, r := range l.snapshot()[n:] {
		if r.write() {
			out = append(out, r)
		}
	}
	return out
}

// len is the number of requests so far.
func (l *apiLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

// apiProxy is a reverse proxy on loopback in front of the API server for
// one replica: it logs each request under the replica's name. The replica
// talks plain HTTP to it; the proxy adds the admin credentials.
type apiProxy struct {
	kubeconfig string
	srv        *http.Server
}

// startProxy starts a proxy for replica that logs into log, and returns
// it with a kubeconfig pointing at it. It stops when the test ends.
func startProxy(t *testing.T, c *testcluster.Cluster, log *apiLog, replica string) *apiProxy {
	t.Helper()
	target, err := url.Parse(c.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := rest.TransportFor(rest.CopyConfig(c.Config))
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = rt
	rp.FlushInterval = -1 // watches stream
	rp.ErrorLog = nil
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &apiProxy{}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := request{Replica: replica, Method: r.Method, Path: r.URL.Path, Start: time.Now()}
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/namespaces" && r.Body != nil {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(body))
			// JSON or protobuf, as the client chose.
			if obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil); err == nil {
				if m, err := meta.Accessor(obj); err == nil {
					rec.Created = m.GetName()
				}
			}
		}
		if rec.write() && log.holdingWrites() {
			<-r.Context().Done() // held until the client gives up or dies
			return
		}
		if wait := log.stall(rec); wait != nil {
			select {
			case <-wait: // passed on late
			case <-r.Context().Done():
				return
			}
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		r.Header.Del("Authorization")
		rp.ServeHTTP(sw, r)
		rec.End, rec.Code = time.Now(), sw.code
		log.add(rec)
	})}
	go p.srv.Serve(ln)
	t.Cleanup(func() { p.srv.Close() })
	p.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig-"+replica)
	kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: proxy\n  cluster:\n    server: http://" + ln.Addr().String() +
		"\nusers:\n- name: proxy\n  user: {}\ncontexts:\n- name: proxy\n  context: {cluster: proxy, user: proxy}\ncurrent-context: proxy\n"
	if err := os.WriteFile(p.kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
