package harvestersim

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
)

// run executes a command and returns its error with the command's output.
func run(ctx context.Context, argv ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr, cmd.Env = &out, &out, childEnv
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

// createHostNet makes host k's network namespace ns, whose eth0 (with mac and the host's address) is
// plugged into the slot's switch. No default route: a host reaches the machine's address on the
// switch (its apt proxy) and the other hosts of the stand-in, nothing else.
func createHostNet(ctx context.Context, slot, k int, ns string, addr net.IP, mac string) error {
	sw, port := switchNetns(slot), switchPort(k)
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "address", mac, "netns", ns},
		{"ip", "-n", sw, "link", "set", port, "master", "br0"},
		{"ip", "-n", sw, "link", "set", port, "up"},
		// A host booting at an address a deleted one had announces itself, so the machine and the
		// other hosts do not keep sending to the old MAC until their neighbour entries expire.
		{"ip", "netns", "exec", ns, "sh", "-c", "echo 1 >/proc/sys/net/ipv4/conf/eth0/arp_notify"},
		{"ip", "-n", ns, "addr", "add", addr.String() + "/24", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			return fmt.Errorf("create network of host %s: %w", ns, err)
		}
	}
	return nil
}

// deleteHostNet removes host k's switch port (and with it the host's eth0) and network namespace, and
// forgets its MAC on the machine: a host booted later at the same address has another, and the
// kernel ignores its announcement while the old entry is fresh (net.ipv4.neigh.*.locktime). Absent
// ones are fine.
func deleteHostNet(ctx context.Context, slot, k int, ns string) error {
	ports, err := switchPorts(ctx, slot)
	if err != nil {
		return fmt.Errorf("delete network of host %s: %w", ns, err)
	}
	if slices.Contains(ports, switchPort(k)) {
		if err := run(ctx, "ip", "-n", switchNetns(slot), "link", "del", switchPort(k)); err != nil {
			return fmt.Errorf("delete network of host %s: %w", ns, err)
		}
	}
	if err := deleteNetns(ctx, ns); err != nil {
		return fmt.Errorf("delete network of host %s: %w", ns, err)
	}
	if linkExists(uplinkName(slot)) {
		if err := run(ctx, "ip", "neigh", "flush", "to", hostAddr(slot, k).String(), "dev", uplinkName(slot)); err != nil {
			return fmt.Errorf("delete network of host %s: %w", ns, err)
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
