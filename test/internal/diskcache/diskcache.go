// Package diskcache is the machine-wide build cache of the test-support packages (the Harvester
// stand-in and RKE's images), under $HARVESTERRKE_CACHE or ~/.cache/harvesterrke and shared with
// hack/build-k8s.sh: directories built into a temporary sibling and renamed into place under a
// flock, pruning of older siblings, and removal that unmounts what is mounted below first. Test
// support only, never linked into the driver.
package diskcache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Root is the machine-wide cache directory: built binaries, generated CRDs, root filesystems and
// images, keyed by version, so only the first run on a machine pays for them.
func Root() (string, error) {
	if d := os.Getenv("HARVESTERRKE_CACHE"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: %w", err)
	}
	return filepath.Join(home, ".cache", "harvesterrke"), nil
}

// Lock takes an exclusive flock on path, waiting for other processes. The kernel releases it when
// the process dies, so a crashed holder never blocks later runs. Closing the file releases it.
func Lock(ctx context.Context, path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create lock directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	// flock cannot be interrupted by a context: wait in a goroutine and give up the wait on cancel.
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

// TryLock takes an exclusive flock on path without waiting; ok is false when another process holds it.
func TryLock(path string) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, true, nil
}

// Dir returns dir, building it first when absent. build fills a temporary sibling, dir+".tmp", that
// is renamed into place when complete, so an interrupted build never leaves a half-made dir; a lock
// on dir+".lock" makes parallel test processes wait for one build instead of racing.
func Dir(ctx context.Context, dir string, build func(ctx context.Context, tmp string) error) (string, error) {
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	lock, err := Lock(ctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if _, err := os.Stat(dir); err == nil {
		return dir, nil // another process built it while we waited
	}
	tmp := dir + ".tmp"
	if err := RemoveTree(tmp); err != nil {
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

// PruneSiblings removes the other directories next to keep whose name starts with prefix: older
// builds of the same thing, and the ".tmp" leftovers of interrupted ones. A build whose lock is
// held (another process is building or using it) is left alone.
func PruneSiblings(keep, prefix string) error {
	parent := filepath.Dir(keep)
	entries, err := os.ReadDir(parent)
	if err != nil {
		return fmt.Errorf("prune old builds: %w", err)
	}
	// A build and its leftover share one lock, name+".lock": group them by name.
	var names []string
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".tmp")
		if !e.IsDir() || !strings.HasPrefix(name, prefix) || name == filepath.Base(keep) || slices.Contains(names, name) {
			continue
		}
		names = append(names, name)
	}
	var errs []error
	for _, name := range names {
		old := filepath.Join(parent, name)
		lock, ok, err := TryLock(old + ".lock")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		if err := errors.Join(RemoveTree(old+".tmp"), RemoveTree(old)); err != nil {
			errs = append(errs, err)
		} else {
			os.Remove(old + ".lock")
		}
		lock.Close()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prune old builds: %w", err)
	}
	return nil
}
