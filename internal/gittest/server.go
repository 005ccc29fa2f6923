// Package gittest runs a real Git smart-HTTP server for tests: bare
// repositories served by devgit.Backend (`git http-backend` through
// net/http/cgi) on a loopback port. The server can require credentials, count requests by
// kind, and be stopped and restarted on the same address so tests can
// play "the remote is unreachable, then it comes back".
//
// It needs the git command line (devgit.GitPath, /usr/bin/git) to serve
// and to create repositories, and is meant for tests only: every helper takes a testing.TB and fails the test on error.
package gittest

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/storeops/storeops/internal/devgit"
)

// Counts is how many requests of each kind the server answered since it
// was created or since the last ResetCounts. A fetch or clone costs one
// InfoRefs and at least one UploadPack; listing remote refs costs one
// InfoRefs only; a push costs one InfoRefs and one ReceivePack.
// Unauthorized counts requests refused for missing or wrong credentials
// (they are not counted in the other fields).
type Counts struct {
	InfoRefs     int64
	UploadPack   int64
	ReceivePack  int64
	Unauthorized int64
}

// Credentials are what the server demands from clients. A client passes
// when it sends HTTP basic auth with Username and Password, or, when
// Token is set, either "Authorization: Bearer <Token>" or basic auth
// with any user name and Token as the password (the way GitHub, GitLab
// and Gitea accept access tokens). The zero value lets everyone in.
type Credentials struct {
	Username string
	Password string
	Token    string
}

// Server is a Git smart-HTTP server over a directory of bare
// repositories. Its methods are safe for concurrent use.
type Server struct {
	root string // GIT_PROJECT_ROOT
	addr string // host:port, stable across Stop/Start

	mu    sync.Mutex
	srv   *httptest.Server
	creds Credentials
	hung  chan struct{} // non-nil while Hang holds requests; closed by Release

	infoRefs, uploadPack, receivePack, unauthorized atomic.Int64
}

// NewServer starts a server on a free loopback port with an empty
// project root. It is stopped when the test ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	if _, err := os.Stat(devgit.GitPath); err != nil {
		tb.Skipf("git not available: %v", err)
	}
	s := &Server{root: tb.TempDir()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("gittest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	tb.Cleanup(s.Stop)
	return s
}

// URL is the base URL of the server, "http://127.0.0.1:<port>". It does
// not change when the server is stopped and started again.
func (s *Server) URL() string { return "http://" + s.addr }

// Root is the directory holding the bare repositories.
func (s *Server) Root() string { return s.root }

// RequireAuth makes the server demand c from every request from now on.
// The zero Credentials turn authentication off again.
func (s *Server) RequireAuth(c Credentials) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds = c
}

// Hang makes the server hold every request from now on until Release is
// called or the client gives up, to test timeouts without racing a clock.
func (s *Server) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hung == nil {
		s.hung = make(chan struct{})
	}
}

// Release answers the requests held by Hang and stops holding new ones.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hung != nil {
		close(s.hung)
		s.hung = nil
	}
}

// Stop closes the listener and every connection, waiting for requests
// in flight. Clients then get "connection refused". Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.CloseClientConnections()
		srv.Close()
	}
}

// Start listens again on the address the server had before Stop.
// Starting a running server does nothing.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	running := s.srv != nil
	s.mu.Unlock()
	if running {
		return
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		tb.Fatalf("gittest: listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// Counts returns the request counters.
func (s *Server) Counts() Counts {
	return Counts{
		InfoRefs:     s.infoRefs.Load(),
		UploadPack:   s.uploadPack.Load(),
		ReceivePack:  s.receivePack.Load(),
		Unauthorized: s.unauthorized.Load(),
	}
}

// ResetCounts sets every counter to zero.
func (s *Server) ResetCounts() {
	s.infoRefs.Store(0)
	s.uploadPack.Store(0)
	s.receivePack.Store(0)
	s.unauthorized.Store(0)
}

func (s *Server) serve(ln net.Listener) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	creds, hung := s.creds, s.hung
	s.mu.Unlock()
	if hung != nil {
		select {
		case <-hung:
		case <-r.Context().Done():
			return
		}
	}
	if !authorized(creds, r) {
		s.unauthorized.Add(1)
		w.Header().Set("WWW-Authenticate", `Basic realm="gittest"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/info/refs"):
		s.infoRefs.Add(1)
	case strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
		s.uploadPack.Add(1)
	case strings.HasSuffix(r.URL.Path, "/git-receive-pack"):
		s.receivePack.Add(1)
	}
	devgit.Backend(s.root).ServeHTTP(w, r)
}

func authorized(c Credentials, r *http.Request) bool {
	if c == (Credentials{}) {
		return true
	}
	if c.Token != "" {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && equal(tok, c.Token) {
			return true
		}
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	if c.Token != "" && user != "" && equal(pass, c.Token) {
		return true
	}
	return c.Username != "" && equal(user, c.Username) && equal(pass, c.Password)
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// repoDir is where the bare repository name lives on disk.
func (s *Server) repoDir(name string) string {
	return filepath.Join(s.root, filepath.FromSlash(name)+".git")
}
