package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rancher/rke/log"
	"golang.org/x/sync/errgroup"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/docker"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/ssh"
)

// concurrency bounds the nodes worked on at once over SSH.
const concurrency = 10

// nodeSteps reaches the nodes themselves. The real steps speak SSH (sshSteps); the orchestrator's
// unit tests replace them.
type nodeSteps interface {
	// open prepares access to nodes; connections are made on first use and kept until close.
	open(spec Spec, keys clusterKeys, nodes []Node) (nodeSession, error)
}

// nodeSession is the work done on one set of nodes.
type nodeSession interface {
	// prepare waits until every node accepts SSH logins, then makes sure Docker runs on all of
	// them, all nodes in parallel. It reports, in the order of the nodes, how far each got.
	prepare(ctx context.Context) ([]prepared, error)
	// up runs RKE's cluster up with the files of the previous run; the result's files are what
	// RKE left, also when it failed.
	up(ctx context.Context, cfg rke.Config, files rke.Files) (rke.Result, error)
	// snapshot saves, restores or removes the etcd snapshot name.
	snapshot(ctx context.Context, op snapshotOp, cfg rke.Config, files rke.Files, name string) (rke.Result, error)
	close()
}

// snapshotOp is what snapshot does.
type snapshotOp int

const (
	snapshotSave snapshotOp = iota
	snapshotRestore
	snapshotRemove
)

// prepared is how far prepare got on one node.
type prepared struct {
	Phase   Phase  // PhaseSSH or PhaseDocker; empty when SSH never answered
	HostKey string // the key it presented, with trust on first use
}

// sshSteps are the real node steps.
type sshSteps struct{}

// sshSession is a set of nodes with the SSH dialer that reaches them (strict host keys).
type sshSession struct {
	spec      Spec
	nodes     []Node
	dialer    *ssh.Dialer
	endpoints map[string]ssh.Endpoint // by address
}

func (sshSteps) open(spec Spec, keys clusterKeys, nodes []Node) (nodeSession, error) {
	dialer, err := ssh.NewDialer(keys.dialerConfig(spec.SSH))
	if err != nil {
		return nil, err
	}
	s := &sshSession{spec: spec, nodes: nodes, dialer: dialer, endpoints: make(map[string]ssh.Endpoint, len(nodes))}
	for _, n := range nodes {
		if n.Address == "" {
			s.close()
			return nil, fmt.Errorf("node %s has no address", n.Name)
		}
		ep, err := keys.endpoint(spec.SSH, n)
		if err != nil {
			s.close()
			return nil, err
		}
		s.endpoints[n.Address] = ep
	}
	return s, nil
}

func (s *sshSession) close() { _ = s.dialer.Close() }

func (s *sshSession) up(ctx context.Context, cfg rke.Config, files rke.Files) (rke.Result, error) {
	return rke.Up(ctx, cfg, files, s.dialers())
}

func (s *sshSession) snapshot(ctx context.Context, op snapshotOp, cfg rke.Config, files rke.Files, name string) (rke.Result, error) {
	switch op {
	case snapshotSave:
		return rke.Result{}, rke.SnapshotSave(ctx, cfg, files, s.dialers(), name)
	case snapshotRestore:
		return rke.SnapshotRestore(ctx, cfg, files, s.dialers(), name)
	default:
		return rke.Result{}, rke.SnapshotRemove(ctx, cfg, files, s.dialers(), name)
	}
}

// dialers let RKE reach each node's Docker socket and loopback ports through the SSH connections.
func (s *sshSession) dialers() rke.Dialers {
	lookup := func(address string) (ssh.Endpoint, error) {
		ep, ok := s.endpoints[address]
		if !ok {
			return ep, fmt.Errorf("no node has address %s", address)
		}
		return ep, nil
	}
	return rke.Dialers{
		Docker: func(ctx context.Context, address string) (net.Conn, error) {
			ep, err := lookup(address)
			if err != nil {
				return nil, err
			}
			return s.dialer.DockerDialer(ctx, ep, "")("unix", ssh.DefaultDockerSocket)
		},
		Port: func(ctx context.Context, address, target string) (net.Conn, error) {
			ep, err := lookup(address)
			if err != nil {
				return nil, err
			}
			return s.dialer.NodeDialer(ctx, ep)("tcp", target)
		},
	}
}

