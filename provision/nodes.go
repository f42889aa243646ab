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

// nodeSet is a set of nodes with the SSH dialer that reaches them (strict host keys).
type nodeSet struct {
	nodes     []Node
	dialer    *ssh.Dialer
	endpoints map[string]ssh.Endpoint // by address
}

func (s *nodeSet) close() { _ = s.dialer.Close() }

// connect prepares SSH access to nodes; connections are made on first use.
func (p *Provisioner) connect(spec Spec, nodes []Node, keys clusterKeys) (*nodeSet, error) {
	dialer, err := ssh.NewDialer(keys.dialerConfig(spec.SSH))
	if err != nil {
		return nil, err
	}
	set := &nodeSet{nodes: nodes, dialer: dialer, endpoints: make(map[string]ssh.Endpoint, len(nodes))}
	for _, n := range nodes {
		ep, err := keys.endpoint(spec.SSH, n)
		if err != nil {
			set.close()
			return nil, err
		}
		set.endpoints[n.Address] = ep
	}
	return set, nil
}

// dialers let RKE reach each node's Docker socket and loopback ports through the SSH connections.
func (s *nodeSet) dialers() rke.Dialers {
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

// prepareNodes waits until every node accepts SSH logins, then makes sure Docker runs on all of
// them, all nodes in parallel.
func (p *Provisioner) prepareNodes(ctx context.Context, spec Spec, st *State, keys clusterKeys, save func(State)) (*nodeSet, error) {
	set, err := p.connect(spec, st.Nodes, keys)
	if err != nil {
		return nil, err
	}
	clients, err := p.waitForSSH(ctx, spec, st, set)
	save(*st)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		set.close()
		return nil, err
	}

	start := time.Now()
	log.Infof(ctx, "[harvesterrke] making sure Docker runs on %d nodes", len(st.Nodes))
	cfg := spec.Docker
	version := spec.Kubernetes.KubernetesVersion
	if version == "" {
		version = rke.DefaultVersion()
	}
	cfg.SupportedVersions = rke.DockerVersions(version)
	cfg.IgnoreUnsupportedVersion = cfg.IgnoreUnsupportedVersion || spec.Kubernetes.IgnoreDockerVersion
	nodes := make([]docker.Node, len(st.Nodes))
	for i, n := range st.Nodes {
		nodes[i] = docker.Node{Name: n.Name, User: spec.SSH.User, Runner: clients[i]}
	}
	results, err := docker.Bootstrap(ctx, cfg, nodes, docker.Options{Concurrency: concurrency})
	var ready []string
	for _, r := range results {
		if r.Version != "" {
			ready = append(ready, r.Node)
		}
	}
	st.setPhase(ready, PhaseDocker)
	save(*st)
	if err != nil {
		set.close()
		return nil, err
	}
	log.Infof(ctx, "[harvesterrke] Docker runs on %d nodes (%s)", len(ready), time.Since(start).Round(time.Millisecond))
	return set, nil
}

// waitForSSH connects to every node within the SSH timeout and records host keys learned on first
// use. It returns one client per node (nil where it failed) and every node's failure.
func (p *Provisioner) waitForSSH(ctx context.Context, spec Spec, st *State, set *nodeSet) ([]*ssh.Client, error) {
	start := time.Now()
	log.Infof(ctx, "[harvesterrke] waiting for SSH on %d nodes", len(st.Nodes))
	waitCtx, cancel := context.WithTimeout(ctx, spec.Timeouts.SSHReady)
	defer cancel()
	clients := make([]*ssh.Client, len(st.Nodes))
	errs := make([]error, len(st.Nodes))
	var mu sync.Mutex
	g := errgroup.Group{}
	g.SetLimit(concurrency)
	for i, n := range st.Nodes {
		g.Go(func() error {
			c, err := set.dialer.WaitReady(waitCtx, set.endpoints[n.Address])
			if err != nil {
				errs[i] = err
				return nil
			}
			clients[i] = c
			mu.Lock()
			defer mu.Unlock()
			if spec.SSH.TrustOnFirstUse {
				st.Nodes[i].HostKey = ssh.MarshalPublicKey(c.HostKey())
			}
			st.Nodes[i].advance(PhaseSSH)
			log.Infof(ctx, "[harvesterrke] %s: SSH ready at %s (%s)", n.Name, n.Address, time.Since(start).Round(time.Millisecond))
			return nil
		})
	}
	_ = g.Wait()
	return clients, errors.Join(errs...)
}

// kubernetesUp runs RKE's cluster up over the nodes of set. RKE's files are kept in the state also
// when it fails part way, so the next run continues from them.
func (p *Provisioner) kubernetesUp(ctx context.Context, spec Spec, st *State, keys clusterKeys, set *nodeSet) error {
	cfg, err := rkeConfig(spec, set.nodes, keys)
	if err != nil {
		return err
	}
	start := time.Now()
	log.Infof(ctx, "[harvesterrke] running RKE cluster up on %d nodes", len(cfg.Nodes))
	res, err := rke.Up(ctx, cfg, st.RKE, set.dialers())
	if len(res.Files.State) > 0 {
		st.RKE = res.Files
	}
	if err != nil {
		return err
	}
	names := make([]string, len(set.nodes))
	for i, n := range set.nodes {
		names[i] = n.Name
	}
	st.setPhase(names, PhaseKubernetes)
	log.Infof(ctx, "[harvesterrke] Kubernetes is up at %s (%s)", res.Endpoint, time.Since(start).Round(time.Second))
	return nil
}

// kubernetesRemove runs RKE's cluster remove, best effort and bounded: the VMs go away right after.
func (p *Provisioner) kubernetesRemove(ctx context.Context, spec Spec, st State) {
	const bound = 2 * time.Minute
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	err := func() error {
		keys, err := keysFromState(spec, st)
		if err != nil {
			return err
		}
		set, err := p.connect(spec, st.Nodes, keys)
		if err != nil {
			return err
		}
		defer set.close()
		cfg, err := rkeConfig(spec, st.Nodes, keys)
		if err != nil {
			return err
		}
		return rke.Remove(ctx, cfg, set.dialers())
	}()
	if err != nil {
		log.Warnf(ctx, "[harvesterrke] RKE cluster remove did not finish (the VMs are deleted anyway): %v", err)
	}
}

// The Docker bootstrap runs its script through the SSH clients.
var _ docker.Runner = (*ssh.Client)(nil)
