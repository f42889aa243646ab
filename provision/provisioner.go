package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rancher/rke/log"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/addons"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/kubeaccess"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

// Provisioner builds, changes and removes clusters. Every step finds what an earlier, possibly
// killed, run already did, so Create and Update are safe to repeat.
type Provisioner struct {
	// harvesterClient builds the Harvester API client for credentials; the orchestrator's unit
	// tests return clients over fake clientsets.
	harvesterClient func(harvester.Credentials) (*harvester.Client, error)
	// steps reach the nodes (SSH, Docker, RKE); the unit tests fake them.
	steps nodeSteps
}

// New returns a Provisioner that talks to the Harvester API named in each spec.
func New() *Provisioner {
	return &Provisioner{harvesterClient: harvester.NewClient, steps: sshSteps{}}
}

// Create brings a new cluster to its spec: VMs, addresses, SSH, Docker, Kubernetes. Given the
// state of an earlier attempt, it finishes what that attempt started.
func (p *Provisioner) Create(ctx context.Context, spec Spec, st *State, save func(State)) error {
	return p.converge(ctx, spec, st, save)
}

// Update brings an existing cluster to a changed spec: pools are scaled (surplus nodes leave
// Kubernetes before their VMs are deleted), VMs deleted by hand are re-created, and RKE applies
// the Kubernetes version and addon changes.
func (p *Provisioner) Update(ctx context.Context, spec Spec, st *State, save func(State)) error {
	return p.converge(ctx, spec, st, save)
}

func (p *Provisioner) converge(ctx context.Context, spec Spec, st *State, save func(State)) error {
	if save == nil {
		save = func(State) {}
	}
	start := time.Now()
	hv, err := p.openForChange(ctx, spec, st, save)
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
	if hv, err = p.ensureIdentity(ctx, hv, spec, st); err != nil {
		return err
	}
	save(*st)
	if spec.CloudProvider.Enabled {
		if err := p.ensureCloudProvider(ctx, hv, spec, st); err != nil {
			return err
		}
		save(*st)
	}
	cl := harvesterCluster(spec, st.ClusterID, keys)
	ns := spec.Template.Namespace
	if err := hv.AdoptLegacy(ctx, ns, spec.Template.NamePrefix, poolNames(spec), cl.Owner); err != nil {
		return err
	}

	// One look at the cluster's VMs decides everything this call does to them. A failed look
	// changes nothing in the state: the nodes it knows keep their host keys and phases.
	vms, err := hv.List(ctx, ns, cl.Owner)
	if err != nil {
		return err
	}
	st.observe(vms)
	st.sortNodes(poolNames(spec))
	plan, err := harvester.PlanVMs(cl, vms)
	if err != nil {
		return err
	}
	if len(plan.Surplus) > 0 {
		if err := p.removeSurplus(ctx, hv, spec, st, keys, cl.Owner, plan.Surplus); err != nil {
			save(*st)
			return err
		}
		save(*st)
	}
	if len(plan.Missing) > 0 || len(plan.Keep) > 0 {
		log.Infof(ctx, "[harvesterrke] creating VMs")
	}
	created, err := hv.CreateNodes(ctx, cl, env, plan)
	st.addCreated(created)
	st.sortNodes(poolNames(spec))
	save(*st)
	if err != nil {
		return err
	}
	if err := p.ensureAPIAddress(ctx, hv, spec, st); err != nil {
		return err
	}
	save(*st)

	log.Infof(ctx, "[harvesterrke] waiting for %d VMs to run and report an address", len(st.Nodes))
	withAddr, err := hv.WaitForAddresses(ctx, ns, cl.Owner, st.vms(), spec.Timeouts.VMReady)
	st.mergeAddresses(withAddr)
	save(*st)
	if err != nil {
		return err
	}

	session, err := p.steps.open(spec, keys, st.Nodes)
	if err != nil {
		return err
	}
	defer session.close()
	results, err := session.prepare(ctx)
	for i, r := range results {
		if r.HostKey != "" {
			st.Nodes[i].HostKey = r.HostKey
		}
		st.Nodes[i].advance(r.Phase)
	}
	p.recordFacts(ctx, hv, spec, st, st.Nodes)
	save(*st)
	if err != nil {
		return err
	}

	if err := p.dropLostEtcdMembers(ctx, spec, st, session); err != nil {
		save(*st)
		return err
	}
	err = p.kubernetesUp(ctx, spec, st, session, st.Nodes)
	p.recordFacts(ctx, hv, spec, st, st.Nodes)
	save(*st)
	if err != nil {
		return err
	}
	if spec.CloudProvider.Enabled {
		if err := applyAddons(ctx, spec, *st); err != nil {
			return err
		}
	}
	log.Infof(ctx, "[harvesterrke] cluster %s is up with %d nodes (%s)", spec.Name, len(st.Nodes), time.Since(start).Round(time.Second))
	return nil
}

