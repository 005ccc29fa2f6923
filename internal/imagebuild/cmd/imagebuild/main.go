// Command imagebuild builds storeops' container image as an OCI image
// archive, without a container engine (make image). See package
// imagebuild.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/storeops/storeops/internal/imagebuild"
	"github.com/storeops/storeops/internal/reporoot"
)

func main() {
	out := flag.String("out", "bin/storeops-image.tar", "OCI image archive to write")
	ref := flag.String("ref", "", "image reference (default: the one the chart pulls, deploy/chart image.repository:tag or appVersion)")
	version := flag.String("version", "dev", "version storeops reports and the image is labelled with")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *out, *ref, *version); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, ref, version string) error {
	root, err := reporoot.Find()
	if err != nil {
		return err
	}
	if ref == "" {
		if ref, err = imagebuild.DefaultRef(root); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "storeops-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "storeops")
	if err := imagebuild.BuildBinary(ctx, root, version, bin); err != nil {
		return err
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	if err := imagebuild.Write(out, binary, imagebuild.Image{Ref: ref, Version: version}); err != nil {
		return err
	}
	fmt.Printf("%s: %s (linux/amd64, user %s)\n", out, ref, imagebuild.User)
	return nil
}
