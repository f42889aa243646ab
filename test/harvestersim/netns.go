package harvestersim

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
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

// createHostNet makes the network namespace ns whose eth0 (with mac) is the VM end of a veth pair; the
// other end, veth, stays on the machine. Both ends get their /30 address and nothing else: no default
// route, so a host can reach only the machine-side address (its apt proxy), and traffic can never be
// forwarded off the machine.
func createHostNet(ctx context.Context, ns, veth string, machine, vm net.IP, mac string) error {
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "address", mac, "netns", ns},
		{"ip", "addr", "add", machine.String() + "/30", "dev", veth},
		{"ip", "link", "set", veth, "up"},
		{"ip", "-n", ns, "addr", "add", vm.String() + "/30", "dev", "eth0"},
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

// deleteHostNet removes a host's veth pair and network namespace; absent ones are fine.
func deleteHostNet(ctx context.Context, ns, veth string) error {
	if linkExists(veth) {
		if err := run(ctx, "ip", "link", "del", veth); err != nil {
			return fmt.Errorf("delete network of host %s: %w", ns, err)
		}
	}
	names, err := netnsNames(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == ns {
			if err := run(ctx, "ip", "netns", "del", ns); err != nil {
				return fmt.Errorf("delete network of host %s: %w", ns, err)
			}
		}
	}
	return nil
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
