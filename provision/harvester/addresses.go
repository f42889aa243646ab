package harvester

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
)

// annotationStaticAddress records on a VM the static address it was created with, <ip>/<prefix>:
// it goes with the VM, so the addresses in use are those recorded on the cluster's VMs.
const annotationStaticAddress = "harvesterrke.io/static-address"

// Subnet is the subnet the pool's addresses are in.
func (p AddressPool) Subnet() netip.Prefix {
	return netip.PrefixFrom(p.Start, p.Prefix).Masked()
}

func (p AddressPool) String() string {
	return fmt.Sprintf("%s-%s/%d", p.Start, p.End, p.Prefix)
}

// Contains tells whether a is in the pool's range.
func (p AddressPool) Contains(a netip.Addr) bool {
	return p.Start.Compare(a) <= 0 && a.Compare(p.End) <= 0
}

// reserved are the addresses of the range no node gets: the subnet's own address and broadcast,
// the gateway and the DNS servers.
func (p AddressPool) reserved(a netip.Addr) bool {
	subnet := p.Subnet()
	if p.Prefix <= 30 && (a == subnet.Addr() || a == broadcast(subnet)) {
		return true
	}
	if a == p.Gateway {
		return true
	}
	for _, d := range p.DNS {
		if a == d {
			return true
		}
	}
	return false
}

// Size is how many nodes the pool has addresses for.
func (p AddressPool) Size() int {
	n := 0
	for a := p.Start; a.IsValid() && p.Contains(a); a = a.Next() {
		if !p.reserved(a) {
			n++
		}
	}
	return n
}

// next is the lowest address of the pool neither reserved nor used.
func (p AddressPool) next(used map[netip.Addr]bool) (netip.Addr, bool) {
	for a := p.Start; a.IsValid() && p.Contains(a); a = a.Next() {
		if !p.reserved(a) && !used[a] {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := ^uint32(0) >> p.Bits()
	binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(b[:])|host)
	return netip.AddrFrom4(b)
}

// assignAddresses gives each missing VM of a pool with static addresses the lowest address of its
// pool that no VM of the cluster has recorded (terminating ones included: their hosts may still
// run). Given the same VMs it gives the same addresses, so a repeated call creates the same VMs.
func assignAddresses(cl Cluster, vms []VM, missing []VM) error {
	used := map[netip.Addr]bool{}
	holder := map[netip.Addr]string{}
	var problems []string
	for _, vm := range vms {
		if vm.StaticAddress == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(vm.StaticAddress)
		if err != nil {
			problems = append(problems, fmt.Sprintf("vm %s: annotation %s is not <ip>/<prefix>: %q", vm.Name, annotationStaticAddress, vm.StaticAddress))
			continue
		}
		a := pfx.Addr()
		if other, ok := holder[a]; ok {
			// Only two driver calls for the same cluster at once could do this; neither VM is the
			// one to keep for sure, so a person decides.
			problems = append(problems, fmt.Sprintf("vms %s and %s both have static address %s: delete one of them", other, vm.Name, a))
			continue
		}
		used[a], holder[a] = true, vm.Name
	}
	for i, vm := range missing {
		pool := AddressPoolOf(cl.Template, vm.Pool)
		if pool == nil {
			continue
		}
		a, ok := pool.next(used)
		if !ok {
			problems = append(problems, fmt.Sprintf("static-addresses: no free address in %s for vm %s (%d in use)", pool, vm.Name, countIn(*pool, used)))
			continue
		}
		used[a] = true
		missing[i].StaticAddress = netip.PrefixFrom(a, pool.Prefix).String()
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("static addresses of cluster %s: %s", cl.Owner.Name, strings.Join(problems, "; "))
	}
	return nil
}

func countIn(p AddressPool, used map[netip.Addr]bool) int {
	n := 0
	for a := range used {
		if p.Contains(a) {
			n++
		}
	}
	return n
}

// nicMAC is the MAC address of NIC i of node n of a pool: the NIC's own MAC+n-1 or, when the
// driver needs one (to match the NIC in network data), one made from the cluster's id and the VM's
// name, so a VM made again under its name has it again. Empty leaves the MAC to KubeVirt.
func nicMAC(owner Owner, vm string, n, i int, nic NIC, generate bool) (string, error) {
	if nic.MAC != "" {
		hw, err := net.ParseMAC(nic.MAC)
		if err != nil || len(hw) != 6 {
			return "", fmt.Errorf("nic %d: MAC %q is not a 48-bit MAC address", i, nic.MAC)
		}
		var b [8]byte
		copy(b[2:], hw)
		v := binary.BigEndian.Uint64(b[:]) + uint64(n-1)
		if v >= 1<<48 {
			return "", fmt.Errorf("nic %d: MAC %s+%d is beyond ff:ff:ff:ff:ff:ff", i, nic.MAC, n-1)
		}
		binary.BigEndian.PutUint64(b[:], v)
		return net.HardwareAddr(b[2:]).String(), nil
	}
	if !generate {
		return "", nil
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d", owner.ID, vm, i)))
	// 0x02: locally administered, unicast.
	return net.HardwareAddr{0x02, h[0], h[1], h[2], h[3], h[4]}.String(), nil
}
