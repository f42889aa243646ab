package rkeimages

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// cacheRoot is the machine-wide cache shared with hack/build-k8s.sh and the Harvester stand-in.
func cacheRoot(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if d := os.Getenv("HARVESTERRKE_CACHE"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: %w", err)
	}
	return filepath.Join(home, ".cache", "harvesterrke"), nil
}

// lockFile takes an exclusive flock on path, waiting for other processes; the kernel releases it
// when the process dies, so a crashed build never blocks the next one.
func lockFile(ctx context.Context, path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create lock directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	// flock cannot be interrupted by a context: wait in a goroutine and give up on cancel.
	got := make(chan error, 1)
	go func() { got <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-got:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return f, nil
	case <-ctx.Done():
		go func() { <-got; f.Close() }()
		return nil, fmt.Errorf("wait for lock %s: %w", path, ctx.Err())
	}
}

// cachedDir returns dir, building it first when absent: build fills a temporary sibling that is
// renamed into place when complete, under a lock, so parallel test processes wait for one build
// and an interrupted build never leaves a half-made directory.
func cachedDir(ctx context.Context, dir string, build func(ctx context.Context, tmp string) error) (string, error) {
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	lock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if _, err := os.Stat(dir); err == nil {
		return dir, nil // built by another process while we waited
	}
	tmp := dir + ".tmp"
	if err := removeTree(tmp); err != nil {
		return "", fmt.Errorf("remove an interrupted build: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", tmp, err)
	}
	if err := build(ctx, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("move %s into place: %w", dir, err)
	}
	return dir, nil
}

// pruneSiblings removes the other cached directories named prefix+"*" next to keep: older builds
// of the same thing. One another process is building (its lock is held) is left alone.
func pruneSiblings(keep, prefix string) error {
	parent := filepath.Dir(keep)
	entries, err := os.ReadDir(parent)
	if err != nil {
		return fmt.Errorf("prune old builds: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, prefix) || name == filepath.Base(keep) || strings.HasSuffix(name, ".tmp") {
			continue
		}
		old := filepath.Join(parent, name)
		lock, err := os.OpenFile(old+".lock", os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if err := os.RemoveAll(old); err != nil {
				errs = append(errs, err)
			} else {
				os.Remove(old + ".lock")
			}
		}
		lock.Close()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prune old builds: %w", err)
	}
	return nil
}

// removeTree deletes dir after unmounting what is mounted below it: an interrupted debootstrap
// leaves /proc and /sys mounted in its target, and a recursive delete must not walk into them.
func removeTree(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			return fmt.Errorf("unmount %s: %w", m, err)
		}
	}
	if mounts, err := mountsUnder(dir); err != nil || len(mounts) > 0 {
		return fmt.Errorf("remove %s: still mounted below it: %v %w", dir, mounts, err)
	}
	return os.RemoveAll(dir)
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		// Mount points escape spaces and the like as octal (\040); cache paths have none.
		if mp := fields[4]; mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}
