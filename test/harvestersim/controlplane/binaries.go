package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/logtail"
)

// Binaries returns the directory with kube-apiserver and kube-controller-manager: dir when given,
// else what hack/build-k8s.sh builds and caches (a no-op when cached, minutes on a cold machine).
func Binaries(ctx context.Context, dir string, logf func(string, ...any)) (string, error) {
	if dir != "" {
		return dir, nil
	}
	script, err := findUp(filepath.Join("hack", "build-k8s.sh"))
	if err != nil {
		return "", fmt.Errorf("find the Kubernetes binaries: %w (or give the directory, harvestersim.Options.KubeBinDir)", err)
	}
	start := time.Now()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script)
	// Its progress (which binary, how many packages compiled) goes to logf too; the script takes
	// turns with parallel callers itself.
	cmd.Stdout = &stdout
	cmd.Stderr = logtail.Lines(&stderr, func(l string) { logf("harvestersim: %s", l) })
	// Its go builds must not outlive a cancelled start: run it as a process group and kill the group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build Kubernetes binaries with %s: %w\n%s", script, err, logtail.Last(stderr.String(), 30))
	}
	if d := time.Since(start); d > 5*time.Second {
		logf("harvestersim: %s built the Kubernetes binaries in %s", script, d.Round(time.Second))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return lines[len(lines)-1], nil
}

// findUp looks for rel in the working directory and its parents (tests run in their package's
// directory, the command usually at the repository root).
func findUp(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New(rel + " not found above the working directory")
		}
		dir = parent
	}
}
