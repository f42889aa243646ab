package harvestersim

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Each running stand-in holds one slot: an exclusive flock that the kernel drops when its owner dies.
// The slot number names everything the stand-in makes on the machine (netns, veths, firewall rules, work
// dir) and picks its hosts' subnet, so stand-ins in parallel test processes never collide, and a free
// slot with leftovers is known to belong to a dead owner.
const (
	maxSlots     = 64 // stand-ins running at once on a machine
	hostsPerSlot = 64 // fake hosts per stand-in: one /30 each in the slot's /24
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
		lock, ok, err := tryLockFile(slotLockPath(base, n))
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

// Names of a slot's host resources. Interface names are limited to 15 bytes: "hsim63h63" fits.
func netnsName(slot, k int) string { return fmt.Sprintf("hsim%d-%d", slot, k) }
func vethName(slot, k int) string  { return fmt.Sprintf("hsim%dh%d", slot, k) }
func netnsPrefix(slot int) string  { return fmt.Sprintf("hsim%d-", slot) }
func vethPrefix(slot int) string   { return fmt.Sprintf("hsim%dh", slot) }

// slotSubnet is the /24 of a slot's hosts inside 10.200.0.0/18 (RFC 1918, unused on these machines).
func slotSubnet(slot int) string { return fmt.Sprintf("10.200.%d.0/24", slot) }

// hostAddrs are the two ends of host k's /30: the machine side (where its apt proxy listens) and the VM
// side (the address its VMI reports).
func hostAddrs(slot, k int) (machine, vm net.IP) {
	return net.IPv4(10, 200, byte(slot), byte(4*k+1)), net.IPv4(10, 200, byte(slot), byte(4*k+2))
}

// noHostAddr is the address reported for VM k when fake hosts are off: a loopback address where nothing
// listens, so a driver that dials it gets "connection refused" and no traffic leaves the machine.
func noHostAddr(slot, k int) net.IP { return net.IPv4(127, 200, byte(slot), byte(k+2)) }
