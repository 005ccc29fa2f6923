package devcluster

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/storeops/storeops/internal/proc"
)

// pidFile lists the processes a cluster started, one "name pid binary" a
// line, so that a later program (devcluster down) can stop exactly them.
const pidFile = "pids"

// process is one started component.
type process struct {
	name   string
	bin    string
	args   []string
	log    string
	detach bool
	*proc.Process
}

// startProcess starts bin with args in its own process group, output to
// logDir/name.log. Unless detach is set the process is also killed by the
// kernel when the calling program dies (Pdeathsig), even on a panic or a
// test timeout.
func startProcess(name, bin string, args []string, logDir string, detach bool) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	cmd := exec.Command(bin, args...)
	cmd.Dir = logDir
	p, err := proc.Start(cmd, logPath, detach)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &process{name: name, bin: bin, args: args, log: logPath, detach: detach, Process: p}, nil
}

// exited returns an error with the tail of the log if p has exited.
func (p *process) exited() error {
	select {
	case <-p.Done():
		return fmt.Errorf("%s exited at start (%v); last lines of %s:\n%s", p.name, p.Err(), p.log, tail(p.log, 25))
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group, and SIGKILL after grace.
func (p *process) stop(grace time.Duration) { p.Stop(grace) }

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > 64<<10 {
		_, _ = f.Seek(-64<<10, 0)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return "    " + strings.Join(lines, "\n    ")
}

// writePIDs records the started processes in stateDir.
func writePIDs(stateDir string, procs []*process) error {
	var b strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&b, "%s %d %s\n", p.name, p.Pid(), p.bin)
	}
	return os.WriteFile(filepath.Join(stateDir, pidFile), []byte(b.String()), 0o644)
}

// recorded is a process named in a pid file.
type recorded struct {
	name string
	pid  int
	bin  string
}

func readPIDs(stateDir string) ([]recorded, error) {
	data, err := os.ReadFile(filepath.Join(stateDir, pidFile))
	if err != nil {
		return nil, err
	}
	var out []recorded
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 {
			continue
		}
		pid, err := strconv.Atoi(f[1])
		if err != nil || pid <= 1 {
			continue
		}
		out = append(out, recorded{name: f[0], pid: pid, bin: f[2]})
	}
	return out, nil
}

// alive reports whether r still runs the binary it was started from (and is
// not a recycled PID that now belongs to another program). The kernel
// shows the binary's path with every symbolic link resolved, so the
// recorded path is resolved too: a .cache that is a link to another tree's
// (a clean clone sharing the build cache) must not make a running cluster
// look dead, and its state directory removed as stale by the next cluster
// that starts.
func (r recorded) alive() bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", r.pid))
	if err != nil {
		return false
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	if exe == r.bin {
		return true
	}
	resolved, err := filepath.EvalSymlinks(r.bin)
	return err == nil && exe == resolved
}

// Running reports the processes recorded in stateDir that still run.
func Running(stateDir string) []string {
	recs, err := readPIDs(stateDir)
	if err != nil {
		return nil
	}
	var names []string
	for _, r := range recs {
		if r.alive() {
			names = append(names, fmt.Sprintf("%s (pid %d)", r.name, r.pid))
		}
	}
	return names
}

// StopState stops the processes recorded in stateDir by a cluster started
// with Options.Detach: SIGTERM, then SIGKILL after grace. It touches no
// other process; a missing pid file is not an error.
func StopState(stateDir string, grace time.Duration) error {
	recs, err := readPIDs(stateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := teardownRealNode(stateDir, os.Stderr); err != nil {
		return fmt.Errorf("real node: %w", err)
	}
	// Stop in reverse start order: kwok and the controllers before the
	// API server, etcd last.
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if !r.alive() {
			continue
		}
		_ = syscall.Kill(r.pid, syscall.SIGTERM)
		deadline := time.Now().Add(grace)
		for r.alive() && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if r.alive() {
			_ = syscall.Kill(r.pid, syscall.SIGKILL)
		}
	}
	for _, r := range recs {
		for i := 0; i < 50 && r.alive(); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if r.alive() {
			return fmt.Errorf("%s (pid %d) is still running", r.name, r.pid)
		}
	}
	return os.Remove(filepath.Join(stateDir, pidFile))
}

// checkPortFree fails with a clear message when addr cannot be bound.
func checkPortFree(name string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d for %s is taken (another devcluster? try `make devcluster-down`, or pick other ports): %w", port, name, err)
	}
	return l.Close()
}

// freePorts returns n distinct ports that are free on 127.0.0.1 now.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
