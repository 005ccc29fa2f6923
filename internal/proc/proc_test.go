package proc_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storeops/storeops/internal/proc"
)

// A started shell writes to the log after the header line, and Stop
// ends it and the child it started.
func TestStartStop(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sh.log")
	p, err := proc.Start(exec.Command("/bin/sh", "-c", `sleep 60 & echo "child $!"; wait`), log, false)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if data, _ = os.ReadFile(log); strings.HasSuffix(string(data), "\n") && strings.Contains(string(data), "\nchild ") {
			break
		}
	}
	var child int
	header, out, _ := strings.Cut(string(data), "\nchild ")
	if _, err := fmt.Sscanf(out, "%d\n", &child); err != nil || !strings.HasPrefix(header, "\n==== ") ||
		!strings.HasSuffix(header, "/bin/sh -c sleep 60 & echo \"child $!\"; wait") {
		t.Fatalf("log:\n%s", data)
	}
	select {
	case <-p.Done():
		t.Fatalf("exited early: %v", p.Err())
	default:
	}
	p.Stop(5 * time.Second)
	select {
	case <-p.Done():
	default:
		t.Fatal("Stop returned before the process exited")
	}
	if p.Err() == nil {
		t.Error("Err = nil after SIGTERM")
	}
	// The shell's child got the signal too: it is gone or a zombie
	// soon after.
	for deadline := time.Now().Add(time.Minute); running(child); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the shell's child %d still runs after Stop", child)
		}
	}
}

// running reports whether pid is a process that has not exited.
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, state, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(state, "Z")
}
