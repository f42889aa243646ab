package harvestersim

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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
		var names []string
		if ns, err := netnsNames(ctx); err == nil {
			names = append(names, ns...)
		}
		if links, err := linkNames("hsim"); err == nil {
			names = append(names, links...)
		}
		for _, c := range append(globAll(filepath.Join(cgroupRoot, "*", "hsim*")), globAll(filepath.Join(cgroupRoot, "hsim*"))...) {
			names = append(names, filepath.Base(c))
		}
		for _, name := range names {
			if n, ok := slotOfName(name); ok {
				slots[n] = true
			}
		}
		if ns, err := firewallSlots(ctx); err == nil {
			for _, n := range ns {
				slots[n] = true
			}
		}
	}
	for n := range slots {
		lock, ok, err := diskcache.TryLock(slotLockPath(base, n))
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

// sweepSlot removes everything of slot n; the caller holds the slot's lock.
func sweepSlot(base string, n int, root bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := slotDir(base, n)
	var errs []error
	errs = append(errs, killRecorded(filepath.Join(dir, "pids")))
	if root {
		// The switch's namespace goes with the others; its uplink is deleted first so that the
		// machine's end of it cannot outlive the namespace.
		if linkExists(uplinkName(n)) {
			errs = append(errs, run(ctx, "ip", "link", "del", uplinkName(n)))
		}
		if names, err := netnsNames(ctx); err != nil {
			errs = append(errs, err)
		} else {
			for _, name := range names {
				if strings.HasPrefix(name, netnsPrefix(n)) {
					errs = append(errs, run(ctx, "ip", "netns", "del", name))
				}
			}
		}
		for _, c := range slotCgroups(n) {
			errs = append(errs, removeCgroups(ctx, c))
		}
		errs = append(errs, removeFirewall(ctx, n))
	}
	errs = append(errs, diskcache.RemoveTree(dir))
	return errors.Join(errs...)
}

// Sweep removes what stand-ins whose owner process died left on this machine (processes, network
// namespaces, veths, cgroups, firewall rules, mounts, files); running stand-ins are not touched. Start and New
// sweep by themselves; the harvestersim command offers it for by-hand cleanup.
func Sweep(logf func(string, ...any)) {
	sweepDead(runDir(), os.Geteuid() == 0, logf)
}

// globAll is filepath.Glob of a pattern known to be valid.
func globAll(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	return m
}
