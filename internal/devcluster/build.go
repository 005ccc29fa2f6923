package devcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Binaries are the programs that make up the local control plane; BinDir
// holds one file of each name.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// ToolsModule is the path of the nested Go module that pins the versions of
// the binaries, relative to the repository root.
const ToolsModule = "deploy/devcluster"

const (
	kubernetesModule = "k8s.io/kubernetes"
	etcdModule       = "go.etcd.io/etcd/server/v3"
	kwokModule       = "sigs.k8s.io/kwok"
)

// Versions are the pinned versions read from the tools module's go.mod.
type Versions struct {
	Kubernetes string // e.g. v1.36.3
	Etcd       string // e.g. v3.6.8
	Kwok       string // e.g. v0.8.0
}

// BuildOptions says where the tools module is and where to cache binaries.
type BuildOptions struct {
	// ModuleDir is the tools module (the repository's deploy/devcluster).
	ModuleDir string
	// CacheDir is the root of the build cache (the repository's .cache);
	// binaries go to CacheDir/devcluster/<key>/bin.
	CacheDir string
	// Go is the go command; "go" when empty.
	Go string
	// Log receives the build's progress and the compiler's output; nil
	// discards it.
	Log io.Writer
}

// ReadVersions parses the pinned versions from the tools module's go.mod.
func ReadVersions(moduleDir string) (Versions, error) {
	data, err := os.ReadFile(filepath.Join(moduleDir, "go.mod"))
	if err != nil {
		return Versions{}, err
	}
	var v Versions
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(f) < 2 || strings.Contains(sc.Text(), "=>") {
			continue
		}
		switch f[0] {
		case kubernetesModule:
			v.Kubernetes = f[1]
		case etcdModule:
			v.Etcd = f[1]
		case kwokModule:
			v.Kwok = f[1]
		}
	}
	if v.Kubernetes == "" || v.Etcd == "" || v.Kwok == "" {
		return v, fmt.Errorf("%s/go.mod must require %s, %s and %s", moduleDir, kubernetesModule, etcdModule, kwokModule)
	}
	return v, nil
}

// BinDir returns the directory the binaries pinned by the tools module are
// (or will be) built into. Its name holds the versions and a hash of the
// module's go.mod and go.sum, so that any change of a pin builds anew.
func BinDir(o BuildOptions) (string, error) {
	v, err := ReadVersions(o.ModuleDir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(o.ModuleDir, name))
		if err != nil {
			return "", err
		}
		h.Write(data)
	}
	h.Write([]byte(ldflags(v.Kubernetes)))
	key := fmt.Sprintf("k8s-%s_etcd-%s_kwok-%s_%s", v.Kubernetes, v.Etcd, v.Kwok, hex.EncodeToString(h.Sum(nil))[:10])
	return filepath.Join(o.CacheDir, "devcluster", key, "bin"), nil
}

// HaveBinaries reports whether dir holds every binary in Binaries.
func HaveBinaries(dir string) bool {
	for _, b := range Binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// Build builds the pinned binaries unless they are already in BinDir, and
// returns BinDir. Concurrent callers (parallel test binaries) wait for one
// another through a lock file; the result is moved into place whole, so a
// BinDir that exists is complete.
func Build(ctx context.Context, o BuildOptions) (string, error) {
	binDir, err := BinDir(o)
	if err != nil {
		return "", err
	}
	if HaveBinaries(binDir) {
		return binDir, nil
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	keyDir := filepath.Dir(binDir)
	if err := os.MkdirAll(keyDir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(keyDir, "build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(log, "devcluster: waiting for another build of %s\n", binDir)
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
		}
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if HaveBinaries(binDir) {
		return binDir, nil
	}
	v, err := ReadVersions(o.ModuleDir)
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(keyDir, "bin.tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "devcluster: building kubernetes %s, etcd %s, kwok %s into %s (several minutes the first time)\n",
		v.Kubernetes, v.Etcd, v.Kwok, binDir)
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	builds := [][]string{
		{"build", "-trimpath", "-ldflags", ldflags(v.Kubernetes), "-o", tmp + "/",
			kubernetesModule + "/cmd/kube-apiserver",
			kubernetesModule + "/cmd/kube-controller-manager",
			kubernetesModule + "/cmd/kube-scheduler",
			kwokModule + "/cmd/kwok"},
		// The etcd server's main package is the module root, named v3.
		{"build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(tmp, "etcd"), etcdModule},
	}
	for _, args := range builds {
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir = o.ModuleDir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%s %s (in %s): %w", goCmd, strings.Join(args, " "), o.ModuleDir, err)
		}
	}
	if !HaveBinaries(tmp) {
		return "", errors.New("build finished without producing every binary")
	}
	if err := os.RemoveAll(binDir); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, binDir); err != nil {
		return "", err
	}
	return binDir, nil
}

// ldflags sets the version the Kubernetes binaries report; without it they
// say v0.0.0 and charts' kubeVersion constraints fail.
func ldflags(version string) string {
	major, minor := "0", "0"
	if parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	flags := []string{"-s", "-w"}
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X", pkg+".gitVersion="+version,
			"-X", pkg+".gitMajor="+major,
			"-X", pkg+".gitMinor="+minor,
			"-X", pkg+".gitTreeState=clean",
			"-X", pkg+".buildDate=1970-01-01T00:00:00Z")
	}
	return strings.Join(flags, " ")
}
