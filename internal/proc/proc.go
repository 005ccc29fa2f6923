// Package proc starts the servers that development and tests run as
// child processes (etcd, the Kubernetes API server, Gitea, …): each in
// a process group of its own, its output appended to a log file, killed
// by the kernel when the program that started it dies, and stopped
// together with any children it started.
package proc

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a child process started by Start.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // what cmd.Wait returned, set before done is closed
}

// Start starts cmd in a process group of its own, with its standard
// output and error appended to the file at logPath after a line that
// names the time and the command. Unless detach is set, the kernel kills
// the process when the calling program dies (Pdeathsig), even on a panic
// or a test timeout; with detach it runs in a session of its own and
// outlives the program. Start sets cmd's Stdout, Stderr and
// SysProcAttr; its Dir and Env are the caller's.
func Start(cmd *exec.Cmd, logPath string, detach bool) (*Process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "\n==== %s %s %s\n", time.Now().Format(time.RFC3339), cmd.Path, strings.Join(cmd.Args[1:], " "))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	if err := startOnSpawnerThread(cmd); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's id, which is also the id of its process group.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the exit status as exec.Cmd.Wait returns it; read it once Done
// is closed.
func (p *Process) Err() error { return p.err }

// Stop sends SIGTERM to the process group, and SIGKILL after grace, and
// returns when the process has exited. It does nothing when the process
// has already exited.
func (p *Process) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
	}
}

var (
	spawnOnce sync.Once
	spawnReq  chan spawnRequest
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// startOnSpawnerThread starts cmd from one OS thread that lives as long as
// the program. Pdeathsig fires when the thread that forked the child ends,
// not the process, and the Go runtime may end the thread of an ordinary
// goroutine; a goroutine locked to its thread that never returns keeps
// the thread.
func startOnSpawnerThread(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReq = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread()
			for r := range spawnReq {
				r.done <- r.cmd.Start()
			}
		}()
	})
	r := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	spawnReq <- r
	return <-r.done
}
