package hosts

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// A slot's /24 is laid out as: .1 the machine, .2-.65 the hosts' DHCP addresses (hostsPerSlot), .66-.223
// free for tests' static addresses, .224-.239 for tests' IP pools (PoolRange), .240-.254 for load
// balancers asking for DHCP (DHCPRange). A load balancer's address is put on the machine's end of the
// uplink as a /32: the machine answers it itself, and the hosts reach it through the switch at layer 2,
// like the machine's own address. Deleting the uplink (Close, a sweep) removes them all.

// AddressRange is a range of IPv4 addresses, both ends included.
type AddressRange struct{ First, Last netip.Addr }

// Contains reports whether a is in the range.
func (r AddressRange) Contains(a netip.Addr) bool {
	return r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

func (r AddressRange) String() string { return r.First.String() + "-" + r.Last.String() }

// PoolRange is the part of a slot's subnet for tests' IP pools: no host and no DHCP load balancer gets one.
func PoolRange(slot int) AddressRange { return AddressRange{slotAddr(slot, 224), slotAddr(slot, 239)} }

// DHCPRange is the part of a slot's subnet that the stand-in's DHCP gives load balancers.
func DHCPRange(slot int) AddressRange { return AddressRange{slotAddr(slot, 240), slotAddr(slot, 254)} }

func slotAddr(slot int, last byte) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 200, byte(slot), last})
}

// AddAddress puts addr on the machine's end of the uplink. Only addresses of the slot's subnet above
// the hosts' are taken: another would make the machine answer for whoever really has it.
func (n *Network) AddAddress(ctx context.Context, addr netip.Addr) error {
	free := AddressRange{slotAddr(n.slot, 2+hostsPerSlot), slotAddr(n.slot, 254)}
	if !free.Contains(addr) {
		return fmt.Errorf("%s cannot be served by the stand-in: load balancer addresses must be in %s "+
			"(the hosts' subnet above the machine's and the hosts' own addresses)", addr, free)
	}
	if err := run(ctx, "ip", "addr", "replace", addr.String()+"/32", "dev", uplinkName(n.slot)); err != nil {
		return fmt.Errorf("put load balancer address %s on the machine: %w", addr, err)
	}
	return nil
}

// RemoveAddress takes addr off the machine's end of the uplink; an absent one is fine.
func (n *Network) RemoveAddress(ctx context.Context, addr netip.Addr) error {
	have, err := n.Addresses()
	if err != nil || !slices.Contains(have, addr) {
		return err
	}
	if err := run(ctx, "ip", "addr", "del", addr.String()+"/32", "dev", uplinkName(n.slot)); err != nil {
		return fmt.Errorf("remove load balancer address %s from the machine: %w", addr, err)
	}
	return nil
}

// Addresses lists the load balancer addresses on the machine's end of the uplink (its /32s).
func (n *Network) Addresses() ([]netip.Addr, error) {
	ifc, err := net.InterfaceByName(uplinkName(n.slot))
	if err != nil {
		return nil, fmt.Errorf("list the uplink's addresses: %w", err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, fmt.Errorf("list the uplink's addresses: %w", err)
	}
	var found []netip.Addr
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ones, bits := ipn.Mask.Size(); ones != bits {
			continue
		}
		if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
			found = append(found, ip.Unmap())
		}
	}
	return found, nil
}

// UplinkName is the machine's end of the slot's uplink, for messages.
func (n *Network) UplinkName() string { return uplinkName(n.slot) }