// removeSurplus takes the nodes a scale-down drops out of Kubernetes, then deletes their VMs.
func (p *Provisioner) removeSurplus(ctx context.Context, hv *harvester.Client, spec Spec, st *State, keys clusterKeys, owner harvester.Owner, surplus []harvester.VM) error {
	names := make([]string, len(surplus))
	for i, vm := range surplus {
		names[i] = vm.Name
	}
	// Nodes that never joined Kubernetes (e.g. its first cluster up failed) need no draining.
	if len(st.RKE.State) > 0 && st.anyReached(names, PhaseKubernetes) {
		log.Infof(ctx, "[harvesterrke] removing %v from Kubernetes", names)
		kept := st.without(names)
		session, err := p.steps.open(spec, keys, kept)
		if err != nil {
			return err
		}
		defer session.close()
		if err := p.kubernetesUp(ctx, spec, st, session, kept); err != nil {
			return fmt.Errorf("remove %v from Kubernetes before deleting their VMs: %w", names, err)
		}
	}
	log.Infof(ctx, "[harvesterrke] deleting VMs %v", names)
	if err := hv.DeleteNodes(ctx, spec.Template.Namespace, owner, names); err != nil {
		return err
	}
	st.Nodes = st.without(names)
	return nil
}

// dropLostEtcdMembers runs RKE once without the etcd nodes whose VMs were made again at the address
// of the member they replace (static addresses, a DHCP lease that stayed). RKE knows hosts by
// address: it would take the new machine for the lost member and start its empty etcd as that
// member, which never joins. Left out once, the lost member is removed from etcd; the run that
// follows adds the new machine as a new member. With every member lost there is no etcd to remove
// them from: only a snapshot restore brings that cluster's data back.
func (p *Provisioner) dropLostEtcdMembers(ctx context.Context, spec Spec, st *State, session nodeSession) error {
	members, err := rke.EtcdMembers(st.RKE)
	if err != nil {
		return err
	}
	var lost []string
	for _, n := range st.Nodes {
		if n.Phase != PhaseKubernetes && slices.Contains(members, n.Address) {
			lost = append(lost, n.Name)
		}
	}
	if len(lost) == 0 || len(lost) == len(members) {
		return nil
	}
	log.Infof(ctx, "[harvesterrke] removing the lost etcd members at the addresses of %v before the new machines join", lost)
	if err := p.kubernetesUp(ctx, spec, st, session, st.without(lost)); err != nil {
		return fmt.Errorf("remove the lost etcd members at the addresses of %v: %w", lost, err)
	}
	return nil
}

