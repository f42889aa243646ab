package rke

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/rancher/rke/hosts"
)

// DockerDialer connects to the Docker socket of the node at address (the driver tunnels it over
// SSH with strict host keys). It must give up when ctx ends.
type DockerDialer func(ctx context.Context, address string) (net.Conn, error)

// PortDialer connects to target (host:port) as seen from the node at address. RKE's health checks
// dial ports such as localhost:10248, which kubelet binds to the loopback interface only.
type PortDialer func(ctx context.Context, address, target string) (net.Conn, error)

// Dialers are how RKE reaches the nodes.
type Dialers struct {
	Docker DockerDialer
	// Port is optional. Without it RKE's health checks dial straight from this process, with
	// localhost replaced by the node's address: enough for etcd and the API server, not for the
	// kubelet and kube-proxy health ports, which listen on the node's loopback only.
	Port PortDialer
}

// nodeDialers adapts Dialers to RKE's dialer factories, which take no context: the call's
// context is bound here. It remembers the first Docker dial failure per node, because RKE only
// logs them and then reports a missing etcd host.
type nodeDialers struct {
	ctx   context.Context
	d     Dialers
	names map[string]string // address → node name

	mu       sync.Mutex
	order    []string         // node addresses in configuration order
	failures map[string]error // address → first Docker dial error
}

func newNodeDialers(ctx context.Context, d Dialers, nodes []Node) (*nodeDialers, error) {
	if d.Docker == nil {
		return nil, errors.New("no Docker dialer")
	}
	nd := &nodeDialers{ctx: ctx, d: d, names: map[string]string{}, failures: map[string]error{}}
	for _, n := range nodes {
		nd.names[n.Address] = n.Name
		nd.order = append(nd.order, n.Address)
	}
	return nd, nil
}

func (nd *nodeDialers) options() hosts.DialersOptions {
	return hosts.GetDialerOptions(nd.dockerFactory, nd.portFactory, nil)
}

func (nd *nodeDialers) dockerFactory(h *hosts.Host) (func(network, addr string) (net.Conn, error), error) {
	address := h.Address
	return func(string, string) (net.Conn, error) { return nd.dialDocker(address) }, nil
}

func (nd *nodeDialers) dialDocker(address string) (net.Conn, error) {
	conn, err := nd.d.Docker(nd.ctx, address)
	if err != nil {
		err = fmt.Errorf("node %s (%s): docker socket: %w", nd.names[address], address, err)
		nd.record(address, err)
	}
	return conn, err
}

func (nd *nodeDialers) portFactory(h *hosts.Host) (func(network, addr string) (net.Conn, error), error) {
	address := h.Address
	if nd.d.Port != nil {
		return func(_, target string) (net.Conn, error) {
			return nd.d.Port(nd.ctx, address, target)
		}, nil
	}
	var dialer net.Dialer
	return func(network, target string) (net.Conn, error) {
		return dialer.DialContext(nd.ctx, network, fromOutside(address, target))
	}, nil
}

// fromOutside rewrites a loopback target of the node at address into one reachable from here.
func fromOutside(address, target string) string {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return target
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return net.JoinHostPort(address, port)
	}
	return target
}

// probe dials every node's Docker socket once, in parallel, and reports the unreachable nodes'
// addresses. RKE's own handling of unreachable nodes (cluster.TunnelHosts) appends to a shared
// list from concurrent goroutines, so several failing nodes must not get that far.
func (nd *nodeDialers) probe(nodes []Node) map[string]bool {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if conn, err := nd.dialDocker(n.Address); err == nil {
				_ = conn.Close()
			}
		}()
	}
	wg.Wait()
	nd.mu.Lock()
	defer nd.mu.Unlock()
	unreachable := map[string]bool{}
	for address := range nd.failures {
		unreachable[address] = true
	}
	return unreachable
}

func (nd *nodeDialers) record(address string, err error) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if _, seen := nd.failures[address]; !seen {
		nd.failures[address] = err
	}
}

// explain adds the nodes that could not be reached to an error.
func (nd *nodeDialers) explain(err error) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	errs := []error{err}
	for _, address := range nd.order {
		if f, ok := nd.failures[address]; ok {
			errs = append(errs, f)
		}
	}
	return errors.Join(errs...)
}
