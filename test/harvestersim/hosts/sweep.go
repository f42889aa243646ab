package hosts

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
)

// SlotsOnMachine lists the slots that own something on the machine: network namespaces, veths,
// cgroups or firewall rules (needs root to see all of them).
func SlotsOnMachine(ctx context.Context) []int {
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
	var slots []int
	for _, name := range names {
		if n, ok := slotOfName(name); ok {
			slots = append(slots, n)
		}
	}
	if ns, err := firewallSlots(ctx); err == nil {
		slots = append(slots, ns...)
	}
	return slots
}

// SweepSlot removes what the hosts of slot n made on the machine: the switch and its uplink, the
// hosts' network namespaces, their cgroups and the firewall rules. The caller holds the slot, and the
// hosts' processes are gone.
func SweepSlot(ctx context.Context, n int) error {
	var errs []error
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
	return errors.Join(errs...)
}

// globAll is filepath.Glob of a pattern known to be valid.
func globAll(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	return m
}
