package hosts

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/cloudinit"
)

// A host has a NIC per interface of its VM. The first is eth0 on the slot's switch (br0), which the
// machine reaches: whatever the VM's first network, that is where the driver finds it. Each further
// NIC is eth<i> on a bridge of its network in the switch's namespace (n<index>), shared by the NICs
// of all hosts on that network and with no link to the machine. An address a network-config asks for
// DHCP gets is the stand-in's: hostAddr on br0, 10.202.<network index>.<k+2>/24 on the others.

// NIC is a network interface of a VM, for its host.
type NIC struct {
	Name    string // the VM's name for it (KubeVirt's interface name)
	Network string // "pod" or <namespace>/<name>
	MAC     string // "" makes one from the VM's key
}

// Interface is a NIC as its host has it, for the VMI's status.
type Interface struct {
	Name   string   // the VM's name for it
	IfName string   // its name in the host
	MAC    string   // lower case
	IPs    []string // its IPv4 addresses, without prefix length
}

// link is a NIC as the host is made with it.
type link struct {
	nic    NIC
	ifname string       // the kernel's name when it comes up: eth<i>
	bridge string       // the switch's bridge it is plugged into
	port   string       // its peer on the switch
	dhcp   netip.Prefix // what DHCP gives it
}

// networkBridges numbers the networks of extra NICs; a network keeps its bridge for the stand-in's life.
type networkBridges struct {
	mu  sync.Mutex
	idx map[string]int
}

func (b *networkBridges) index(network string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.idx == nil {
		b.idx = map[string]int{}
	}
	i, ok := b.idx[network]
	if !ok {
		i = len(b.idx) + 1
		b.idx[network] = i
	}
	return i
}

// extraPort is the switch port of NIC i (from 1) of host k.
func extraPort(k, i int) string { return fmt.Sprintf("h%dx%d", k, i) }

// links lays out the NICs of host k of the slot.
func (m *Manager) links(key string, k int, nics []NIC) []link {
	if len(nics) == 0 {
		nics = []NIC{{Name: "default", Network: "pod"}}
	}
	out := make([]link, len(nics))
	for i, n := range nics {
		l := link{nic: n, ifname: fmt.Sprintf("eth%d", i)}
		if l.nic.MAC == "" {
			seed := key
			if i > 0 {
				seed = fmt.Sprintf("%s/%d", key, i)
			}
			l.nic.MAC = generatedMAC(seed)
		}
		l.nic.MAC = strings.ToLower(l.nic.MAC)
		if i == 0 {
			l.bridge, l.port = "br0", switchPort(k)
			l.dhcp = netip.PrefixFrom(netip.AddrFrom4([4]byte(hostAddr(m.cfg.Slot, k).To4())), 24)
			if m.cfg.NoHosts {
				l.dhcp = netip.PrefixFrom(netip.AddrFrom4([4]byte(noHostAddr(m.cfg.Slot, k).To4())), 8)
			}
		} else {
			idx := m.bridges.index(n.Network)
			l.bridge, l.port = fmt.Sprintf("n%d", idx), extraPort(k, i)
			l.dhcp = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 202, byte(idx), byte(k + 2)}), 24)
		}
		out[i] = l
	}
	return out
}

// plan is what the network-config makes of the links.
func plan(links []link, network cloudinit.Network) []cloudinit.LinkConfig {
	cl := make([]cloudinit.Link, len(links))
	for i, l := range links {
		cl[i] = cloudinit.Link{Name: l.ifname, MAC: l.nic.MAC}
	}
	return network.Apply(cl)
}

// addresses are the CIDRs a link gets under its configuration.
func (l link) addresses(c cloudinit.LinkConfig) []string {
	out := append([]string{}, c.Addresses...)
	if c.DHCP {
		out = append(out, l.dhcp.String())
	}
	return out
}

// planned are the interfaces as the configuration says they will be (a host without a kernel of its
// own, NoHosts, reports these).
func planned(links []link, cfg []cloudinit.LinkConfig) []Interface {
	out := make([]Interface, len(links))
	for i, l := range links {
		out[i] = Interface{Name: l.nic.Name, IfName: cfg[i].Name, MAC: l.nic.MAC}
		for _, a := range l.addresses(cfg[i]) {
			if p, err := netip.ParsePrefix(a); err == nil && p.Addr().Is4() {
				out[i].IPs = append(out[i].IPs, p.Addr().String())
			}
		}
	}
	return out
}

// firstIP is the first IPv4 address of the first interface, or "".
func firstIP(ifs []Interface) string {
	if len(ifs) == 0 || len(ifs[0].IPs) == 0 {
		return ""
	}
	return ifs[0].IPs[0]
}

// bridgeMu serialises making the switch's network bridges, which hosts starting at once share.
var bridgeMu sync.Mutex

func ensureBridge(ctx context.Context, slot int, name string) error {
	bridgeMu.Lock()
	defer bridgeMu.Unlock()
	sw := switchNetns(slot)
	if exec.CommandContext(ctx, "ip", "-n", sw, "link", "show", name).Run() == nil {
		return nil
	}
	for _, s := range [][]string{
		{"ip", "-n", sw, "link", "add", name, "type", "bridge"},
		{"ip", "-n", sw, "link", "set", name, "up"},
	} {
		if err := run(ctx, s...); err != nil {
			return fmt.Errorf("make the bridge of a network: %w", err)
		}
	}
	return nil
}

// readInterfaces asks the host's kernel which addresses its links have.
func readInterfaces(ctx context.Context, ns string, links []link) ([]Interface, error) {
	out, err := exec.CommandContext(ctx, "ip", "-n", ns, "-j", "addr", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("read the addresses of host %s: %w", ns, err)
	}
	var kernel []struct {
		IfName   string `json:"ifname"`
		Address  string `json:"address"`
		AddrInfo []struct {
			Family string `json:"family"`
			Local  string `json:"local"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &kernel); err != nil {
		return nil, fmt.Errorf("read the addresses of host %s: %w", ns, err)
	}
	ifs := make([]Interface, len(links))
	for i, l := range links {
		ifs[i] = Interface{Name: l.nic.Name, MAC: l.nic.MAC}
		for _, k := range kernel {
			if hw, err := net.ParseMAC(k.Address); err != nil || hw.String() != l.nic.MAC {
				continue
			}
			ifs[i].IfName = k.IfName
			for _, a := range k.AddrInfo {
				if a.Family == "inet" {
					ifs[i].IPs = append(ifs[i].IPs, a.Local)
				}
			}
		}
	}
	return ifs, nil
}
