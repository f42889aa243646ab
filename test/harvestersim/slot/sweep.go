package slot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hosts"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/internal/proc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
)

// sweepDead removes what stand-ins whose owner process died (crash, SIGKILL, test timeout) left on the
// machine. A slot whose lock can be taken has no living owner, so its leftovers are safe to remove.
func sweepDead(base string, root bool, logf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	slots := map[int]bool{}
	if entries, err := os.ReadDir(filepath.Join(base, "sims")); err == nil {
		for _, e := range entries {
			if n, err := strconv.Atoi(e.Name()); err == nil {
				slots[n] = true
			}
		}
	}
	if root {
		for _, n := range hosts.SlotsOnMachine(ctx) {
			slots[n] = true
		}
	}
	for n := range slots {
		lock, ok, err := diskcache.TryLock(lockPath(base, n))
		if err != nil || !ok {
			continue // a living stand-in owns it
		}
		if err := sweepSlot(base, n, root); err != nil {
			logf("harvestersim: sweeping leftovers of slot %d: %v", n, err)
		} else {
			logf("harvestersim: swept leftovers of a dead stand-in (slot %d)", n)
		}
		lock.Close()
	}
}

// sweepSlot removes everything of slot n: its processes, what its hosts made on the machine and its
// work directory. The caller holds the slot's lock.
func sweepSlot(base string, n int, root bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := workDir(base, n)
	errs := []error{proc.KillRecorded(filepath.Join(dir, registryFile))}
	if root {
		errs = append(errs, hosts.SweepSlot(ctx, n))
	}
	errs = append(errs, diskcache.RemoveTree(dir))
	return errors.Join(errs...)
}

// Sweep removes what stand-ins whose owner process died left on this machine (processes, network
// namespaces, veths, cgroups, firewall rules, mounts, files); running stand-ins are not touched.
// Acquire sweeps by itself; the harvestersim command offers it for by-hand cleanup.
func Sweep(logf func(string, ...any)) {
	sweepDead(RunDir(), os.Geteuid() == 0, logf)
}
