package harvestersim

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/controller"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
)

// Leftovers lists, sorted, what exists of everything labelled with selector (e.g.
// "harvesterrke.io/cluster=c1"): objects carrying the label; the VMI, PVCs, owned Secrets and fake host
// of any VM that carried it (even after the VM is gone); the served address, forwarder and DHCP lease
// of any load balancer that carried it and is gone; IP pools' bookings for load balancers that do not
// exist, load balancer addresses on the machine that none is served at; network namespaces, switch
// ports, cgroups and mounts of this stand-in that no running host accounts for; and machine sysctls
// changed since the stand-in started. After a clean removal it is empty.
func (s *Sim) Leftovers(ctx context.Context, selector string) ([]string, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("leftovers: selector %q: %w", selector, err)
	}
	found, err := controller.Labelled(ctx, s.dyn, sel)
	if err != nil {
		return nil, err
	}
	add := func(more []string, err error) error {
		found = append(found, more...)
		return err
	}
	if s.ctrl != nil {
		if err := add(s.ctrl.Leftovers(ctx, sel)); err != nil {
			return nil, err
		}
		if err := add(s.ctrl.LoadBalancerLeftovers(ctx, sel)); err != nil {
			return nil, err
		}
	}
	if s.network != nil {
		if err := add(s.hosts.Leftovers(ctx)); err != nil {
			return nil, err
		}
		if err := add(s.network.Leftovers()); err != nil {
			return nil, err
		}
		mounts, err := diskcache.MountsUnder(s.slot.Dir)
		if err != nil {
			return nil, err
		}
		for _, m := range mounts {
			found = append(found, "mount "+m)
		}
	}
	slices.Sort(found)
	return slices.Compact(found), nil
}

// WaitNoLeftovers waits until Leftovers(selector) is empty, re-checking on every change the stand-in
// observes (garbage collection and PVC protection finish shortly after a VM is gone).
func (s *Sim) WaitNoLeftovers(ctx context.Context, selector string) error {
	if s.ctrl == nil {
		return fmt.Errorf("wait for leftovers: %w", errNoSimulator)
	}
	for {
		changed := s.ctrl.Changed()
		left, err := s.Leftovers(ctx, selector)
		if err != nil {
			return err
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("leftovers of %s: %s: %w", selector, strings.Join(left, "; "), ctx.Err())
		}
	}
}
