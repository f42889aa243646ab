package rkeimages

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/logtail"
)

// kubeVersion is the Kubernetes release served under RKE's v1.32.7 tag: 1.32 cannot be built from
// the module proxy (some of its staging modules are missing there).
const kubeVersion = "1.34.4"

// kubeBinaries are the binaries of the hyperkube image, built by hack/build-k8s.sh.
var kubeBinaries = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}

// ensureKubeBinaries returns the directory of the Kubernetes binaries in the cache, running
// hack/build-k8s.sh (from the module this code belongs to) for the missing ones (~15 min).
func ensureKubeBinaries(ctx context.Context, cache string, logf func(string, ...any)) (string, error) {
	dir := filepath.Join(cache, "k8s", "v"+kubeVersion)
	var missing []string
	for _, b := range kubeBinaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return dir, nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	logf("rkeimages: building Kubernetes v%s %s with hack/build-k8s.sh (first use on this machine, ~15 min)", kubeVersion, strings.Join(missing, " "))
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "build-k8s.sh"), kubeBinaries...)
	cmd.Env = append(os.Environ(), "K8S_VERSION="+kubeVersion, "HARVESTERRKE_CACHE="+cache)
	// Its progress (which binary, how many packages compiled) goes to logf too; its standard
	// output names dir.
	cmd.Stderr = logtail.Lines(&out, func(l string) { logf("rkeimages: %s", l) })
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build Kubernetes v%s: %w\n%s", kubeVersion, err, logtail.Last(out.String(), 30))
	}
	return dir, nil
}

// moduleRoot is the root of the driver's module, which holds hack/build-k8s.sh: tests run in their
// package's directory, commands anywhere in the module.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("find hack/build-k8s.sh: run inside the driver's module (go env GOMOD: %q, %v)", gomod, err)
	}
	return filepath.Dir(gomod), nil
}
