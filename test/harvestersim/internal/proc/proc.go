// Package proc starts and stops the stand-in's child processes (etcd, the Kubernetes components,
// fake hosts): each dies with the stand-in's process, is recorded so that a later run can stop what a
// killed stand-in left running, and is stopped by PID, never by name.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/logtail"
)

// Env is the whole environment of the processes the stand-in starts: nothing of the test's
// environment (KUBECONFIG, proxies, credentials) leaks into them.
var Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}

// Proc is a child process the stand-in started and stops by PID.
type Proc struct {
	Name string
	Log  string // where its output goes
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // Wait's result, valid after done
}

// Registry records every process a stand-in starts in a file ("pid starttime name" lines), so a later
// run can stop the processes of a stand-in whose owner died; the start time guards against reused PIDs.
type Registry struct {
	mu   sync.Mutex
	path string
}

// NewRegistry records in the file at path.
func NewRegistry(path string) *Registry { return &Registry{path: path} }

func (r *Registry) add(pid int, name string) error {
	st, err := startTime(pid)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("record pid of %s: %w", name, err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%d %d %s\n", pid, st, name); err != nil {
		return fmt.Errorf("record pid of %s: %w", name, err)
	}
	return nil
}

// KillRecorded SIGKILLs every process recorded in the registry file at path that still runs (same
// PID and start time).
func KillRecorded(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		st, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if cur, err := startTime(pid); err == nil && cur == st {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return nil
}

// startTime is field 22 of /proc/PID/stat: the process's start time in clock ticks since boot.
func startTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read start time of pid %d: %w", pid, err)
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')') // the command name may contain spaces and parentheses
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// Start starts argv with its output appended to logPath and records it in reg. The child gets SIGKILL
// when this process dies (Pdeathsig), so a crashed test leaves no daemons behind, and runs in its own
// process group so a terminal's Ctrl-C reaches only the owner, which then stops everything in order.
func Start(reg *Registry, name, logPath string, env []string, argv ...string) (*Proc, error) {
	return StartLines(reg, name, logPath, env, nil, argv...)
}

// StartLines is Start that also passes each line of output to onLine (when not nil).
func StartLines(reg *Registry, name, logPath string, env []string, onLine func(string), argv ...string) (*Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if onLine != nil {
		w := logtail.Lines(logf, onLine)
		cmd.Stdout, cmd.Stderr = w, w
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{}), Log: logPath}
	go func() {
		p.err = cmd.Wait() // also waits for the output to be copied
		logf.Close()
		close(p.done)
	}()
	if err := reg.add(cmd.Process.Pid, name); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// PID is the process's ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM, and SIGKILL when the process has not exited after grace; it returns once reaped.
func (p *Proc) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill sends SIGKILL and returns once the process is reaped.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// ExitError describes how the process ended, with the end of its log.
func (p *Proc) ExitError() error {
	data, _ := os.ReadFile(p.Log)
	return fmt.Errorf("%s exited (%v); end of %s:\n%s", p.Name, p.err, p.Log, logtail.Last(string(data), 25))
}

// ChildPID is the first child of pid (unshare's child: the init of the namespaces it made).
func ChildPID(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, fmt.Errorf("find the child of %d: %w", pid, err)
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, fmt.Errorf("find the child of %d: it has exited", pid)
	}
	return strconv.Atoi(f[0])
}
