package diskcache

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
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

func TestRoot(t *testing.T) {
	t.Setenv("HARVESTERRKE_CACHE", "/somewhere/cache")
	if got, err := Root(); err != nil || got != "/somewhere/cache" {
		t.Errorf("with $HARVESTERRKE_CACHE: got %q, %v", got, err)
	}
	t.Setenv("HARVESTERRKE_CACHE", "")
	t.Setenv("HOME", "/home/someone")
	if got, err := Root(); err != nil || got != "/home/someone/.cache/harvesterrke" {
		t.Errorf("without $HARVESTERRKE_CACHE: got %q, %v", got, err)
	}
}

func TestDir(t *testing.T) {
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
			if _, err := Dir(context.Background(), dir, build); err != nil {
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
	if _, err := Dir(context.Background(), failed, func(context.Context, string) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the build's error", err)
	}
	if _, err := os.Stat(failed); !os.IsNotExist(err) {
		t.Errorf("failed build left %s: %v", failed, err)
	}
	if _, err := Dir(context.Background(), failed, build); err != nil {
		t.Errorf("build after a failure: %v", err)
	}
}

func TestLockCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks", "x.lock")
	held, err := Lock(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, ok, err := TryLock(path); err != nil || ok {
		t.Errorf("TryLock of a held lock: ok %v, %v; want not ok", ok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Lock(ctx, path); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock with a cancelled context: got %v, want context.Canceled", err)
	}
	held.Close()
	// The abandoned wait takes the lock once it is free and lets go of it at once.
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, ok, err := TryLock(path)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			f.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock is still held after the abandoned wait")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPruneSiblings(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dirs  []string // made under the root; keep is "set-new"
		busy  []string // locks another process holds
		files []string // plain files made under the root
		want  []string
	}{
		{
			name: "older build removed with its lock",
			dirs: []string{"set-new", "set-old"}, files: []string{"set-old.lock"},
			want: []string{"set-new"},
		},
		{
			name: "build in use kept",
			dirs: []string{"set-new", "set-busy"}, busy: []string{"set-busy.lock"},
			want: []string{"set-busy", "set-busy.lock", "set-new"},
		},
		{
			name: "stale leftover of an interrupted build removed",
			dirs: []string{"set-new", "set-half.tmp"},
			want: []string{"set-new"},
		},
		{
			name: "build in progress kept",
			dirs: []string{"set-new", "set-half.tmp"}, busy: []string{"set-half.lock"},
			want: []string{"set-half.lock", "set-half.tmp", "set-new"},
		},
		{
			name: "older build and its leftover removed together",
			dirs: []string{"set-new", "set-old", "set-old.tmp"},
			want: []string{"set-new"},
		},
		{
			name: "other parts and plain files kept",
			dirs: []string{"set-new", "base-1"}, files: []string{"set-notes", "set-new.lock"},
			want: []string{"base-1", "set-new", "set-new.lock", "set-notes"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range tc.dirs {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, b := range tc.busy {
				lock, err := os.OpenFile(filepath.Join(root, b), os.O_CREATE|os.O_RDWR, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				defer lock.Close()
				if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
					t.Fatal(err)
				}
			}
			if err := PruneSiblings(filepath.Join(root, "set-new"), "set-"); err != nil {
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
			if !slices.Equal(got, tc.want) {
				t.Errorf("left %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRemoveTreeUnmounts(t *testing.T) {
	testenv.NeedRoot(t, "mounts")
	dir := filepath.Join(t.TempDir(), "interrupted .tmp") // a space: mountinfo escapes it as \040
	target := filepath.Join(dir, "rootfs/proc")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	// What an interrupted debootstrap leaves: a kernel filesystem mounted in its target.
	if err := syscall.Mount("proc", target, "proc", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(target, syscall.MNT_DETACH) })
	if mounts, err := MountsUnder(dir); err != nil || !slices.Equal(mounts, []string{target}) {
		t.Fatalf("MountsUnder: got %v, %v; want [%s]", mounts, err, target)
	}
	if err := RemoveTree(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", dir, err)
	}
	if mounts, _ := MountsUnder(dir); len(mounts) > 0 {
		t.Errorf("still mounted: %v", mounts)
	}
	if err := RemoveTree(dir); err != nil {
		t.Errorf("removing a missing directory: %v", err)
	}
}

func TestUnescapeMountPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`/plain/path`, `/plain/path`},
		{`/a\040b\134c`, `/a b\c`},
		{`/tab\011here`, "/tab\there"},
		{`/not\9octal`, `/not\9octal`},
		{`/short\04`, `/short\04`},
	} {
		if got := unescapeMountPath(tc.in); got != tc.want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
