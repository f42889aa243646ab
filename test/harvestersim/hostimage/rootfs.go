// Package hostimage builds and caches what the stand-in's fake hosts boot from: Debian root
// filesystems made with debootstrap (with or without Docker), and for hosts that run Kubernetes the
// Docker storage with RKE's images loaded and the CNI plugins of their pod network.
package hostimage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/debian"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
)

// Rootfs is the image a fake host boots: a debootstrap'ed Debian, cached on disk per variant.
type Rootfs string

const (
	// Docker has Debian's docker.io installed but not running, like a cloud image with Docker
	// preinstalled: the driver's bootstrap must start dockerd.
	Docker Rootfs = "bookworm-docker"
	// Plain has no Docker, for the driver's "install Docker from distro packages" path.
	Plain Rootfs = "bookworm"
)

// rootfsPackages is what a small Debian cloud image has that the fake hosts need.
var rootfsPackages = []string{
	"openssh-server", "iproute2", "procps", "ca-certificates", "curl", "sudo", "gnupg", "lsb-release",
	"iptables", "less",
}

// Validate reports an unknown variant.
func (r Rootfs) Validate() error {
	_, err := r.packages()
	return err
}

func (r Rootfs) packages() ([]string, error) {
	switch r {
	case Plain:
		return rootfsPackages, nil
	case Docker:
		return append(append([]string{}, rootfsPackages...), "docker.io"), nil
	}
	return nil, fmt.Errorf("unknown rootfs variant %q (want %q or %q)", r, Docker, Plain)
}

// Ensure returns the directory of the variant's root filesystem, building it on first use (~1 min).
func Ensure(ctx context.Context, r Rootfs, mirror string, logf func(string, ...any)) (string, error) {
	pkgs, err := r.packages()
	if err != nil {
		return "", err
	}
	cache, err := diskcache.Root()
	if err != nil {
		return "", err
	}
	return diskcache.Dir(ctx, filepath.Join(cache, "rootfs", string(r)), func(ctx context.Context, tmp string) error {
		logf("harvestersim: building root filesystem %s with debootstrap (first use on this machine, ~1-2 min)", r)
		return debootstrap(ctx, tmp, pkgs, mirror)
	})
}

func debootstrap(ctx context.Context, dir string, pkgs []string, mirror string) error {
	if err := debian.Bootstrap(ctx, dir, mirror, pkgs); err != nil {
		return fmt.Errorf("build the fake hosts' root filesystem: %w", err)
	}
	// There is no init system in a fake host: keep package scripts from starting services, and leave
	// host keys, the machine's resolver and hostname to each boot, as a cloud image does.
	steps := []struct {
		path string
		data string
		mode os.FileMode
	}{
		{"usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755},
		{"etc/resolv.conf", "", 0o644},
		{"etc/hostname", "", 0o644},
	}
	for _, s := range steps {
		p := filepath.Join(dir, s.path)
		if err := os.WriteFile(p, []byte(s.data), s.mode); err != nil {
			return fmt.Errorf("prepare root filesystem: %w", err)
		}
		if err := os.Chmod(p, s.mode); err != nil {
			return fmt.Errorf("prepare root filesystem: %w", err)
		}
	}
	keys, err := filepath.Glob(filepath.Join(dir, "etc/ssh/ssh_host_*"))
	if err != nil {
		return fmt.Errorf("prepare root filesystem: %w", err)
	}
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return fmt.Errorf("prepare root filesystem: %w", err)
		}
	}
	return nil
}
