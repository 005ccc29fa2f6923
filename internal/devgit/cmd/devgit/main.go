// Command devgit serves a local config repository over HTTP for `make run`:
// it creates the repository from a stores file the first time, serves it
// with git http-backend, and sends storeops a signed push webhook after
// every push, as a forge would.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/storeops/storeops/internal/devgit"
)

func main() {
	root := flag.String("root", ".run/git", "directory holding the bare repositories")
	name := flag.String("repo", "stores", "repository name (served at /<name>.git)")
	seed := flag.String("seed", "stores.example.yaml", "file to create stores.yaml from the first time")
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve on")
	hook := flag.String("webhook-url", "", "URL to post push webhooks to (empty: none)")
	secretFile := flag.String("webhook-secret-file", "", "file holding the webhook secret")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "devgit")
	if err := run(*root, *name, *seed, *listen, *hook, *secretFile, log); err != nil {
		log.Error("stopped", "error", err)
		os.Exit(1)
	}
}

func run(root, name, seed, listen, hook, secretFile string, log *slog.Logger) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(seed)
	if err != nil {
		return err
	}
	if err := devgit.InitRepo(filepath.Join(root, name+".git"), map[string][]byte{"stores.yaml": data}, "Start from "+filepath.Base(seed)); err != nil {
		return err
	}
	var secret []byte
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return err
		}
		secret = []byte(strings.TrimSpace(string(b)))
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           &devgit.Notifier{Next: devgit.Backend(root), Root: root, URL: hook, Secret: secret, Log: log},
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Fprintf(os.Stderr, "devgit: serving http://%s/%s.git\n", ln.Addr(), name)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
