package hosts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Network is what the hosts of a stand-in share: the firewall guard, the switch with the apt proxy
// on the machine's side, and the record of the machine's sysctls that the hosts must leave alone.
type Network struct {
	slot     int
	firewall bool         // the guard rules are in
	switched bool         // the switch (maybe half made) is there
	proxy    *http.Server // the hosts' apt proxy
	tunables tunables     // the machine's sysctls when the network was made
}

// StartNetwork makes the slot's network; kubernetes checks first that the kernel has what hosts
// running Kubernetes need. On failure it removes what it made.
func StartNetwork(ctx context.Context, slot int, mirror string, kubernetes bool, logf func(string, ...any)) (n *Network, err error) {
	if kubernetes {
		if err := checkKernelForKubernetes(ctx); err != nil {
			return nil, err
		}
	}
	n = &Network{slot: slot}
	defer func() {
		if err != nil {
			if cerr := n.Close(); cerr != nil {
				err = fmt.Errorf("%w (and removing it: %v)", err, cerr)
			}
			n = nil
		}
	}()
	if n.tunables, err = readTunables(); err != nil {
		return n, err
	}
	if err := addFirewall(ctx, slot); err != nil {
		return n, err
	}
	n.firewall = true
	n.switched = true // set first: Close removes a half-made switch too
	if err := createSwitch(ctx, slot); err != nil {
		return n, err
	}
	proxy := newAptProxy([]string{mirror}, logf)
	if n.proxy, err = proxy.serve(ctx, aptProxyAddr(slot)); err != nil {
		return n, fmt.Errorf("start the hosts' apt proxy: %w", err)
	}
	return n, nil
}

// Leftovers lists the machine's sysctls that changed since the network was made.
func (n *Network) Leftovers() ([]string, error) {
	changed, _, err := n.tunables.changed()
	if err != nil {
		return nil, err
	}
	found := make([]string, len(changed))
	for i, c := range changed {
		found[i] = "sysctl " + c
	}
	return found, nil
}

// Close removes the network; a machine sysctl a host changed is restored, and reported as an error.
// The hosts must be gone.
func (n *Network) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if n.proxy != nil {
		_ = n.proxy.Close()
	}
	if n.switched {
		errs = append(errs, deleteSwitch(ctx, n.slot))
	}
	if n.firewall {
		errs = append(errs, removeFirewall(ctx, n.slot))
	}
	if n.tunables != nil {
		errs = append(errs, n.tunables.restore())
	}
	return errors.Join(errs...)
}
