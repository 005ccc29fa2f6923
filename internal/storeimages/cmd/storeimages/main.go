// Command storeimages builds the images storeops owns (the Medusa backend
// and storefront)
// as OCI archives without a container engine, and imports them into the
// real node of the local control plane when one runs: `make images`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/storeops/storeops/internal/devcluster"
	"github.com/storeops/storeops/internal/reporoot"
	"github.com/storeops/storeops/internal/storeimages"
)

func main() {
	root, err := reporoot.Find()
	if err != nil {
		fail(err)
	}
	cache := flag.String("cache", filepath.Join(root, ".cache"), "cache directory (npm cache, layers, archives under store-images/)")
	out := flag.String("out", "", "also copy each OCI archive into this directory")
	state := flag.String("import", "auto", `import into the real node of this devcluster state directory; "auto": the one that runs, if any; "": never`)
	verbose := flag.Bool("v", false, "show the output of npm and medusa build")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := storeimages.Options{Root: root, Cache: *cache, Log: os.Stderr}
	if !*verbose {
		o.Log = progressOnly{}
	}
	dir := *state
	if dir == "auto" {
		dir = devcluster.RunningRealNode()
	}
	for _, build := range []func(context.Context, storeimages.Options) (storeimages.Image, error){
		storeimages.BuildBackend, storeimages.BuildStorefront,
	} {
		img, err := build(ctx, o)
		if err != nil {
			fail(err)
		}
		fmt.Printf("%s\t%s\t(%s)\n", img.Ref, img.Archive, img.Took.Round(100*time.Millisecond))
		if *out != "" {
			dest := filepath.Join(*out, strings.NewReplacer("/", "_", ":", "_").Replace(img.Ref)+".oci.tar")
			if err := os.MkdirAll(*out, 0o755); err != nil {
				fail(err)
			}
			_ = os.Remove(dest)
			if err := os.Link(img.Archive, dest); err != nil {
				fail(err)
			}
			fmt.Printf("wrote %s\n", dest)
		}
		if dir != "" {
			began := time.Now()
			if err := devcluster.ImportImage(ctx, dir, img.Archive); err != nil {
				fail(err)
			}
			fmt.Printf("imported %s into the real node of %s (%s)\n", img.Ref, dir, time.Since(began).Round(100*time.Millisecond))
		}
	}
}

// progressOnly passes storeimages' own lines and drops the tools' output.
type progressOnly struct{}

func (progressOnly) Write(p []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if strings.HasPrefix(line, "store-images: ") || strings.HasPrefix(line, "built the ") {
			os.Stderr.WriteString(line)
		}
	}
	return len(p), nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "storeimages:", err)
	os.Exit(1)
}