func (s *sshSession) prepare(ctx context.Context) ([]prepared, error) {
	out := make([]prepared, len(s.nodes))
	clients, err := s.waitForSSH(ctx, out)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		return out, err
	}
	start := time.Now()
	log.Infof(ctx, "[harvesterrke] making sure Docker runs on %d nodes", len(s.nodes))
	cfg := dockerConfig(s.spec)
	nodes := make([]docker.Node, len(s.nodes))
	for i, n := range s.nodes {
		nodes[i] = docker.Node{Name: n.Name, User: s.spec.SSH.User, Runner: clients[i]}
	}
	opts := docker.Options{Concurrency: concurrency}
	if s.spec.PrepullImages {
		opts.Ready = s.prepullNode
	}
	results, err := docker.Bootstrap(ctx, cfg, nodes, opts)
	ready := 0
	for i, r := range results {
		if r.Version != "" {
			out[i].Phase = PhaseDocker
			ready++
		}
	}
	if err != nil {
		return out, err
	}
	log.Infof(ctx, "[harvesterrke] Docker runs on %d nodes (%s)", ready, time.Since(start).Round(time.Millisecond))
	return out, nil
}

// prepullNode pulls the images RKE will need on node i through its Docker socket.
func (s *sshSession) prepullNode(ctx context.Context, i int) error {
	n := s.nodes[i]
	roles := rolesOf(s.spec)[n.Pool]
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return s.dialer.DockerDialer(ctx, s.endpoints[n.Address], "")("unix", ssh.DefaultDockerSocket)
	}
	return prepull(ctx, s.spec, n.Name, roles, dial)
}

// dockerConfig is the Docker engine spec asks for, with what RKE requires of it.
func dockerConfig(spec Spec) docker.Config {
	cfg := spec.Docker
	version := spec.Kubernetes.KubernetesVersion
	if version == "" {
		version = rke.DefaultVersion()
	}
	cfg.SupportedVersions = rke.DockerVersions(version)
	cfg.IgnoreUnsupportedVersion = spec.Kubernetes.IgnoreDockerVersion
	if len(spec.Registry.CACert) > 0 {
		cfg.RegistryCA = docker.RegistryCA{Host: spec.Registry.URL, PEM: spec.Registry.CACert}
	}
	return cfg
}

// waitForSSH connects to every node within the SSH timeout, noting in out the nodes that answered
// and the host keys they presented. It returns one client per node (nil where it failed) and every
// node's failure.
func (s *sshSession) waitForSSH(ctx context.Context, out []prepared) ([]*ssh.Client, error) {
	start := time.Now()
	log.Infof(ctx, "[harvesterrke] waiting for SSH on %d nodes", len(s.nodes))
	waitCtx, cancel := context.WithTimeout(ctx, s.spec.Timeouts.SSHReady)
	defer cancel()
	clients := make([]*ssh.Client, len(s.nodes))
	errs := make([]error, len(s.nodes))
	var mu sync.Mutex
	g := errgroup.Group{}
	g.SetLimit(concurrency)
	for i, n := range s.nodes {
		g.Go(func() error {
			c, err := s.dialer.WaitReady(waitCtx, s.endpoints[n.Address])
			if err != nil {
				errs[i] = err
				return nil
			}
			clients[i] = c
			mu.Lock()
			defer mu.Unlock()
			out[i].Phase = PhaseSSH
			if s.spec.SSH.TrustOnFirstUse {
				out[i].HostKey = ssh.MarshalPublicKey(c.HostKey())
			}
			log.Infof(ctx, "[harvesterrke] %s: SSH ready at %s (%s)", n.Name, n.Address, time.Since(start).Round(time.Millisecond))
			return nil
		})
	}
	_ = g.Wait()
	return clients, errors.Join(errs...)
}

// The Docker bootstrap runs its script through the SSH clients.
var _ docker.Runner = (*ssh.Client)(nil)
