package harvestersim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/logtail"
)

// proc is a child process the stand-in started and stops by PID.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // Wait's result, valid after done
	log  string        // where its output goes
}

// pidFile records every process a stand-in starts ("pid starttime name" lines), so a later run can stop
// the processes of a stand-in whose owner died; the start time guards against reused PIDs.
type pidFile struct {
	mu   sync.Mutex
	path string
}

func (r *pidFile) add(pid int, name string) error {
	st, err := procStartTime(pid)
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

// killRecorded SIGKILLs every recorded process that still runs (same PID and start time).
func killRecorded(path string) error {
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
		if cur, err := procStartTime(pid); err == nil && cur == st {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return nil
}

// procStartTime is field 22 of /proc/PID/stat: the process's start time in clock ticks since boot.
func procStartTime(pid int) (uint64, error) {
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

// startProc starts argv with its output appended to logPath. The child gets SIGKILL when this process
// dies (Pdeathsig), so a crashed test leaves no daemons behind, and runs in its own process group so a
// terminal's Ctrl-C reaches only the owner, which then stops everything in order.
func startProc(reg *pidFile, name, logPath string, env []string, argv ...string) (*proc, error) {
	return startProcLines(reg, name, logPath, env, nil, argv...)
}

// startProcLines is startProc that also passes each line of output to onLine (when not nil).
func startProcLines(reg *pidFile, name, logPath string, env []string, onLine func(string), argv ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if onLine != nil {
		w := &lineWriter{out: logf, onLine: onLine}
		cmd.Stdout, cmd.Stderr = w, w
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait() // also waits for the output to be copied
		logf.Close()
		close(p.done)
	}()
	if err := reg.add(cmd.Process.Pid, name); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// stop sends SIGTERM, and SIGKILL when the process has not exited after grace; it returns once reaped.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// exitError describes how the process ended, with the end of its log.
func (p *proc) exitError() error {
	data, _ := os.ReadFile(p.log)
	return fmt.Errorf("%s exited (%v); end of %s:\n%s", p.name, p.err, p.log, logtail.Last(string(data), 25))
}

// lineWriter copies output to a log and hands each complete line to onLine (exec.Cmd serialises writes
// when Stdout and Stderr are the same writer).
type lineWriter struct {
	out    io.Writer
	onLine func(string)
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.onLine(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return w.out.Write(p)
}

// childPID is the first child of pid (unshare's child: the namespaces' init).
func childPID(pid int) (int, error) {
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
