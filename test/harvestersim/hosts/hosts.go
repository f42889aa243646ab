// Package hosts runs the fake hosts that stand in for running VMs, and their network: each host is a
// network namespace on the stand-in's switch with mount, UTS, IPC and PID namespaces in which a
// copy-on-write Debian root filesystem boots with the VM's cloud-init applied and a real OpenSSH
// server as PID 1. It also makes what hosts share (the switch, the allow-listed apt proxy, the
// firewall guard), keeps the machine's cgroups and sysctls apart from theirs, finds what they leave
// behind and removes what a dead stand-in's hosts left.
package hosts

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/cloudinit"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hostimage"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/internal/proc"
)

// Config says where a Manager makes hosts and whom it tells about them.
type Config struct {
	Slot       int                   // the stand-in's slot: names and addresses
	Dir        string                // where hosts keep their files
	NoHosts    bool                  // only hand out addresses (loopback ones where nothing listens)
	Kubernetes *hostimage.Kubernetes // not nil: hosts are made ready for RKE
	Registry   *proc.Registry
	Logf       func(string, ...any)
	Changed    func()           // called after any host change, for waiters on leftovers
	Booted     func(key string) // called when a host's start completes (or fails)
}

// State is what the simulator sees of a VM's host.
type State struct {
	IP string // the first address of its first NIC, "" if it has none
	// Interfaces are its NICs in the VM's order with the addresses the host has (planned until it booted).
	Interfaces []Interface
	Started    time.Time // when the VM was started: boot delays count from here
	Booted     bool      // cloud-init's init stage is done: the guest agent would report the address
	Err        error     // the host could not be started
	k          int       // the host's index in the slot
	nics       int       // how many NICs (switch ports) it has
}

type entry struct {
	state  State
	host   *host
	cancel context.CancelFunc
	done   chan struct{} // the start goroutine has finished
}

// Manager owns the fake hosts of one stand-in, by VM key ("<namespace>/<name>"): which VM has which
// index (address), the hosts being started in the background, and their teardown.
type Manager struct {
	cfg Config

	mu      sync.Mutex
	entries map[string]*entry
	used    [hostsPerSlot]bool
	bridges networkBridges
}

// NewManager makes a Manager without hosts.
func NewManager(cfg Config) *Manager {
	return &Manager{cfg: cfg, entries: map[string]*entry{}}
}

// NoHosts reports whether the Manager only hands out addresses.
func (m *Manager) NoHosts() bool { return m.cfg.NoHosts }

// Ensure starts the VM's host unless it has one, and returns its state; Config.Booted is called (from
// another goroutine) when the start completes.
func (m *Manager) Ensure(key string, spec Spec) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok {
		return e.state, nil
	}
	k := -1
	for i, u := range m.used {
		if !u {
			k = i
			break
		}
	}
	if k < 0 {
		return State{}, fmt.Errorf("no room for a host for %s: all %d in use", key, hostsPerSlot)
	}
	m.used[k] = true
	spec.kube = m.cfg.Kubernetes
	spec.links = m.links(key, k, spec.NICs)
	spec.Boot.Network = cloudinit.ParseNetwork(spec.NetworkData)
	spec.Boot.Links = plan(spec.links, spec.Boot.Network)
	ctx, cancel := context.WithCancel(context.Background())
	e := &entry{state: State{k: k, nics: len(spec.links), Started: time.Now()}, cancel: cancel, done: make(chan struct{})}
	e.state.Interfaces = planned(spec.links, spec.Boot.Links)
	e.state.IP = firstIP(e.state.Interfaces)
	m.entries[key] = e
	if m.cfg.NoHosts {
		e.state.Booted = true
		close(e.done)
		go m.cfg.Changed()
		return e.state, nil
	}
	go func() {
		defer close(e.done)
		h, err := startHost(ctx, m.cfg.Slot, k, filepath.Join(m.cfg.Dir, strconv.Itoa(k)), spec, m.cfg.Registry, m.cfg.Logf)
		m.mu.Lock()
		if err != nil {
			e.state.Err = err
		} else {
			e.host, e.state.Booted = h, true
			e.state.Interfaces, e.state.IP = h.interfaces, firstIP(h.interfaces)
		}
		m.mu.Unlock()
		m.cfg.Changed()
		m.cfg.Booted(key)
	}()
	return e.state, nil
}

