package storeimages

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/storeops/storeops/internal/devcluster"
)

// backendSkip leaves out of the backend's build inputs what only the
// Dockerfile path uses, and build output.
func backendSkip(rel string) bool {
	switch rel {
	case "Dockerfile", "try-local.sh", "node_modules", ".medusa":
		return true
	}
	return false
}

// BackendConfig is the image configuration of the backend: the chart runs
// `node storeops/migrate.js` and `node storeops/setup.js` in it, and the
// default command starts the server; the entrypoint refuses to start
// without real secrets.
func BackendConfig() devcluster.ImageConfig {
	return devcluster.ImageConfig{
		Entrypoint: []string{"/usr/local/bin/docker-entrypoint.sh"},
		Cmd:        []string{"medusa", "start"},
		Env: []string{
			"PATH=/app/node_modules/.bin:" + debianPath,
			"NODE_ENV=production", "PORT=9000", "HOME=/tmp", "MEDUSA_DISABLE_TELEMETRY=true",
		},
		User:       "1000:1000",
		WorkingDir: "/app",
	}
}

// BuildBackend builds the Medusa backend image (see the package comment)
// and returns it. Cached layers are reused; a cold build takes several
// minutes (npm ci, medusa build, mmdebstrap).
func BuildBackend(ctx context.Context, o Options) (Image, error) {
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
	src := filepath.Join(o.Root, "charts", "medusa-images", "backend")
	pkg, err := os.ReadFile(filepath.Join(src, "package.json"))
	if err != nil {
		return Image{}, err
	}
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		return Image{}, fmt.Errorf("the backend has no lock file: %w", err)
	}
	if err := CheckPins(pkg, lock, version, "@medusajs/framework", "@medusajs/medusa", "@medusajs/cli"); err != nil {
		return Image{}, fmt.Errorf("charts/medusa-images/backend does not pin Medusa %s (the chart's appVersion):\n%w", version, err)
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
	fmt.Fprintf(h, "backend builder %s node %s %s medusa %s\n", builderVersion, Node.Version, Node.Integrity, version)
	if err := hashTree(h, src, backendSkip); err != nil {
		return Image{}, err
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	app := o.dir("layers", fmt.Sprintf("medusa-backend-%s-app-%s.tar", version, key))
	if _, err := os.Stat(app); err != nil {
		if err := buildBackendApp(ctx, o, src, nodeBin, version, app); err != nil {
			return Image{}, err
		}
	} else {
		o.logf("backend app layer %s is cached", filepath.Base(app))
	}
	ref := BackendRepository + ":" + version
	archive, err := writeImage(o, "medusa-backend-"+version, ref, []string{base, nodeTar, app}, BackendConfig())
	if err != nil {
		return Image{}, err
	}
	return Image{Ref: ref, Archive: archive, Took: time.Since(began)}, nil
}

// buildBackendApp installs the dependencies, runs medusa build and writes
// the /app layer.
func buildBackendApp(ctx context.Context, o Options, src, nodeBin, version, dest string) error {
	work := o.dir("work", "backend")
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	if err := copyTree(src, work, backendSkip); err != nil {
		return err
	}
	npm := []string{"--no-audit", "--no-fund", "--cache", o.dir("npm"), "--prefer-offline"}
	o.logf("npm ci of the backend (Medusa %s)", version)
	if err := run(ctx, o, work, nodeBin, nil, "npm", append([]string{"ci"}, npm...)...); err != nil {
		return err
	}
	if err := checkInstalled(work, version); err != nil {
		return err
	}
	// medusa-config.ts (storeops/config.js) loads placeholders with
	// MEDUSA_BUILD=true: nothing secret is baked in.
	o.logf("medusa build")
	if err := run(ctx, o, work, nodeBin, []string{"MEDUSA_BUILD=true", "NODE_ENV=production"},
		filepath.Join(work, "node_modules", ".bin", "medusa"), "build"); err != nil {
		return err
	}
	server := filepath.Join(work, ".medusa", "server")
	// A failed admin build only logs inside `medusa build`.
	if _, err := os.Stat(filepath.Join(server, "public", "admin", "index.html")); err != nil {
		return fmt.Errorf("medusa build produced no admin (.medusa/server/public/admin/index.html missing)")
	}
	for _, f := range []string{"src/scripts/storeops-setup.js", "src/scripts/seed.js", "src/api/middlewares.js", "medusa-config.js"} {
		if _, err := os.Stat(filepath.Join(server, f)); err != nil {
			return fmt.Errorf("medusa build did not produce %s", f)
		}
	}
	// The build output is a standalone app with its own package.json,
	// installed as Medusa documents it, from the same lock file.
	if err := copyFile(filepath.Join(src, "package-lock.json"), filepath.Join(server, "package-lock.json")); err != nil {
		return err
	}
	o.logf("npm ci --omit=dev of the build output")
	if err := run(ctx, o, server, nodeBin, nil, "npm", append([]string{"ci", "--omit=dev"}, npm...)...); err != nil {
		return err
	}
	if err := checkInstalled(server, version); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(server, "node_modules", "pg", "package.json")); err != nil {
		return fmt.Errorf("the build output has no pg: %w", err)
	}
	if err := copyTree(filepath.Join(src, "storeops"), filepath.Join(server, "storeops"), nil); err != nil {
		return err
	}
	// Uploads (the chart mounts a volume here).
	if err := os.MkdirAll(filepath.Join(server, "static"), 0o755); err != nil {
		return err
	}
	entrypoint, err := os.ReadFile(filepath.Join(src, "docker-entrypoint.sh"))
	if err != nil {
		return err
	}
	o.logf("writing the app layer")
	if err := devcluster.WriteTreeLayer(dest, []devcluster.Tree{{Src: server, Dest: "/app", UID: 1000, GID: 1000}},
		[]devcluster.ImageFile{{Path: "/usr/local/bin/docker-entrypoint.sh", Mode: 0o755, Data: entrypoint}}); err != nil {
		return err
	}
	// The layer holds what is needed; a failed build keeps its work
	// directory to look at.
	return os.RemoveAll(work)
}

