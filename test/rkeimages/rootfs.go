package rkeimages

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/debian"
)

// debianPackages is what the Debian-based images need beyond debootstrap's minbase; the hyperkube
// and rke-tools images share this one base layer, so a node stores it once.
var debianPackages = []string{
	// kubelet and kube-proxy: rules, connection tracking, kernel modules; kubelet's CRI runtime
	"iptables", "conntrack", "kmod", "containerd", "runc",
	// rke-tools: the TCP proxy of worker-only nodes
	"nginx", "libnginx-mod-stream",
}

// prunedPaths are emptied in the base: documentation, translations and package caches.
var prunedPaths = []string{
	"usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
	"var/cache/apt", "var/lib/apt/lists", "var/cache/debconf",
}

// unusedFiles are removed from the base: containerd's legacy shims (the kubelet's containerd uses
// io.containerd.runc.v2) and what each container gets from Docker (a machine ID baked into an
// image would be shared by all its containers).
var unusedFiles = []string{
	"usr/bin/containerd-shim", "usr/bin/containerd-shim-runc-v1", "etc/machine-id",
}

// buildBase makes the base root filesystem in dir: Debian bookworm with debianPackages, trimmed,
// with bash as /bin/sh (RKE's commands use `echo -e` and other bashisms through sh -c).
func buildBase(ctx context.Context, dir, mirror string) error {
	if err := debian.Bootstrap(ctx, dir, mirror, debianPackages); err != nil {
		return fmt.Errorf("build the image base: %w", err)
	}
	for _, p := range prunedPaths {
		if err := emptyDir(filepath.Join(dir, p)); err != nil {
			return fmt.Errorf("trim the image base: %w", err)
		}
	}
	// Log files of the package installation go; their directories stay (nginx opens its default
	// error log before reading its configuration).
	if err := filepath.WalkDir(filepath.Join(dir, "var/log"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return os.Remove(p)
	}); err != nil {
		return fmt.Errorf("trim the image base: %w", err)
	}
	for _, f := range unusedFiles {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("trim the image base: %w", err)
		}
	}
	// debootstrap copies these from the machine; Docker mounts its own into every container.
	for _, f := range []string{"etc/hostname", "etc/resolv.conf", "etc/hosts"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			return fmt.Errorf("prepare the image base: %w", err)
		}
	}
	sh := filepath.Join(dir, "bin/sh")
	if err := os.Remove(sh); err != nil {
		return fmt.Errorf("prepare the image base: %w", err)
	}
	if err := os.Symlink("bash", sh); err != nil {
		return fmt.Errorf("prepare the image base: %w", err)
	}
	return nil
}

// emptyDir removes what is inside dir, keeping dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
