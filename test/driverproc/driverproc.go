// Package driverproc builds the driver binary and runs it the way Rancher does: in a rebuilt driver
// jail as the unprivileged jail user, one process per call started as `<binary> <port>` with
// Rancher's wait and retries, reached through kontainer-engine's own gRPC client and killed with
// SIGKILL when the call ends.
package driverproc

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// BinaryEnv names a driver binary to test instead of building one (e.g. a released file).
const BinaryEnv = "HARVESTERRKE_DRIVER_BINARY"

// Binary builds the driver once per test process (static, as released) and returns its path, or
// returns the binary named by $HARVESTERRKE_DRIVER_BINARY.
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(BinaryEnv); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "harvesterrke-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "kontainer-engine-driver-harvesterrke")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", binary, ".")
		cmd.Dir = moduleRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Process is a running driver.
type Process struct {
	Client types.CloseableDriver
	Addr   string
	cmd    *exec.Cmd
	done   chan error
	// Log holds what the process wrote to stderr (its log).
	log  *lockedBuffer
	once sync.Once
}

// StartProcess runs the binary directly (not in a jail) on a free port and waits until it answers
// GetCapabilities, for tests of the process itself (arguments, signals, start-up time); the
// caller must Stop it. Calls go through Rancher (Start) instead.
func StartProcess(bin string, extraEnv ...string) (*Process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &Process{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan error, 1), log: &lockedBuffer{}}
	p.cmd = exec.Command(bin, strconv.Itoa(port))
	// As in Rancher's jail: working directory / and a minimal PATH.
	p.cmd.Dir = "/"
	p.cmd.Env = append([]string{"PATH=/usr/bin", "HOME=" + os.TempDir()}, extraEnv...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start driver: %w", err)
	}
	go func() { _, _ = io.Copy(p.log, bufio.NewReader(stderr)) }()
	go func() { p.done <- p.cmd.Wait() }()
	if err := p.waitReady(15 * time.Second); err != nil {
		p.Kill()
		return nil, fmt.Errorf("%w; log:\n%s", err, p.Log())
	}
	return p, nil
}

// waitReady waits until the port accepts connections, then asks GetCapabilities, as Rancher
// does after starting a driver. Connecting first keeps gRPC's reconnect backoff (a second) out of
// the measured start-up.
func (p *Process) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case werr := <-p.done:
			p.done <- werr
			return fmt.Errorf("driver exited before listening: %v", werr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("driver did not listen within %s: %w", timeout, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	c, err := types.NewClient("harvesterrke", p.Addr)
	if err != nil {
		return err
	}
	p.Client = c
	ctx, cancel := context.WithTimeout(context.Background(), time.Until(deadline))
	defer cancel()
	if _, err := c.GetCapabilities(ctx); err != nil {
		return fmt.Errorf("GetCapabilities: %w", err)
	}
	return nil
}

// Stop asks the driver to stop (SIGTERM) and waits for it.
func (p *Process) Stop() error {
	var err error
	p.once.Do(func() {
		if p.Client != nil {
			p.Client.Close()
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			err = <-p.done
		}
	})
	return err
}

// Kill ends the driver abruptly, as when Rancher's pod dies mid-call.
func (p *Process) Kill() {
	p.once.Do(func() {
		if p.Client != nil {
			p.Client.Close()
		}
		_ = p.cmd.Process.Kill()
		<-p.done
	})
}

// Pid is the driver's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Log returns what the driver logged so far.
func (p *Process) Log() string { return p.log.String() }

// ExitCode is the exit code after Stop; -1 while running or when killed by a signal.
func (p *Process) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
