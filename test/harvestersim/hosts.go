package harvestersim

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// hostState is what the controller sees of a VM's host.
type hostState struct {
	k       int
	ip      string
	mac     string
	started time.Time // when the VM was started: boot delays count from here
	booted  bool      // cloud-init's init stage is done: the guest agent would report the address
	err     error     // the host could not be started
}

type hostEntry struct {
	state  hostState
	host   *host
	cancel context.CancelFunc
	done   chan struct{} // the start goroutine has finished
}

// hostManager owns the fake hosts of one stand-in: which VM has which index (address), the hosts being
// started in the background, and their teardown. With noHosts it only hands out addresses.
type hostManager struct {
	slot    int
	dir     string
	noHosts bool
	kube    *kubeSupport // hosts are made ready for Kubernetes (Options.RKEImages)
	reg     *pidFile
	logf    func(string, ...any)
	changed func()           // called after any host change, for waiters on leftovers
	booted  func(key string) // called when a host's start completes (or fails)

	mu      sync.Mutex
	entries map[string]*hostEntry // by VM key
	used    [hostsPerSlot]bool
}

// ensure starts the VM's host unless it has one, and returns its state; booted is called (from another
// goroutine) when the start completes.
func (m *hostManager) ensure(key string, spec hostSpec) (hostState, error) {
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
		return hostState{}, fmt.Errorf("no room for a host for %s: all %d in use", key, hostsPerSlot)
	}
	m.used[k] = true
	if spec.mac == "" {
		spec.mac = generatedMAC(key)
	}
	spec.kube = m.kube
	ctx, cancel := context.WithCancel(context.Background())
	e := &hostEntry{state: hostState{k: k, mac: spec.mac, started: time.Now()}, cancel: cancel, done: make(chan struct{})}
	m.entries[key] = e
	if m.noHosts {
		e.state.ip, e.state.booted = noHostAddr(m.slot, k).String(), true
		close(e.done)
		go m.changed()
		return e.state, nil
	}
	e.state.ip = hostAddr(m.slot, k).String()
	go func() {
		defer close(e.done)
		h, err := startHost(ctx, m.slot, k, filepath.Join(m.dir, strconv.Itoa(k)), spec, m.reg, m.logf)
		m.mu.Lock()
		if err != nil {
			e.state.err = err
		} else {
			e.host, e.state.booted = h, true
		}
		m.mu.Unlock()
		m.changed()
		m.booted(key)
	}()
	return e.state, nil
}

func (m *hostManager) get(key string) (hostState, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok {
		return hostState{}, false
	}
	return e.state, true
}

// remove tears the VM's host down (cancelling a start in progress); absent hosts are fine.
func (m *hostManager) remove(key string) error {
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
	m.changed()
	return err
}

func (m *hostManager) keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.entries))
	for k := range m.entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// host returns the running host of a VM.
func (m *hostManager) host(key string) (*host, error) {
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

// removeAll tears every host down.
func (m *hostManager) removeAll() error {
	var errs []error
	for _, k := range m.keys() {
		if err := m.remove(k); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("tear down hosts: %v", errs)
	}
	return nil
}

// generatedMAC is a stable, locally administered MAC for a VM that did not ask for one.
func generatedMAC(key string) string {
	h := sha256.Sum256([]byte(key))
	return net.HardwareAddr{0x02, 0x5c, h[0], h[1], h[2], h[3]}.String()
}
