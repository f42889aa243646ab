package hosts

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// The stand-in's second guard against fake hosts reaching anything off the machine (the first: hosts have
// no default route): REJECT rules in FORWARD for the slot's subnet, both directions. They carry a comment
// naming the slot, so exactly these rules are removed at teardown or by a later sweep.

func firewallComment(slot int) string { return fmt.Sprintf("harvestersim-slot%d", slot) }

func firewallRules(slot int) [][]string {
	c := firewallComment(slot)
	return [][]string{
		{"FORWARD", "-s", slotSubnet(slot), "-m", "comment", "--comment", c, "-j", "REJECT"},
		{"FORWARD", "-d", slotSubnet(slot), "-m", "comment", "--comment", c, "-j", "REJECT"},
	}
}

func addFirewall(ctx context.Context, slot int) error {
	for _, r := range firewallRules(slot) {
		if err := run(ctx, append([]string{"iptables", "-w", "-I"}, r...)...); err != nil {
			return fmt.Errorf("guard the hosts' subnet: %w", err)
		}
	}
	return nil
}

// removeFirewall deletes every rule carrying the slot's comment, however many a crashed run left.
func removeFirewall(ctx context.Context, slot int) error {
	out, err := exec.CommandContext(ctx, "iptables", "-w", "-S", "FORWARD").Output()
	if err != nil {
		return fmt.Errorf("list firewall rules: %w", err)
	}
	marker := "--comment " + firewallComment(slot) + " "
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "-A FORWARD ") || !strings.Contains(line+" ", marker) {
			continue
		}
		args := append([]string{"iptables", "-w", "-D"}, strings.Fields(strings.TrimPrefix(line, "-A "))...)
		if err := run(ctx, args...); err != nil {
			return fmt.Errorf("remove firewall rule: %w", err)
		}
	}
	return nil
}

// firewallSlots lists the slots that have guard rules installed.
func firewallSlots(ctx context.Context) ([]int, error) {
	out, err := exec.CommandContext(ctx, "iptables", "-w", "-S", "FORWARD").Output()
	if err != nil {
		return nil, fmt.Errorf("list firewall rules: %w", err)
	}
	var slots []int
	for _, line := range strings.Split(string(out), "\n") {
		var n int
		if i := strings.Index(line, "--comment harvestersim-slot"); i >= 0 {
			if _, err := fmt.Sscanf(line[i:], "--comment harvestersim-slot%d", &n); err == nil {
				slots = append(slots, n)
			}
		}
	}
	return slots, nil
}
