package harvester

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// What a node VM can have beyond one image disk and one network, as Harvester's node driver offers
// it: several NICs, extra disks, static addresses, firmware and CPU settings, placement. NICs, disks
// and address pools apply to the pools they name, or to every pool.

// PodNetwork names the pod network where a network is named by a string (NIC.Key, AddressPool.Network).
const PodNetwork = "pod"

// NIC is a network interface of the VMs of some pools.
type NIC struct {
	Network ObjectRef // a NetworkAttachmentDefinition; zero = the pod network (masquerade)
	Model   string    // virtio (default), e1000, e1000e, igb, ne2k_pci, pcnet or rtl8139
	// MAC is the MAC address of the first node of its one pool: node n gets MAC+n-1. Empty leaves it
	// to KubeVirt, unless the driver renders network data, which matches NICs by MAC.
	MAC   string
	Pools []string // empty: every pool
}

// Key names the NIC's network: "pod" or <namespace>/<name>.
func (n NIC) Key() string {
	if n.Network.IsZero() {
		return PodNetwork
	}
	return n.Network.String()
}

// Disk is an extra disk of the VMs of some pools, after the root disk.
type Disk struct {
	Size         resource.Quantity
	Image        ObjectRef // a VirtualMachineImage the disk is made from; zero = an empty disk
	StorageClass string    // the storage class of an empty disk
	Bus          string    // virtio (default), scsi or sata
	BootOrder    uint      // 0: not a boot device; else 2 or more (the root disk boots first)
	Pools        []string  // empty: every pool
}

// Hardware is the VMs' firmware and CPU placement.
type Hardware struct {
	CPUModel string // empty: KubeVirt's default (host-model)
	// DedicatedCPU pins each virtual CPU to a host CPU (Harvester's CPU pinning);
	// IsolateEmulatorThread gives QEMU's emulator thread a CPU of its own and needs DedicatedCPU.
	DedicatedCPU          bool
	IsolateEmulatorThread bool
	EFI                   bool
	SecureBoot            bool // implies EFI
	TPM                   bool
}

// Placement is where Harvester may run the VMs.
type Placement struct {
	Affinity *corev1.Affinity // the user's terms, merged with the driver's anti-affinity
	// HardAntiAffinity never puts two VMs of the cluster on one host; else it is only preferred.
	HardAntiAffinity bool
}

// AddressPool is a range of static IPv4 addresses for the nodes of some pools: each node gets one,
// recorded on its VM when it is created, on the NIC of Network.
type AddressPool struct {
	Start, End netip.Addr // inclusive
	Prefix     int        // the subnet's prefix length
	Gateway    netip.Addr // invalid: none
	DNS        []netip.Addr
	Network    string   // the NIC's network ("pod" or <namespace>/<name>); empty: each pool's first NIC
	Pools      []string // empty: every pool
}

// forPool tells whether an entry naming pools applies to pool.
func forPool(pools []string, pool string) bool {
	return len(pools) == 0 || slices.Contains(pools, pool)
}

// NICsOf are the NICs of a pool's VMs, in order: the template's NICs for the pool or, without any,
// one virtio NIC on Network.
func NICsOf(t VMTemplate, pool string) []NIC {
	if len(t.NICs) == 0 {
		return []NIC{{Network: t.Network, Model: "virtio"}}
	}
	var out []NIC
	for _, n := range t.NICs {
		if forPool(n.Pools, pool) {
			out = append(out, n)
		}
	}
	return out
}

// DisksOf are the extra disks of a pool's VMs, in order.
func DisksOf(t VMTemplate, pool string) []Disk {
	var out []Disk
	for _, d := range t.Disks {
		if forPool(d.Pools, pool) {
			out = append(out, d)
		}
	}
	return out
}

// AddressPoolOf is the address pool of a pool's nodes; nil when they have no static addresses.
func AddressPoolOf(t VMTemplate, pool string) *AddressPool {
	for i := range t.StaticAddresses {
		if forPool(t.StaticAddresses[i].Pools, pool) {
			return &t.StaticAddresses[i]
		}
	}
	return nil
}

// nicIndex is the index of the NIC on network key among nics; "" is the first NIC. -1: none.
func nicIndex(nics []NIC, key string) int {
	if key == "" {
		if len(nics) == 0 {
			return -1
		}
		return 0
	}
	for i, n := range nics {
		if n.Key() == key {
			return i
		}
	}
	return -1
}
