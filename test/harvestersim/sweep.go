package harvestersim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
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
		if names, err := netnsNames(ctx); err == nil {
			for _, name := range names {
				var n, k int
				if _, err := fmt.Sscanf(name, "hsim%d-%d", &n, &k); err == nil {
					slots[n] = true
				}
			}
		}
		if names, err := linkNames("hsim"); err == nil {
			for _, name := range names {
				var n, k int
				if _, err := fmt.Sscanf(name, "hsim%dh%d", &n, &k); err == nil {
					slots[n] = true
				}
			}
		}
		if ns, err := firewallSlots(ctx); err == nil {
			for _, n := range ns {
				slots[n] = true
			}
		}
	}
	for n := range slots {
		lock, ok, err := tryLockFile(slotLockPath(base, n))
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
		if names, err := linkNames(vethPrefix(n)); err != nil {
			errs = append(errs, err)
		} else {
			for _, name := range names {
				errs = append(errs, run(ctx, "ip", "link", "del", name))
			}
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
		errs = append(errs, removeFirewall(ctx, n))
	}
	errs = append(errs, removeTree(dir))
	return errors.Join(errs...)
}

// Sweep removes what stand-ins whose owner process died left on this machine (processes, network
// namespaces, veths, firewall rules, mounts, files); running stand-ins are not touched. Start and New
// sweep by themselves; the harvestersim command offers it for by-hand cleanup.
func Sweep(logf func(string, ...any)) {
	sweepDead(runDir(), os.Geteuid() == 0, logf)
}
