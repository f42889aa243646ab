package harvestersim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// cacheDir is the machine-wide cache shared with hack/build-k8s.sh: built binaries, generated CRDs and
// root filesystems, keyed by version, so only the first run on a machine pays for them.
func cacheDir() (string, error) {
	if d := os.Getenv("HARVESTERRKE_CACHE"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: %w", err)
	}
	return filepath.Join(home, ".cache", "harvesterrke"), nil
}

// lockFile takes an exclusive flock on path, waiting for other processes. The kernel releases it when
// the process dies, so a crashed holder never blocks later runs.
func lockFile(ctx context.Context, path string) (*os.File, error) {
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

// tryLockFile takes an exclusive flock on path without waiting; ok is false when another process holds it.
func tryLockFile(path string) (f *os.File, ok bool, err error) {
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

// cached returns dir, building it first when absent. build fills a temporary sibling directory that is
// renamed into place when complete, so an interrupted build never leaves a half-made dir; a file lock
// makes parallel test processes wait for one build instead of racing.
func cached(ctx context.Context, dir string, build func(ctx context.Context, tmp string) error) (string, error) {
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	lock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if _, err := os.Stat(dir); err == nil {
		return dir, nil // another process built it while we waited
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
