package harvestersim

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
)

// Each running stand-in holds one slot: an exclusive flock that the kernel drops when its owner dies.
// The slot number names everything the stand-in makes on the machine (netns, veths, cgroups, firewall
// rules, work dir) and picks its hosts' subnet, so stand-ins in parallel test processes never collide, and a free
// slot with leftovers is known to belong to a dead owner.
const (
	maxSlots     = 64 // stand-ins running at once on a machine
	hostsPerSlot = 64 // fake hosts per stand-in, on the slot's /24
)

type slot struct {
	n    int
	lock *os.File
	dir  string // the stand-in's work directory
}

// runDir is where stand-ins keep their locks and work directories: on disk (not tmpfs), since fake
// hosts keep /var/lib/docker there and dockerd's overlay2 needs a real filesystem.
func runDir() string {
	if d := os.Getenv("HARVESTERSIM_RUN_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "harvestersim-"+strconv.Itoa(os.Getuid()))
}

func slotLockPath(base string, n int) string {
	return filepath.Join(base, "locks", "slot-"+strconv.Itoa(n)+".lock")
}

func slotDir(base string, n int) string { return filepath.Join(base, "sims", strconv.Itoa(n)) }

// acquireSlot sweeps the leftovers of dead stand-ins, then takes the first free slot.
func acquireSlot(base string, root bool, logf func(string, ...any)) (*slot, error) {
	if err := os.MkdirAll(filepath.Join(base, "locks"), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", base, err)
	}
	sweepDead(base, root, logf)
	for n := 0; n < maxSlots; n++ {
		lock, ok, err := diskcache.TryLock(slotLockPath(base, n))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		s := &slot{n: n, lock: lock, dir: slotDir(base, n)}
		// Leftovers may have appeared since the sweep (an owner that died just now).
		if err := sweepSlot(base, n, root); err != nil {
			lock.Close()
			return nil, fmt.Errorf("sweep leftovers of slot %d: %w", n, err)
		}
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			lock.Close()
			return nil, fmt.Errorf("create work directory: %w", err)
		}
		owner := fmt.Sprintf("pid %d (%s) since %s\n", os.Getpid(), os.Args[0], time.Now().Format(time.RFC3339))
		if err := os.WriteFile(filepath.Join(s.dir, "owner"), []byte(owner), 0o644); err != nil {
			lock.Close()
			return nil, fmt.Errorf("write owner: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("all %d harvestersim slots in %s are in use", maxSlots, base)
}

func (s *slot) release() { s.lock.Close() }

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
	if err != nil || n >= maxSlots {
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

// slotSubnet is the /24 of a slot's switch inside 10.200.0.0/18 (RFC 1918, unused on these machines).
func slotSubnet(slot int) string { return fmt.Sprintf("10.200.%d.0/24", slot) }

// machineAddr is the machine's address on the slot's switch, where the hosts' apt proxy listens.
func machineAddr(slot int) net.IP { return net.IPv4(10, 200, byte(slot), 1) }

// hostAddr is the address of host k on the slot's switch: the address its VMI reports.
func hostAddr(slot, k int) net.IP { return net.IPv4(10, 200, byte(slot), byte(k+2)) }

// hostPodSubnet is the subnet of host k's pods (Options.RKEImages). Pods never leave their host, so
// hosts of different slots may share one.
func hostPodSubnet(k int) string { return fmt.Sprintf("10.201.%d.0/24", k) }

// noHostAddr is the address reported for VM k when fake hosts are off: a loopback address where nothing
// listens, so a driver that dials it gets "connection refused" and no traffic leaves the machine.
func noHostAddr(slot, k int) net.IP { return net.IPv4(127, 200, byte(slot), byte(k+2)) }
