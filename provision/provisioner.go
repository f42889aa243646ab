package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rancher/rke/log"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

// Provisioner builds, changes and removes clusters. Every step finds what an earlier, possibly
// killed, run already did, so Create and Update are safe to repeat.
type Provisioner struct {
	// harvesterClient builds the Harvester API client; tests point it at the local stand-in.
	harvesterClient func(harvester.Credentials) (*harvester.Client, error)
}

// New returns a Provisioner that talks to the Harvester API named in each spec.
func New() *Provisioner {
	return &Provisioner{harvesterClient: harvester.NewClient}
}

// Create brings the cluster to its spec: VMs, addresses, SSH, Docker, Kubernetes.
func (p *Provisioner) Create(ctx context.Context, spec Spec, st *State, save func(State)) error {
	return p.converge(ctx, spec, st, save)
}

// Update brings an existing cluster to a changed spec: pools are scaled (surplus nodes leave
// Kubernetes before their VMs are deleted), VMs deleted by hand are re-created, and RKE applies
// the Kubernetes version and addon changes.
func (p *Provisioner) Update(ctx context.Context, _, spec Spec, st *State, save func(State)) error {
	return p.converge(ctx, spec, st, save)
}

func (p *Provisioner) converge(ctx context.Context, spec Spec, st *State, save func(State)) error {
	if save == nil {
		save = func(State) {}
	}
	start := time.Now()
	hv, err := p.harvesterClient(spec.Access)
	if err != nil {
		return err
	}
	env, err := hv.Preflight(ctx, spec.Template)
	if err != nil {
		return err
	}
	keys, err := p.ensureKeys(ctx, hv, spec, st)
	if err != nil {
		return err
	}
	save(*st)
	cl := harvesterCluster(spec, keys)

	plan, err := hv.Plan(ctx, cl)
	if err != nil {
		return err
	}
	if len(plan.Surplus) > 0 {
		if err := p.removeSurplus(ctx, hv, spec, st, keys, plan); err != nil {
			return err
		}
		save(*st)
	}

	log.Infof(ctx, "[harvesterrke] creating VMs")
	vms, err := hv.Reconcile(ctx, cl, env)
	st.mergeVMs(vms)
	save(*st)
	if err != nil {
		return err
	}
	log.Infof(ctx, "[harvesterrke] waiting for %d VMs to run and report an address", len(vms))
	vms, err = hv.WaitForAddresses(ctx, spec.Template.Namespace, spec.Name, vms, spec.Timeouts.VMReady)
	st.mergeAddresses(vms)
	save(*st)
	if err != nil {
		return err
	}

	nodes, err := p.prepareNodes(ctx, spec, st, keys, save)
	if err != nil {
		return err
	}
	defer nodes.close()

	if err := p.kubernetesUp(ctx, spec, st, keys, nodes); err != nil {
		save(*st)
		return err
	}
	save(*st)
	log.Infof(ctx, "[harvesterrke] cluster %s is up with %d nodes (%s)", spec.Name, len(st.Nodes), time.Since(start).Round(time.Second))
	return nil
}

// removeSurplus takes the nodes a scale-down drops out of Kubernetes, then deletes their VMs.
func (p *Provisioner) removeSurplus(ctx context.Context, hv *harvester.Client, spec Spec, st *State, keys clusterKeys, plan harvester.Plan) error {
	names := make([]string, len(plan.Surplus))
	for i, n := range plan.Surplus {
		names[i] = n.Name
	}
	// Nodes that never joined Kubernetes (e.g. its first cluster up failed) need no draining.
	if len(st.RKE.State) > 0 && st.anyReached(names, PhaseKubernetes) {
		log.Infof(ctx, "[harvesterrke] removing %v from Kubernetes", names)
		kept := st.without(names)
		nodes, err := p.connect(spec, kept, keys)
		if err != nil {
			return err
		}
		defer nodes.close()
		if err := p.kubernetesUp(ctx, spec, st, keys, nodes); err != nil {
			return fmt.Errorf("remove %v from Kubernetes before deleting their VMs: %w", names, err)
		}
	}
	log.Infof(ctx, "[harvesterrke] deleting VMs %v", names)
	if err := hv.DeleteNodes(ctx, spec.Template.Namespace, spec.Name, names); err != nil {
		return err
	}
	st.Nodes = st.without(names)
	return nil
}

// Remove deletes everything the cluster has on Harvester, found by its label. RKE's cleanup of the
// nodes runs first, best effort: the VMs are deleted right after anyway.
func (p *Provisioner) Remove(ctx context.Context, spec Spec, st State) error {
	hv, err := p.harvesterClient(spec.Access)
	if err != nil {
		return err
	}
	if len(st.RKE.State) > 0 {
		p.kubernetesRemove(ctx, spec, st)
	}
	log.Infof(ctx, "[harvesterrke] deleting the VMs, volumes and secrets of cluster %s", spec.Name)
	return hv.Remove(ctx, spec.Template.Namespace, spec.Name)
}

// harvesterCluster is the VM-level view of the spec.
func harvesterCluster(spec Spec, keys clusterKeys) harvester.Cluster {
	pools := make([]harvester.Pool, len(spec.Pools))
	for i, p := range spec.Pools {
		pools[i] = harvester.Pool{Name: p.Name, Count: p.Count}
	}
	return harvester.Cluster{Name: spec.Name, Template: spec.Template, Pools: pools, Login: keys.login(spec.SSH)}
}

// rolesOf maps each pool to its Kubernetes roles.
func rolesOf(spec Spec) map[string][]string {
	out := make(map[string][]string, len(spec.Pools))
	for _, p := range spec.Pools {
		out[p.Name] = p.Roles
	}
	return out
}

// rkeConfig is RKE's view of the nodes in st.
func rkeConfig(spec Spec, nodes []Node, keys clusterKeys) (rke.Config, error) {
	roles := rolesOf(spec)
	c := rke.Config{SSHKey: keys.clientPEM, Options: spec.Kubernetes}
	for _, n := range nodes {
		if n.Address == "" {
			return c, fmt.Errorf("node %s has no address", n.Name)
		}
		c.Nodes = append(c.Nodes, rke.Node{Name: n.Name, Address: n.Address, User: spec.SSH.User, Roles: roles[n.Pool]})
	}
	return c, nil
}

var errNoCluster = errors.New("the cluster has no Kubernetes yet: create has not finished")