// Get returns the state of the VM's host, if it has one.
func (m *Manager) Get(key string) (State, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok {
		return State{}, false
	}
	return e.state, true
}

// Describe names the VM's host for a list of leftovers: its network namespace and address.
func (m *Manager) Describe(key string) (string, bool) {
	st, ok := m.Get(key)
	if !ok {
		return "", false
	}
	where := st.IP
	if !m.cfg.NoHosts {
		where = netnsName(m.cfg.Slot, st.k) + ", " + st.IP
	}
	return fmt.Sprintf("host %s (%s)", key, where), true
}

// Remove tears the VM's host down (cancelling a start in progress); absent hosts are fine.
func (m *Manager) Remove(key string) error {
	m.mu.Lock()
	e, ok := m.entries[key]
	m.mu.Unlock()
	if !ok {
		return nil
	}
	e.cancel()
	<-e.done
	var err error
	if e.host != nil {
		err = e.host.stop()
	}
	m.mu.Lock()
	delete(m.entries, key)
	m.used[e.state.k] = false
	m.mu.Unlock()
	m.cfg.Changed()
	return err
}

// Keys lists the VMs that have hosts, sorted.
func (m *Manager) Keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.entries))
	for k := range m.entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// running returns the running host of a VM.
func (m *Manager) running(key string) (*host, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	switch {
	case !ok:
		return nil, fmt.Errorf("VM %s has no host", key)
	case e.host == nil:
		return nil, fmt.Errorf("the host of VM %s is not running", key)
	}
	return e.host, nil
}

// Exec runs argv as root inside the VM's host and returns its standard output (its standard error is
// in the error when it fails).
func (m *Manager) Exec(ctx context.Context, key string, argv ...string) ([]byte, error) {
	if m.cfg.NoHosts {
		return nil, fmt.Errorf("exec on %s: this stand-in runs no fake hosts", key)
	}
	h, err := m.running(key)
	if err != nil {
		return nil, fmt.Errorf("exec on %s: %w", key, err)
	}
	return h.exec(ctx, argv...)
}

// InitPIDs returns the PID of each running host's init, by "host <namespace>/<name>".
func (m *Manager) InitPIDs() map[string]int {
	out := map[string]int{}
	if m.cfg.NoHosts {
		return out
	}
	for _, k := range m.Keys() {
		if h, err := m.running(k); err == nil {
			if pid, err := h.initPID(); err == nil {
				out["host "+k] = pid
			}
		}
	}
	return out
}

// RemoveAll tears every host down.
func (m *Manager) RemoveAll() error {
	var errs []error
	for _, k := range m.Keys() {
		if err := m.Remove(k); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("tear down hosts: %v", errs)
	}
	return nil
}

// Leftovers lists the network namespaces, switch ports and cgroups of the stand-in's slot that no
// host accounts for.
func (m *Manager) Leftovers(ctx context.Context) ([]string, error) {
	if m.cfg.NoHosts {
		return nil, nil
	}
	slot := m.cfg.Slot
	live := map[string]bool{switchNetns(slot): true}
	for _, k := range m.Keys() {
		if st, ok := m.Get(k); ok {
			live[netnsName(slot, st.k)] = true
			live[switchPort(st.k)] = true
			for i := 1; i < st.nics; i++ {
				live[extraPort(st.k, i)] = true
			}
			live[hostCgroup(slot, st.k)] = true
		}
	}
	var found []string
	names, err := netnsNames(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if strings.HasPrefix(n, netnsPrefix(slot)) && !live[n] {
			found = append(found, "netns "+n)
		}
	}
	ports, err := switchPorts(ctx, slot)
	if err != nil {
		return nil, err
	}
	for _, p := range ports {
		if !live[p] {
			found = append(found, "switch port "+p)
		}
	}
	for _, c := range slotCgroups(slot) {
		if !live[c] {
			found = append(found, "cgroup "+strings.Join(cgroupDirs(c), ", "))
		}
	}
	return found, nil
}

// generatedMAC is a stable, locally administered MAC for a VM that did not ask for one.
func generatedMAC(key string) string {
	h := sha256.Sum256([]byte(key))
	return net.HardwareAddr{0x02, 0x5c, h[0], h[1], h[2], h[3]}.String()
}
