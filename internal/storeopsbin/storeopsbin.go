// Package storeopsbin builds the storeops binary for tests that run it the
// way a user does, and collects what a running process prints.
package storeopsbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Build compiles cmd/storeops into a new temporary directory and returns
// the binary's path and a function that removes it. Compiler output goes
// to stderr.
func Build() (path string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "storeops-bin-")
	if err != nil {
		return "", nil, err
	}
	path = filepath.Join(dir, "storeops")
	cmd := exec.Command("go", "build", "-o", path, "github.com/storeops/storeops/cmd/storeops")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build storeops: %w", err)
	}
	return path, func() { os.RemoveAll(dir) }, nil
}

// Output is what a process writes to stdout and stderr, safe for both
// writers and for reading while it runs.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Main is the TestMain of a package that runs the storeops binary: it
// builds the binary into *path, runs run(m) (m.Run, or a wrapper such as
// testcluster.Main), removes the binary and returns the exit code.
func Main(m *testing.M, path *string, run func(*testing.M) int) int {
	p, cleanup, err := Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	*path = p
	return run(m)
}

// Run runs the binary to the end and returns its exit code and combined
// output. env nil means the environment of the test. err is set only when
// the binary could not be run at all.
func Run(ctx context.Context, binary string, env []string, args ...string) (code int, out string, err error) {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	b, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(b), nil
	}
	return 0, string(b), err
}
