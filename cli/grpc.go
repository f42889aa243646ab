package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/driver"
)

const (
	// childStartTimeout bounds how long the child may take to listen.
	childStartTimeout = 15 * time.Second
	// childStopTimeout is how long the child gets to stop after SIGTERM (its gRPC server lets
	// calls finish for up to 10 s).
	childStopTimeout = 15 * time.Second
)

var (
	listeningLine = regexp.MustCompile(`listening on (\S+)$`)
	// logrusLine is a line of logrus' text format, which the child's driver logs in: RKE's default
	// logger when kontainer-engine passes none on the context.
	logrusLine = regexp.MustCompile(`level=(\w+) msg=("(?:[^"\\]|\\.)*"|\S*)`)
)

// child is this binary started as Rancher starts a driver (`<binary> <port>`), reached through
// kontainer-engine's gRPC client. Its log (stderr) is forwarded to the command's progress.
type child struct {
	types.CloseableDriver
	cmd    *exec.Cmd
	exited chan error
	logged chan struct{}
}

// startChild starts the child on port 0 (the kernel picks a free port; the child logs which) and
// connects to it.
func startChild(ctx context.Context, exe string, p *progress) (*child, error) {
	cmd := exec.Command(exe, "0")
	cmd.Env = os.Environ()
	// Its own process group: Ctrl-C reaches only this process, which cancels the call and then stops
	// the child as Rancher would.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start driver process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start driver process %s: %w", exe, err)
	}
	c := &child{cmd: cmd, exited: make(chan error, 1), logged: make(chan struct{})}
	addr := make(chan string, 1)
	var early strings.Builder // what the child said before listening, for the error
	go func() {
		defer close(c.logged)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		listening := false
		for sc.Scan() {
			line := sc.Text()
			if !listening {
				if m := listeningLine.FindStringSubmatch(line); m != nil {
					listening = true
					addr <- m[1]
					continue
				}
				early.WriteString(line + "\n")
			}
			forwardLine(p, line)
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { c.exited <- cmd.Wait() }()

	timer := time.NewTimer(childStartTimeout)
	defer timer.Stop()
	select {
	case a := <-addr:
		client, err := types.NewClient(driver.Name, a)
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("connect to driver process at %s: %w", a, err)
		}
		c.CloseableDriver = client
		return c, nil
	case err := <-c.exited:
		<-c.logged
		return nil, fmt.Errorf("driver process exited before listening (%v): %s", err, strings.TrimSpace(early.String()))
	case <-timer.C:
		c.stop()
		return nil, fmt.Errorf("driver process did not listen within %s", childStartTimeout)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
}

// stop closes the connection and stops the child as Rancher does: SIGTERM, then SIGKILL.
func (c *child) stop() error {
	if c.CloseableDriver != nil {
		c.CloseableDriver.Close()
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-c.exited:
	case <-time.After(childStopTimeout):
		_ = c.cmd.Process.Kill()
		err = <-c.exited
	}
	<-c.logged
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("driver process: %w", err)
	}
	return err
}

// forwardLine passes one line of the child's log to progress at its level.
func forwardLine(p *progress, line string) {
	m := logrusLine.FindStringSubmatch(line)
	if m == nil {
		p.Infof("%s", line)
		return
	}
	msg := m[2]
	if s, err := strconv.Unquote(msg); err == nil {
		msg = s
	}
	switch m[1] {
	case "debug", "trace":
		p.Debugf("%s", msg)
	case "info":
		p.Infof("%s", msg)
	default:
		p.Warnf("%s", msg)
	}
}
