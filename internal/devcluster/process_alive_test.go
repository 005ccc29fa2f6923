package devcluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A process started through a symbolic link (a .cache linked to another
// tree's) is alive: the kernel names its binary with the link resolved.
// Taken for dead, its cluster's state directory was removed as stale by
// the next cluster started on the machine, etcd's data with it.
func TestRecordedAliveThroughASymlink(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	dir := t.TempDir()
	if err := os.Symlink(filepath.Dir(sleep), filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	linked := filepath.Join(dir, "bin", filepath.Base(sleep))
	cmd := exec.Command(linked, "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := recorded{name: "sleep", pid: cmd.Process.Pid, bin: linked}
	if !r.alive() {
		t.Error("a process started through a symlinked directory is taken for dead")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if r.alive() {
		t.Error("a process that exited is alive")
	}
	other := recorded{name: "sleep", pid: os.Getpid(), bin: linked}
	if other.alive() {
		t.Error("another program's PID is taken for the recorded process")
	}
}
