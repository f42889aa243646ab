// Package slot gives each running stand-in a number of its own on the machine and sweeps what dead
// stand-ins left. A slot is an exclusive flock that the kernel drops when its owner dies; its number
// names everything the stand-in makes on the machine (work directory, network namespaces, veths,
// cgroups, firewall rules) and picks its hosts' subnet, so stand-ins in parallel test processes never
// collide, and a free slot with leftovers is known to belong to a dead owner.
package slot

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hosts"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/internal/proc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
)

// Slot is a slot held by this process.
type Slot struct {
	N        int
	Dir      string         // the stand-in's work directory
	Registry *proc.Registry // records the processes the stand-in starts, for a later sweep
	lock     *os.File
}

// registryFile is the Registry's file in the work directory.
const registryFile = "pids"

// RunDir is where stand-ins keep their locks and work directories: on disk (not tmpfs), since fake
// hosts keep /var/lib/docker there and dockerd's overlay2 needs a real filesystem.
func RunDir() string {
	if d := os.Getenv("HARVESTERSIM_RUN_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "harvestersim-"+strconv.Itoa(os.Getuid()))
}

func lockPath(base string, n int) string {
	return filepath.Join(base, "locks", "slot-"+strconv.Itoa(n)+".lock")
}

func workDir(base string, n int) string { return filepath.Join(base, "sims", strconv.Itoa(n)) }

// Acquire sweeps the leftovers of dead stand-ins below base (RunDir), then takes the first free slot
// with an empty work directory. Without root, it sweeps only processes and files.
func Acquire(base string, root bool, logf func(string, ...any)) (*Slot, error) {
	if err := os.MkdirAll(filepath.Join(base, "locks"), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", base, err)
	}
	sweepDead(base, root, logf)
	for n := 0; n < hosts.MaxSlots; n++ {
		lock, ok, err := diskcache.TryLock(lockPath(base, n))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		dir := workDir(base, n)
		s := &Slot{N: n, Dir: dir, Registry: proc.NewRegistry(filepath.Join(dir, registryFile)), lock: lock}
		// Leftovers may have appeared since the sweep (an owner that died just now).
		if err := sweepSlot(base, n, root); err != nil {
			lock.Close()
			return nil, fmt.Errorf("sweep leftovers of slot %d: %w", n, err)
		}
		if err := os.MkdirAll(s.Dir, 0o755); err != nil {
			lock.Close()
			return nil, fmt.Errorf("create work directory: %w", err)
		}
		owner := fmt.Sprintf("pid %d (%s) since %s\n", os.Getpid(), os.Args[0], time.Now().Format(time.RFC3339))
		if err := os.WriteFile(filepath.Join(s.Dir, "owner"), []byte(owner), 0o644); err != nil {
			lock.Close()
			return nil, fmt.Errorf("write owner: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("all %d harvestersim slots in %s are in use", hosts.MaxSlots, base)
}

// Release gives the slot up; its work directory must be removed first.
func (s *Slot) Release() { s.lock.Close() }
