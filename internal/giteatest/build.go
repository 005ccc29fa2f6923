package giteatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/storeops/storeops/internal/reporoot"
)

// Module and Version are the Gitea release the tests run. Newer releases
// need dependencies the module proxy here refuses.
const (
	Module  = "code.gitea.io/gitea"
	Version = "v1.26.0"
)

// BuildTags are the build tags of the binary: SQLite, no bindata (the
// templates are read from the source tree, the work path).
const BuildTags = "sqlite sqlite_unlock_notify"

// BuildOptions says where to cache the build.
type BuildOptions struct {
	// CacheDir is the root of the build cache (the repository's .cache);
	// the source and the binary go to CacheDir/gitea/<Version>.
	CacheDir string
	// Go is the go command; "go" when empty.
	Go string
	// Log receives the build's progress and the compiler's output; nil
	// discards it.
	Log io.Writer
}

// Install is a built Gitea: the binary, and its source tree, which Gitea
// needs as its work path (templates, options).
type Install struct {
	Binary   string
	WorkPath string
}

// Dir is where the build of Version is cached under cacheDir.
func Dir(cacheDir string) string { return filepath.Join(cacheDir, "gitea", Version) }

func installIn(dir string) Install {
	return Install{Binary: filepath.Join(dir, "gitea"), WorkPath: filepath.Join(dir, "src")}
}

// complete reports whether in holds a binary and a source tree.
func (in Install) complete() bool {
	fi, err := os.Stat(in.Binary)
	if err != nil || fi.Mode()&0o111 == 0 {
		return false
	}
	_, err = os.Stat(filepath.Join(in.WorkPath, "templates"))
	return err == nil
}

// BuildIfNeeded builds Gitea Version with cgo (for SQLite) unless the
// cache already holds it, and returns where it is. A cold build takes
// several minutes. Concurrent callers (parallel test binaries, make)
// wait for one another through a lock file; the binary is moved into
// place last, so one that exists is complete.
func BuildIfNeeded(ctx context.Context, o BuildOptions) (Install, error) {
	dir := Dir(o.CacheDir)
	in := installIn(dir)
	if in.complete() {
		return in, nil
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return in, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return in, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(log, "giteatest: waiting for another build of %s\n", dir)
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return in, fmt.Errorf("lock %s: %w", lock.Name(), err)
		}
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if in.complete() {
		return in, nil
	}
	began := time.Now()
	fmt.Fprintf(log, "giteatest: building Gitea %s into %s (several minutes the first time)\n", Version, dir)
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	src, err := download(ctx, goCmd, log)
	if err != nil {
		return in, err
	}
	if err := os.RemoveAll(in.Binary); err != nil {
		return in, err
	}
	if err := os.RemoveAll(in.WorkPath); err != nil {
		return in, err
	}
	if err := copyTree(src, in.WorkPath); err != nil {
		return in, fmt.Errorf("copy %s: %w", src, err)
	}
	tmp := in.Binary + ".tmp"
	args := []string{"build", "-tags", BuildTags, "-ldflags", "-X main.Version=" + strings.TrimPrefix(Version, "v"), "-o", tmp, "."}
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = in.WorkPath
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=1")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return in, fmt.Errorf("%s %s (in %s): %w", goCmd, strings.Join(args, " "), in.WorkPath, err)
	}
	if err := os.Rename(tmp, in.Binary); err != nil {
		return in, err
	}
	fmt.Fprintf(log, "giteatest: built Gitea %s in %s\n", Version, time.Since(began).Round(time.Second))
	return in, nil
}

// download fetches the module's source into the module cache and returns
// its directory there.
func download(ctx context.Context, goCmd string, log io.Writer) (string, error) {
	cmd := exec.CommandContext(ctx, goCmd, "mod", "download", "-json", Module+"@"+Version)
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, log
	runErr := cmd.Run()
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out.Bytes(), &info); err != nil && runErr == nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", Module, Version, err)
	}
	switch {
	case info.Error != "":
		return "", fmt.Errorf("go mod download %s@%s: %s", Module, Version, info.Error)
	case runErr != nil:
		return "", fmt.Errorf("go mod download %s@%s: %w", Module, Version, runErr)
	case info.Dir == "":
		return "", errors.New("go mod download: no directory in its answer")
	}
	return info.Dir, nil
}

// copyTree copies the regular files and directories of src into dst,
// writable by their owner (the module cache is read-only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return copyFile(p, target, info.Mode().Perm()|0o600)
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// DefaultCacheDir is $CACHE_DIR, or the .cache directory at the root of
// the repository (found from the working directory).
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("CACHE_DIR"); d != "" {
		return d, nil
	}
	root, err := reporoot.Find()
	if err != nil {
		return "", fmt.Errorf("%w; set CACHE_DIR", err)
	}
	return filepath.Join(root, ".cache"), nil
}
