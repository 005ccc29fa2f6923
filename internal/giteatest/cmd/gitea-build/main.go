// Command gitea-build builds the Gitea that the tests run (see package
// giteatest) unless the cache already holds it, and prints the binary's
// path. make calls it before the tests, so that no test waits minutes
// for a cold build:
//
//	go run ./internal/giteatest/cmd/gitea-build [-cache DIR] [-v]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/storeops/storeops/internal/giteatest"
)

func main() {
	cache := flag.String("cache", "", "cache directory (default: $CACHE_DIR, or .cache at the repository root)")
	verbose := flag.Bool("v", false, "show the compiler's output")
	flag.Parse()
	if *cache == "" {
		dir, err := giteatest.DefaultCacheDir()
		if err != nil {
			fmt.Fprintln(os.Stderr, "gitea-build:", err)
			os.Exit(2)
		}
		*cache = dir
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := &progress{}
	var log io.Writer = p
	if *verbose {
		log = os.Stderr
	}
	in, err := giteatest.BuildIfNeeded(ctx, giteatest.BuildOptions{CacheDir: *cache, Go: os.Getenv("GO"), Log: log})
	if err != nil {
		os.Stderr.Write(p.compiler.Bytes())
		fmt.Fprintln(os.Stderr, "gitea-build:", err)
		os.Exit(1)
	}
	fmt.Println(in.Binary)
}

// progress shows the build's own lines and keeps the compiler's output
// for a failure.
type progress struct{ compiler bytes.Buffer }

func (w *progress) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("giteatest:")) {
		return os.Stderr.Write(p)
	}
	return w.compiler.Write(p)
}
