package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// NodeBinaries are the files of a real node (see Options.RealNode) that
// BuildNode puts into NodeBinDir: the kubelet and kube-proxy of the pinned
// Kubernetes, the OCI archive of the pause image and the node's DNS
// server.
var NodeBinaries = []string{"kubelet", "kube-proxy", PauseArchive, ClusterDNS}

// PauseArchive is the file name of the pause image's OCI archive in
// NodeBinDir; PauseImage is its name in containerd.
const (
	PauseArchive = "pause.oci.tar"
	PauseImage   = "storeops.local/pause:1"
)

// NodeBinDir returns the directory BuildNode builds into: beside BinDir,
// under the same key, so a changed pin builds both anew. It is separate
// from BinDir so that the control plane alone (make test) never builds
// the kubelet.
func NodeBinDir(o BuildOptions) (string, error) {
	binDir, err := BinDir(o)
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(binDir), "node-bin"), nil
}

// HaveNodeBinaries reports whether dir holds every file of NodeBinaries.
func HaveNodeBinaries(dir string) bool {
	for _, b := range NodeBinaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return false
		}
	}
	return true
}

// pauseSource is the pause program: the process that holds a pod's
// namespaces. It waits for SIGTERM or SIGINT and exits 0.
const pauseSource = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`

// BuildNode builds kubelet and kube-proxy from the pinned Kubernetes
// (CGO_ENABLED=0, like the control plane) and the pause image, unless
// they are already in NodeBinDir, and returns NodeBinDir.
func BuildNode(ctx context.Context, o BuildOptions) (string, error) {
	dir, err := NodeBinDir(o)
	if err != nil {
		return "", err
	}
	if HaveNodeBinaries(dir) {
		return dir, nil
	}
	// go build runs in the module's directory.
	if dir, err = filepath.Abs(dir); err != nil {
		return "", err
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	keyDir := filepath.Dir(dir)
	if err := os.MkdirAll(keyDir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(keyDir, "node-build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if HaveNodeBinaries(dir) {
		return dir, nil
	}
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	if haveKubeBinaries(dir) {
		// Built by an earlier version of this function: only the small
		// programs are missing.
		if err := buildNodeExtras(ctx, goCmd, dir); err != nil {
			return "", err
		}
		return dir, nil
	}
	v, err := ReadVersions(o.ModuleDir)
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(keyDir, "node-bin.tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "devcluster: building kubelet and kube-proxy %s into %s (a few minutes the first time)\n", v.Kubernetes, dir)
	args := []string{"build", "-trimpath", "-ldflags", ldflags(v.Kubernetes), "-o", tmp + "/",
		kubernetesModule + "/cmd/kubelet", kubernetesModule + "/cmd/kube-proxy"}
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = o.ModuleDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s (in %s): %w", goCmd, strings.Join(args, " "), o.ModuleDir, err)
	}
	if err := buildNodeExtras(ctx, goCmd, tmp); err != nil {
		return "", err
	}
	if !HaveNodeBinaries(tmp) {
		return "", errors.New("node build finished without producing every file")
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

func haveKubeBinaries(dir string) bool {
	for _, b := range []string{"kubelet", "kube-proxy"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return false
		}
	}
	return true
}

// buildNodeExtras builds the pause image and the DNS server into dir,
// unless they are there.
func buildNodeExtras(ctx context.Context, goCmd, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, PauseArchive)); err != nil {
		pause, err := BuildStatic(ctx, goCmd, map[string]string{"main.go": pauseSource})
		if err != nil {
			return fmt.Errorf("build pause: %w", err)
		}
		if err := WriteOCIArchive(filepath.Join(dir, PauseArchive), PauseImage,
			[]ImageFile{{Path: "/pause", Mode: 0o755, Data: pause}}, ImageConfig{Entrypoint: []string{"/pause"}}); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ClusterDNS)); err != nil {
		dns, err := BuildStatic(ctx, goCmd, map[string]string{"main.go": clusterDNSSource})
		if err != nil {
			return fmt.Errorf("build %s: %w", ClusterDNS, err)
		}
		if err := os.WriteFile(filepath.Join(dir, ClusterDNS+".tmp"), dns, 0o755); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(dir, ClusterDNS+".tmp"), filepath.Join(dir, ClusterDNS)); err != nil {
			return err
		}
	}
	return nil
}

// BuildStatic builds a Go program without dependencies from its source
// files (name to content) as a static linux/amd64 binary and returns it.
func BuildStatic(ctx context.Context, goCmd string, files map[string]string) ([]byte, error) {
	if goCmd == "" {
		goCmd = "go"
	}
	src, err := os.MkdirTemp("", "storeops-static-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(src)
	files["go.mod"] = "module static\n\ngo 1.22\n"
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(src, "prog")
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-ldflags", "-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %w\n%s", err, b)
	}
	return os.ReadFile(out)
}
