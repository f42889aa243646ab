package hosts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Fake hosts share the machine's kernel, hence its cgroups: a host ready for Kubernetes puts its
// containers (dockerd's cgroup-parent) and pods (the kubelet's cgroup root) below a cgroup named after
// the host, in every hierarchy, so that kubelets of different hosts never see or clean up each other's
// pods. The host's teardown removes that tree once its processes are gone.

const cgroupRoot = "/sys/fs/cgroup"

// hostCgroup is the name of host k's cgroup, directly below the root of every hierarchy.
func hostCgroup(slot, k int) string { return netnsName(slot, k) }

// cgroupDirs lists the directories of the cgroups called name below the hierarchies' roots: one per
// hierarchy with cgroup v1, the unified one with v2.
func cgroupDirs(name string) []string {
	v1, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", name))
	v2, _ := filepath.Glob(filepath.Join(cgroupRoot, name))
	var dirs []string
	for _, d := range append(v1, v2...) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// slotCgroups lists the names of the hosts' cgroups of a slot that exist in any hierarchy.
func slotCgroups(slot int) []string {
	prefix := netnsPrefix(slot)
	v1, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", prefix+"*"))
	v2, _ := filepath.Glob(filepath.Join(cgroupRoot, prefix+"*"))
	var names []string
	for _, d := range append(v1, v2...) {
		if n, ok := slotOfName(filepath.Base(d)); ok && n == slot && !slices.Contains(names, filepath.Base(d)) {
			names = append(names, filepath.Base(d))
		}
	}
	sort.Strings(names)
	return names
}

// removeCgroups removes the cgroups called name, deepest first. The kernel refuses (EBUSY) while a
// killed process has not left its cgroup yet, which takes a moment after its PID namespace is gone;
// cgroup v1 has no event for a cgroup becoming empty, so removal is retried with a short backoff.
func removeCgroups(ctx context.Context, name string) error {
	var dirs []string
	for _, top := range cgroupDirs(name) {
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	if len(dirs) == 0 {
		return nil
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		var busy []string
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				busy = append(busy, fmt.Sprintf("%s: %v", d, err))
			}
		}
		if len(busy) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove cgroups %s: %s", name, strings.Join(busy, "; "))
		case <-time.After(delay):
		}
	}
}