// checkInstalled checks that dir's node_modules has @medusajs/<pkg> (default
// framework) at version.
func checkInstalled(dir, version string, pkg ...string) error {
	name := "framework"
	if len(pkg) > 0 {
		name = pkg[0]
	}
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "@medusajs", name, "package.json"))
	if err != nil {
		return err
	}
	var p struct{ Version string }
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.Version != version {
		return fmt.Errorf("%s: @medusajs/%s %s installed, not %s", dir, name, p.Version, version)
	}
	return nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// writeImage writes the OCI archive of layers named ref into
// <cache>/store-images/oci, unless the same layers and configuration were
// written there already, and returns its path.
func writeImage(o Options, name, ref string, layers []string, cfg devcluster.ImageConfig) (string, error) {
	h := sha256.New()
	cfgJSON, _ := json.Marshal(cfg)
	fmt.Fprintf(h, "%s %s %s", ref, strings.Join(layers, " "), cfgJSON)
	for _, l := range layers {
		info, err := os.Stat(l)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, " %d", info.Size())
	}
	dir := o.dir("oci")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	archive := filepath.Join(dir, fmt.Sprintf("%s-%s.oci.tar", name, hex.EncodeToString(h.Sum(nil))[:12]))
	if _, err := os.Stat(archive); err == nil {
		return archive, nil
	}
	old, _ := filepath.Glob(filepath.Join(dir, name+"-*.oci.tar"))
	var ls []devcluster.Layer
	for _, l := range layers {
		ls = append(ls, devcluster.Layer{TarPath: l})
	}
	o.logf("writing %s", archive)
	if err := devcluster.WriteOCIImage(archive, ref, ls, cfg); err != nil {
		return "", err
	}
	for _, f := range old {
		_ = os.Remove(f)
	}
	return archive, nil
}
