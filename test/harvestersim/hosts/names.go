package hosts

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Everything the hosts of a stand-in make on the machine is named after the stand-in's slot (see
// test/harvestersim/slot), and their addresses are on the slot's subnet, so stand-ins running at
// the same time never collide, and what a dead one left is known by its names.
const (
	MaxSlots     = 64 // slots the address plan has room for: a /24 each in 10.200.0.0/18
	hostsPerSlot = 64 // fake hosts per stand-in, on the slot's /24
)

// Names of a slot's network. Each slot has a switch: a network namespace holding a bridge, with an
// uplink veth to the machine (the machine's address on the slot's subnet) and one port per host.
// Interface names are limited to 15 bytes: "hsim63sw" fits.
func netnsName(slot, k int) string { return fmt.Sprintf("hsim%d-%d", slot, k) }
func switchNetns(slot int) string  { return fmt.Sprintf("hsim%d-sw", slot) }
func uplinkName(slot int) string   { return fmt.Sprintf("hsim%dsw", slot) }
func netnsPrefix(slot int) string  { return fmt.Sprintf("hsim%d-", slot) }

// switchPort is host k's port on its slot's switch (inside the switch's namespace).
func switchPort(k int) string { return fmt.Sprintf("h%d", k) }

// slotOfName is the slot a machine-wide name of the stand-in belongs to: a network namespace
// (hsim<slot>-<k>, hsim<slot>-sw), the uplink (hsim<slot>sw) or a host's cgroup (hsim<slot>-<k>).
func slotOfName(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "hsim")
	if !ok {
		return 0, false
	}
	i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if i <= 0 {
		return 0, false
	}
	n, err := strconv.Atoi(rest[:i])
	if err != nil || n >= MaxSlots {
		return 0, false
	}
	switch suffix := rest[i:]; {
	case suffix == "sw" || suffix == "-sw":
		return n, true
	case strings.HasPrefix(suffix, "-"):
		k, err := strconv.Atoi(suffix[1:])
		return n, err == nil && k >= 0 && k < hostsPerSlot
	}
	return 0, false
}

// Subnet is the subnet of a slot's switch, which the fake hosts' first NICs are on.
func Subnet(slot int) netip.Prefix { return netip.MustParsePrefix(slotSubnet(slot)) }

// slotSubnet is the /24 of a slot's switch inside 10.200.0.0/18 (RFC 1918, unused on these machines).
func slotSubnet(slot int) string { return fmt.Sprintf("10.200.%d.0/24", slot) }

// machineAddr is the machine's address on the slot's switch, where the hosts' apt proxy listens.
func machineAddr(slot int) net.IP { return net.IPv4(10, 200, byte(slot), 1) }

// hostAddr is the address of host k on the slot's switch: the address its VMI reports.
func hostAddr(slot, k int) net.IP { return net.IPv4(10, 200, byte(slot), byte(k+2)) }

// hostPodSubnet is the subnet of host k's pods (hosts ready for Kubernetes). Pods never leave their host, so
// hosts of different slots may share one.
func hostPodSubnet(k int) string { return fmt.Sprintf("10.201.%d.0/24", k) }

// noHostAddr is the address reported for VM k when fake hosts are off: a loopback address where nothing
// listens, so a driver that dials it gets "connection refused" and no traffic leaves the machine.
func noHostAddr(slot, k int) net.IP { return net.IPv4(127, 200, byte(slot), byte(k+2)) }
