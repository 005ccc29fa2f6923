package storeimages

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/storeops/storeops/internal/devcluster"
)

// StorefrontRepository is the image name the chart's defaults use
// (storefront.image.repository); the tag is the chart's appVersion.
const StorefrontRepository = "ghcr.io/storeops/medusa-storefront"

// StorefrontConfig is the image configuration of the storefront: the small
// server of charts/medusa-images/storefront/sdk on port 8000.
func StorefrontConfig() devcluster.ImageConfig {
	return devcluster.ImageConfig{
		Cmd:        []string{"node", "/app/server.js"},
		Env:        []string{"PATH=" + debianPath, "NODE_ENV=production", "PORT=8000", "HOME=/tmp"},
		User:       "1000:1000",
		WorkingDir: "/app",
	}
}

// BuildStorefront builds the storefront image: the small storefront on the
// Medusa JS SDK of charts/medusa-images/storefront/sdk (server.js and its
// locked dependencies, @medusajs/js-sdk at the chart's appVersion) on the
// same base and Node.js as the backend. The official Next.js starter the
// Dockerfile builds needs GitHub.
func BuildStorefront(ctx context.Context, o Options) (Image, error) {
	began := time.Now()
	unlock, err := lockBuilds(o)
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	version, err := AppVersion(o.Root, "medusa")
	if err != nil {
		return Image{}, err
	}
	src := filepath.Join(o.Root, "charts", "medusa-images", "storefront", "sdk")
	pkg, err := os.ReadFile(filepath.Join(src, "package.json"))
	if err != nil {
		return Image{}, err
	}
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		return Image{}, fmt.Errorf("the storefront has no lock file: %w", err)
	}
	if err := CheckPins(pkg, lock, version, "@medusajs/js-sdk"); err != nil {
		return Image{}, fmt.Errorf("charts/medusa-images/storefront/sdk does not pin Medusa %s (the chart's appVersion):\n%w", version, err)
	}
	base, err := BaseRootFS.Build(ctx, o.dir("layers"), o.Log)
	if err != nil {
		return Image{}, err
	}
	nodeTar, nodeBin, err := nodeLayer(ctx, o)
	if err != nil {
		return Image{}, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "storefront builder %s node %s %s medusa %s\n", builderVersion, Node.Version, Node.Integrity, version)
	skip := func(rel string) bool { return rel == "node_modules" }
	if err := hashTree(h, src, skip); err != nil {
		return Image{}, err
	}
	app := o.dir("layers", fmt.Sprintf("medusa-storefront-%s-app-%s.tar", version, hex.EncodeToString(h.Sum(nil))[:16]))
	if _, err := os.Stat(app); err != nil {
		work := o.dir("work", "storefront")
		if err := os.RemoveAll(work); err != nil {
			return Image{}, err
		}
		if err := copyTree(src, work, skip); err != nil {
			return Image{}, err
		}
		o.logf("npm ci --omit=dev of the storefront")
		if err := run(ctx, o, work, nodeBin, nil, "npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--cache", o.dir("npm"), "--prefer-offline"); err != nil {
			return Image{}, err
		}
		if err := checkInstalled(work, version, "js-sdk"); err != nil {
			return Image{}, err
		}
		if err := run(ctx, o, work, nodeBin, nil, "node", "--check", "server.js"); err != nil {
			return Image{}, err
		}
		if err := devcluster.WriteTreeLayer(app, []devcluster.Tree{{Src: work, Dest: "/app", UID: 1000, GID: 1000}}, nil); err != nil {
			return Image{}, err
		}
		if err := os.RemoveAll(work); err != nil {
			return Image{}, err
		}
	} else {
		o.logf("storefront app layer %s is cached", filepath.Base(app))
	}
	ref := StorefrontRepository + ":" + version
	archive, err := writeImage(o, "medusa-storefront-"+version, ref, []string{base, nodeTar, app}, StorefrontConfig())
	if err != nil {
		return Image{}, err
	}
	return Image{Ref: ref, Archive: archive, Took: time.Since(began)}, nil
}
