package harvestersim

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

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/logtail"
)

// kubeBinaries returns the directory with kube-apiserver and kube-controller-manager: dir when given,
// else what hack/build-k8s.sh builds and caches (a no-op when cached, minutes on a cold machine).
func kubeBinaries(ctx context.Context, dir string, logf func(string, ...any)) (string, error) {
	if dir != "" {
		return dir, nil
	}
	script, err := findUp(filepath.Join("hack", "build-k8s.sh"))
	if err != nil {
		return "", fmt.Errorf("find the Kubernetes binaries: %w (or set Options.KubeBinDir)", err)
	}
	cache, err := diskcache.Root()
	if err != nil {
		return "", err
	}
	// The script is not safe to run twice at once; parallel test processes take turns.
	lock, err := diskcache.Lock(ctx, filepath.Join(cache, "k8s", "build.lock"))
	if err != nil {
		return "", err
	}
	defer lock.Close()
	start := time.Now()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Its go builds must not outlive a cancelled start: run it as a process group and kill the group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build Kubernetes binaries with %s: %w\n%s", script, err, logtail.Last(string(stderr.Bytes()), 30))
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