// kubernetesUp runs RKE's cluster up over nodes. RKE's files are kept in the state also when it
// fails part way, so the next run continues from them.
func (p *Provisioner) kubernetesUp(ctx context.Context, spec Spec, st *State, session nodeSession, nodes []Node) error {
	cfg, err := rkeConfig(spec, *st, nodes)
	if err != nil {
		return err
	}
	start := time.Now()
	log.Infof(ctx, "[harvesterrke] running RKE cluster up on %d nodes", len(cfg.Nodes))
	res, err := session.up(ctx, cfg, st.RKE)
	if len(res.Files.State) > 0 {
		st.RKE = res.Files
	}
	if err != nil {
		return err
	}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	st.setPhase(names, PhaseKubernetes)
	log.Infof(ctx, "[harvesterrke] Kubernetes is up at %s (%s)", res.Endpoint, time.Since(start).Round(time.Second))
	return nil
}

// recordFacts keeps what was learned about the nodes on their VMs, best effort: the state has it
// too, and a node whose facts are missing on its VM is only looked at more carefully next time.
func (p *Provisioner) recordFacts(ctx context.Context, hv *harvester.Client, spec Spec, st *State, nodes []Node) {
	roles := rolesOf(spec)
	for _, n := range nodes {
		if n.UID == "" {
			continue
		}
		f := harvester.Facts{HostKey: n.HostKey, Phase: string(n.Phase)}
		if n.Phase == PhaseKubernetes {
			f.Roles = roles[n.Pool]
		}
		vm := harvester.VM{Name: n.Name, UID: n.UID}
		if err := hv.RecordFacts(ctx, spec.Template.Namespace, vm, f); err != nil {
			log.Warnf(ctx, "[harvesterrke] %s: %v", n.Name, err)
		}
	}
}

// Remove deletes everything the cluster has on Harvester, found by its labels, and last the
// cluster's identity there. It never connects to the nodes: their disks go with the VMs.
func (p *Provisioner) Remove(ctx context.Context, spec Spec, st State) error {
	hv, err := p.openForRemoval(ctx, spec, st)
	if err != nil {
		return err
	}
	ns := spec.Template.Namespace
	owner := harvester.Owner{Name: spec.Name, ID: st.ClusterID}
	if owner.ID == "" {
		// A state from before clusters had ids, or none at all (the command line's rm with options).
		if owner.ID, err = hv.ClusterID(ctx, ns, spec.Template.NamePrefix, spec.Name); err != nil {
			return err
		}
	}
	if err := hv.AdoptLegacy(ctx, ns, spec.Template.NamePrefix, poolNames(spec), owner); err != nil {
		return err
	}
	log.Infof(ctx, "[harvesterrke] deleting the VMs, volumes and secrets of cluster %s", spec.Name)
	if err := hv.Remove(ctx, ns, owner); err != nil {
		return err
	}
	if spec.CloudProvider.Enabled {
		// After the VMs: the guest's volumes may be attached to them.
		if err := hv.RemoveGuestObjects(ctx, identityScope(spec), owner); err != nil {
			return err
		}
	}
	return hv.RemoveIdentity(ctx, identityScope(spec))
}

// harvesterCluster is the VM-level view of the spec.
func harvesterCluster(spec Spec, id string, keys clusterKeys) harvester.Cluster {
	pools := make([]harvester.Pool, len(spec.Pools))
	for i, p := range spec.Pools {
		pools[i] = harvester.Pool{Name: p.Name, Count: p.Count, ControlPlane: slices.Contains(p.Roles, rke.RoleControlPlane)}
	}
	return harvester.Cluster{Owner: harvester.Owner{Name: spec.Name, ID: id}, Template: spec.Template, Pools: pools, Login: keys.login(spec.SSH)}
}

// ensureAPIAddress gives the cluster its API address before RKE runs, which puts it in the API
// server's certificate: the Harvester load balancer's (made now, if missing), or the user's.
func (p *Provisioner) ensureAPIAddress(ctx context.Context, hv *harvester.Client, spec Spec, st *State) error {
	switch spec.APIEndpoint.Mode {
	case EndpointExternal:
		st.APIAddress = spec.APIEndpoint.Address
	case EndpointLoadBalancer:
		addr, err := hv.EnsureAPILoadBalancer(ctx, spec.Template.Namespace, spec.Template.NamePrefix,
			harvester.Owner{Name: spec.Name, ID: st.ClusterID}, spec.APIEndpoint.IPPool, spec.Timeouts.VMReady)
		if err != nil {
			return err
		}
		st.APIAddress = addr
	}
	return nil
}

