package hosts

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/cloudinit"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/internal/proc"
)

// run executes a command and returns its error with the command's output.
func run(ctx context.Context, argv ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr, cmd.Env = &out, &out, proc.Env
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// createSwitch makes the slot's switch: a network namespace with a bridge, and a veth pair whose
// machine end (the uplink) has the machine's address on the slot's subnet. Hosts talk to each other
// and to the machine through the bridge, at layer 2: nothing is routed or forwarded by the machine,
// and its firewall never sees their traffic. The switch has no other link, so nothing on it can reach
// beyond the machine.
func createSwitch(ctx context.Context, slot int) error {
	sw, up := switchNetns(slot), uplinkName(slot)
	steps := [][]string{
		{"ip", "netns", "add", sw},
		{"ip", "-n", sw, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", sw, "link", "set", "br0", "up"},
		{"ip", "link", "add", up, "type", "veth", "peer", "name", "uplink", "netns", sw},
		{"ip", "-n", sw, "link", "set", "uplink", "master", "br0"},
		{"ip", "-n", sw, "link", "set", "uplink", "up"},
		{"ip", "addr", "add", machineAddr(slot).String() + "/24", "dev", up},
		{"ip", "link", "set", up, "up"},
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			return fmt.Errorf("create the hosts' switch: %w", err)
		}
	}
	return nil
}

// deleteSwitch removes the slot's switch and uplink; absent ones are fine.
func deleteSwitch(ctx context.Context, slot int) error {
	if linkExists(uplinkName(slot)) {
		if err := run(ctx, "ip", "link", "del", uplinkName(slot)); err != nil {
			return fmt.Errorf("delete the hosts' switch: %w", err)
		}
	}
	if err := deleteNetns(ctx, switchNetns(slot)); err != nil {
		return fmt.Errorf("delete the hosts' switch: %w", err)
	}
	return nil
}

// createHostNet makes a host's network namespace ns with a NIC per link, each a veth pair whose
// other end is plugged into the link's bridge on the slot's switch, named, addressed and sized as
// its configuration (the VM's network-config) says. No default route, whatever the network-config
// asks: a host reaches the machine's address on the switch (its apt proxy) and the other hosts of the
// stand-in, nothing else.
func createHostNet(ctx context.Context, slot int, ns string, links []link, cfg []cloudinit.LinkConfig) error {
	sw := switchNetns(slot)
	steps := [][]string{{"ip", "netns", "add", ns}, {"ip", "-n", ns, "link", "set", "lo", "up"}}
	for i, l := range links {
		if l.bridge != "br0" {
			if err := ensureBridge(ctx, slot, l.bridge); err != nil {
				return fmt.Errorf("create network of host %s: %w", ns, err)
			}
		}
		c := cfg[i]
		steps = append(steps,
			[]string{"ip", "-n", sw, "link", "add", l.port, "type", "veth", "peer", "name", l.ifname, "address", l.nic.MAC, "netns", ns},
			[]string{"ip", "-n", sw, "link", "set", l.port, "master", l.bridge},
			[]string{"ip", "-n", sw, "link", "set", l.port, "up"})
		if c.Name != l.ifname {
			steps = append(steps, []string{"ip", "-n", ns, "link", "set", l.ifname, "name", c.Name})
		}
		if c.MTU > 0 {
			mtu := strconv.Itoa(c.MTU)
			steps = append(steps, []string{"ip", "-n", sw, "link", "set", l.port, "mtu", mtu}, []string{"ip", "-n", ns, "link", "set", c.Name, "mtu", mtu})
		}
		// A host booting at an address a deleted one had announces itself, so the machine and the
		// other hosts do not keep sending to the old MAC until their neighbour entries expire.
		steps = append(steps, []string{"ip", "netns", "exec", ns, "sh", "-c", "echo 1 >/proc/sys/net/ipv4/conf/" + c.Name + "/arp_notify"})
		for _, a := range l.addresses(c) {
			steps = append(steps, []string{"ip", "-n", ns, "addr", "add", a, "dev", c.Name})
		}
		steps = append(steps, []string{"ip", "-n", ns, "link", "set", c.Name, "up"})
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			return fmt.Errorf("create network of host %s: %w", ns, err)
		}
	}
	return nil
}

// deleteHostNet removes host k's switch ports (and with them the host's NICs) and network namespace,
// and forgets the MAC of each address it had on the switch: a host booted later at the same address
// has another, and the kernel ignores its announcement while the old entry is fresh
// (net.ipv4.neigh.*.locktime). Absent ones are fine.
func deleteHostNet(ctx context.Context, slot, k int, ns string, links []link, ifs []Interface) error {
	ports, err := switchPorts(ctx, slot)
	if err != nil {
		return fmt.Errorf("delete network of host %s: %w", ns, err)
	}
	for _, l := range links {
		if slices.Contains(ports, l.port) {
			if err := run(ctx, "ip", "-n", switchNetns(slot), "link", "del", l.port); err != nil {
				return fmt.Errorf("delete network of host %s: %w", ns, err)
			}
		}
	}
	if err := deleteNetns(ctx, ns); err != nil {
		return fmt.Errorf("delete network of host %s: %w", ns, err)
	}
	addrs := []string{hostAddr(slot, k).String()}
	if len(ifs) > 0 {
		addrs = append(addrs, ifs[0].IPs...)
	}
	if linkExists(uplinkName(slot)) {
		for _, a := range addrs {
			if err := run(ctx, "ip", "neigh", "flush", "to", a, "dev", uplinkName(slot)); err != nil {
				return fmt.Errorf("delete network of host %s: %w", ns, err)
			}
		}
	}
	return nil
}

// deleteNetns deletes the named network namespace if it exists.
func deleteNetns(ctx context.Context, ns string) error {
	names, err := netnsNames(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(names, ns) {
		return run(ctx, "ip", "netns", "del", ns)
	}
	return nil
}

// switchPorts lists the hosts' ports on the slot's switch (none when the switch does not exist).
func switchPorts(ctx context.Context, slot int) ([]string, error) {
	names, err := netnsNames(ctx)
	if err != nil || !slices.Contains(names, switchNetns(slot)) {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, "ip", "-n", switchNetns(slot), "-o", "link", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("list the ports of switch %s: %w", switchNetns(slot), err)
	}
	var ports []string
	for _, line := range strings.Split(string(out), "\n") {
		// "7: h3@if2: <BROADCAST,...": the name, without the peer's index.
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if strings.HasPrefix(name, "h") {
			ports = append(ports, name)
		}
	}
	return ports, nil
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// netnsNames lists the named network namespaces (ip netns list).
func netnsNames(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("list network namespaces: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// linkNames lists the machine's network interfaces with the given name prefix.
func linkNames(prefix string) ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	var names []string
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, prefix) {
			names = append(names, i.Name)
		}
	}
	return names, nil
}
