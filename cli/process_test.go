package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

// childCommand runs the test binary as the driver binary (see TestMain) with h's environment.
func (h *harness) childCommand(extraEnv []string, args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	for k, v := range h.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, extraEnv...)
	return cmd
}

// waitForPhase waits until the stored state of cluster name has every node at phase.
func (h *harness) waitForPhase(name string, phase provision.Phase) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := (store{dir: h.home}).get(name); err == nil {
			if nodes := nodesOf(r.info()); len(nodes) > 0 && nodes[0].Phase == phase {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("cluster %s never reached %s", name, phase)
}

// A create killed at any point, or stopped with Ctrl-C, is resumed by create with the same name.
func TestInterruptedCreateResumes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		signal     syscall.Signal
		exit       int
		status     string
		lastError  string
		stderrWant string
	}{
		{"killed", syscall.SIGKILL, -1, statusCreating, "", ""},
		{"ctrl-c", syscall.SIGINT, exitInterrupted, statusError, "context canceled", "interrupted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			cmd := h.childCommand([]string{"FAKE_BLOCK_AT=kubernetes"}, "create", "demo")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			h.waitForPhase("demo", provision.PhaseDocker)
			cmd.Process.Signal(tc.signal)
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tc.exit || !strings.Contains(stderr.String(), tc.stderrWant) {
				t.Fatalf("exit %v, want %d with %q in:\n%s", err, tc.exit, tc.stderrWant, stderr.String())
			}
			v := h.inspect("demo")
			if v.Status != tc.status || !strings.Contains(v.LastError, tc.lastError) || len(v.Nodes) != 3 {
				t.Fatalf("after the interrupted create: %+v", v)
			}

			h.ok("create", "demo")
			if st := h.fake.started[0]; len(st.Nodes) != 3 || st.Nodes[2].Phase != provision.PhaseDocker || len(st.HostKeySeed) == 0 {
				t.Errorf("the resumed create started from %+v, want the 3 nodes at docker and the keys", st.Nodes)
			}
			if v := h.inspect("demo"); v.Status != statusRunning {
				t.Errorf("after resuming: %+v", v)
			}
		})
	}
}

// With --via-grpc the driver runs as a child process reached through kontainer-engine's client.
func TestViaGRPC(t *testing.T) {
	t.Setenv(childEnv, "1")
	h := newHarness(t)
	code, _, errOut := h.run("create", "demo", "--via-grpc")
	if code != 0 || !strings.Contains(errOut, "[harvesterrke] creating cluster demo with 3 nodes") {
		t.Fatalf("create --via-grpc: exit %d, the child's log not forwarded?\n%s", code, errOut)
	}
	if v := h.inspect("demo"); v.Status != statusRunning || len(v.Nodes) != 3 || v.Nodes[0].Phase != "kubernetes" || v.Version != "v1.32.7" {
		t.Fatalf("after create --via-grpc: %+v", v)
	}
	h.ok("update", "demo", "--via-grpc", "--worker-count", "2")
	if n := len(h.inspect("demo").Nodes); n != 4 {
		t.Errorf("after update --via-grpc: %d nodes", n)
	}
	if got := h.ok("get-cluster-size", "demo", "--via-grpc"); got != "4\n" {
		t.Errorf("get-cluster-size --via-grpc = %q", got)
	}
	h.ok("rm", "demo", "--via-grpc")

	// A failed create returns its partial ClusterInfo over gRPC as to Rancher: it is kept.
	t.Setenv("FAKE_FAIL_AT", "kubernetes")
	code, _, errOut = h.run("create", "demo", "--via-grpc")
	if code != 1 || !strings.Contains(errOut, "failed to pull image") {
		t.Fatalf("failing create --via-grpc: exit %d\n%s", code, errOut)
	}
	if v := h.inspect("demo"); v.Status != statusError || len(v.Nodes) != 3 || v.Nodes[0].Phase != "docker" {
		t.Errorf("after the failed create --via-grpc: %+v", v)
	}
}
