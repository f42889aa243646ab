package rkeimages

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

func TestCachedDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "part-1")
	var builds atomic.Int32
	build := func(_ context.Context, tmp string) error {
		builds.Add(1)
		return os.WriteFile(filepath.Join(tmp, "out"), []byte("x"), 0o644)
	}
	// Parallel callers wait for one build.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cachedDir(context.Background(), dir, build); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Errorf("built %d times, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err != nil {
		t.Errorf("built directory: %v", err)
	}

	// A failed build leaves nothing under the final name, and the next call builds again.
	failed := filepath.Join(t.TempDir(), "part-2")
	boom := errors.New("boom")
	if _, err := cachedDir(context.Background(), failed, func(context.Context, string) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the build's error", err)
	}
	if _, err := os.Stat(failed); !os.IsNotExist(err) {
		t.Errorf("failed build left %s: %v", failed, err)
	}
	if _, err := cachedDir(context.Background(), failed, build); err != nil {
		t.Errorf("build after a failure: %v", err)
	}
}

func TestPruneSiblings(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"set-new", "set-old", "set-busy", "set-half.tmp", "base-1"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	busy, err := os.OpenFile(filepath.Join(root, "set-busy.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := syscall.Flock(int(busy.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := pruneSiblings(filepath.Join(root, "set-new"), "set-"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	want := []string{"base-1", "set-busy", "set-busy.lock", "set-half.tmp", "set-new"}
	if !slices.Equal(got, want) {
		t.Errorf("left %v, want %v (the old set gone; the one being built, in-progress builds and other parts kept)", got, want)
	}
}

func TestRemoveTreeUnmounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	dir := filepath.Join(t.TempDir(), "interrupted.tmp")
	target := filepath.Join(dir, "rootfs/proc")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	// What an interrupted debootstrap leaves: a kernel filesystem mounted in its target.
	if err := syscall.Mount("proc", target, "proc", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(target, syscall.MNT_DETACH) })
	if err := removeTree(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", dir, err)
	}
	if mounts, _ := mountsUnder(dir); len(mounts) > 0 {
		t.Errorf("still mounted: %v", mounts)
	}
}
