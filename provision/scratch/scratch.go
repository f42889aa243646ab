// Package scratch makes a private working directory for one call of the driver, in a place it can
// write also inside Rancher's driver jail, and removes what calls that were killed left behind.
//
// In the jail the driver runs as an unprivileged user with no HOME and no TMPDIR, /tmp belongs to
// root, and only the jail's root directory (the working directory) is writable. So the base is the
// first of $TMPDIR, the system's temporary directory and the working directory where the user may
// make a private directory. Each call holds an exclusive lock on its own directory while it lives;
// Rancher ends every call with SIGKILL, and the kernel drops the lock with the process, so a later
// call knows an unlocked directory is a leftover and removes it.
package scratch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const (
	lockSuffix = ".lock"
	rootLock   = ".lock" // serialises the sweep with the making of a call's directory
)

// Dir is one call's private directory (mode 0700).
type Dir struct {
	Path string
	lock *os.File
}

// New makes a private directory for the calling process. Its name starts with prefix.
func New(prefix string) (*Dir, error) {
	var problems []error
	for _, base := range bases() {
		root := filepath.Join(base, "harvesterrke-"+strconv.Itoa(os.Getuid()))
		d, err := newIn(root, prefix)
		if err == nil {
			return d, nil
		}
		problems = append(problems, err)
	}
	return nil, fmt.Errorf("no writable place for a working directory: %w", errors.Join(problems...))
}

// bases are the candidate places, in order of preference.
func bases() []string {
	var out []string
	if t := os.Getenv("TMPDIR"); t != "" {
		out = append(out, t)
	}
	out = append(out, "/tmp")
	if wd, err := os.Getwd(); err == nil {
		out = append(out, wd)
	}
	return out
}

func newIn(root, prefix string) (*Dir, error) {
	if err := privateDir(root); err != nil {
		return nil, err
	}
	guard, err := lockFile(filepath.Join(root, rootLock), true)
	if err != nil {
		return nil, err
	}
	defer guard.Close()
	sweep(root)
	lock, err := os.CreateTemp(root, prefix+"*"+lockSuffix)
	if err != nil {
		return nil, fmt.Errorf("create lock in %s: %w", root, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		os.Remove(lock.Name())
		return nil, fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	path := strings.TrimSuffix(lock.Name(), lockSuffix)
	if err := os.Mkdir(path, 0o700); err != nil {
		lock.Close()
		os.Remove(lock.Name())
		return nil, fmt.Errorf("create working directory: %w", err)
	}
	return &Dir{Path: path, lock: lock}, nil
}

// privateDir makes root (0700) or checks that an existing one is the user's own and private:
// in a shared /tmp, somebody else's directory of that name could be a trap.
func privateDir(root string) error {
	if err := os.Mkdir(root, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s: %w", root, err)
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return fmt.Errorf("check %s: %w", root, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is not a private directory of this user", root)
	}
	return nil
}

// lockFile opens path and locks it exclusively, waiting for the lock when wait is set.
func lockFile(path string, wait bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// sweep removes the directories of calls that are gone: those whose lock nobody holds.
func sweep(root string) {
	locks, _ := filepath.Glob(filepath.Join(root, "*"+lockSuffix))
	for _, l := range locks {
		if filepath.Base(l) == rootLock {
			continue
		}
		f, err := lockFile(l, false)
		if err != nil {
			continue // a live call holds it
		}
		os.RemoveAll(strings.TrimSuffix(l, lockSuffix))
		os.Remove(l)
		f.Close()
	}
}

// Remove deletes the directory and everything in it, then lets go of its lock.
func (d *Dir) Remove() error {
	err := os.RemoveAll(d.Path)
	os.Remove(d.lock.Name())
	d.lock.Close()
	if err != nil {
		return fmt.Errorf("remove working directory: %w", err)
	}
	return nil
}