// addonWait bounds applying the cloud provider's and CSI driver's objects.
const addonWait = 2 * time.Minute

// applyAddons applies the cloud provider's and CSI driver's objects through the cluster's API. The
// driver does it rather than RKE's user-addon job: RKE only warns when that job fails, and it
// needs a pod to run before the cloud provider (which is among them) has initialised any node.
func applyAddons(ctx context.Context, spec Spec, st State) error {
	manifests, err := addons.Render(addonParams(spec))
	if err != nil {
		return fmt.Errorf("the cloud provider's and CSI driver's manifests: %w", err)
	}
	cfg, err := kubeaccess.ConfigFromKubeconfig(st.Kubeconfig())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, addonWait)
	defer cancel()
	start := time.Now()
	if err := kubeaccess.Apply(ctx, cfg, manifests); err != nil {
		return fmt.Errorf("deploy Harvester's cloud provider and CSI driver: %w", err)
	}
	log.Infof(ctx, "[harvesterrke] Harvester's cloud provider (chart %s) and CSI driver (chart %s) deployed (%s)",
		addons.ChartCloudProvider, addons.ChartCSIDriver, time.Since(start).Round(time.Millisecond))
	return nil
}

// addonParams are the settings of the cloud provider's and CSI driver's manifests.
func addonParams(spec Spec) addons.Params {
	return addons.Params{
		ClusterName:      harvester.CloudProviderClusterName(spec.Template.NamePrefix),
		VolumeNamePrefix: harvester.GuestVolumePrefix(spec.Template.NamePrefix),
		Images:           spec.CloudProvider.Images,
	}
}

// poolNames are the names of the spec's pools.
func poolNames(spec Spec) []string {
	out := make([]string, len(spec.Pools))
	for i, p := range spec.Pools {
		out[i] = p.Name
	}
	return out
}

// rolesOf maps each pool to its Kubernetes roles.
func rolesOf(spec Spec) map[string][]string {
	out := make(map[string][]string, len(spec.Pools))
	for _, p := range spec.Pools {
		out[p.Name] = p.Roles
	}
	return out
}

// rkeConfig is RKE's view of nodes. RKE gets no SSH key: the driver dials the nodes itself, and
// RKE keeps its configuration in the built cluster and in every etcd snapshot. From st it takes the
// cloud provider's kubeconfig and the API address, when the cluster has them.
func rkeConfig(spec Spec, st State, nodes []Node) (rke.Config, error) {
	roles := rolesOf(spec)
	c := rke.Config{Options: spec.Kubernetes}
	if spec.Registry.URL != "" {
		c.Registry = rke.Registry{URL: spec.Registry.URL, User: spec.Registry.Username, Password: spec.Registry.Password}
	}
	if spec.CloudProvider.Enabled {
		if len(st.CloudConfig) == 0 {
			return c, errors.New("the cloud provider's kubeconfig is missing: an Update makes it again")
		}
		c.CloudConfig = string(st.CloudConfig)
	}
	if spec.APIEndpoint.Mode != EndpointNode {
		if st.APIAddress == "" {
			return c, errors.New("the cluster's API address is not known yet: an Update finds it again")
		}
		c.SANs = []string{st.APIAddress}
	}
	for _, n := range nodes {
		if n.Address == "" {
			return c, fmt.Errorf("node %s has no address", n.Name)
		}
		c.Nodes = append(c.Nodes, rke.Node{Name: n.Name, Address: n.Address, User: spec.SSH.User, Roles: roles[n.Pool]})
	}
	return c, nil
}

var errNoCluster = errors.New("the cluster has no Kubernetes yet: create has not finished")
