// Package driver implements kontainer-engine's types.Driver for Harvester: it declares the options
// Rancher shows, parses and validates them into a provision.Spec, keeps the cluster's state in
// ClusterInfo.Metadata and translates each call into work for the provision package.
package driver

import (
	"context"
	"errors"
	"fmt"

	"github.com/rancher/kontainer-engine/types"
	"github.com/rancher/rke/log"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
)

// Name is the driver's name. Rancher derives it from the download URL's file name
// (kontainer-engine-driver-<name>-<os>-<arch>); "harvester" is taken by the built-in node driver.
const Name = "harvesterrke"

// Provisioner does the work on Harvester and the nodes. The state is updated in place as work
// progresses, so after an error it holds everything that was created; save, when not nil, is called
// with it after every step.
type Provisioner interface {
	Create(ctx context.Context, spec provision.Spec, st *provision.State, save func(provision.State)) error
	Update(ctx context.Context, spec provision.Spec, st *provision.State, save func(provision.State)) error
	Remove(ctx context.Context, spec provision.Spec, st provision.State) error
	SnapshotSave(ctx context.Context, spec provision.Spec, st provision.State, name string) error
	SnapshotRestore(ctx context.Context, spec provision.Spec, st *provision.State, name string) error
	SnapshotRemove(ctx context.Context, spec provision.Spec, st provision.State, name string) error
	// Cluster opens the built cluster's API with the state's admin credentials.
	Cluster(ctx context.Context, st provision.State) (provision.Cluster, error)
}

// Driver is the kontainer-engine driver.
type Driver struct {
	provisioner Provisioner
	// checkpoint, when set, receives the ClusterInfo after every step of Create and Update (the CLI
	// persists it, so an interrupted run can be resumed).
	checkpoint func(*types.ClusterInfo)
}

var _ types.Driver = (*Driver)(nil)

// DriverOption configures a Driver (Option is taken by the options Rancher shows).
type DriverOption func(*Driver)

// WithCheckpoint makes Create and Update report the ClusterInfo after every step.
func WithCheckpoint(fn func(*types.ClusterInfo)) DriverOption {
	return func(d *Driver) { d.checkpoint = fn }
}

// New returns a driver that provisions through p.
func New(p Provisioner, opts ...DriverOption) *Driver {
	d := &Driver{provisioner: p}
	for _, o := range opts {
		o(d)
	}
	return d
}

// GetCapabilities advertises what works over gRPC: reading the version and the size, and etcd
// snapshots. SetVersion and SetClusterSize return no ClusterInfo there, so the state they change
// would be lost; Rancher upgrades and scales through Update, which the command line also uses.
func (d *Driver) GetCapabilities(context.Context) (*types.Capabilities, error) {
	c := &types.Capabilities{Capabilities: map[int64]bool{}}
	for _, cap := range []int64{
		types.GetVersionCapability, types.GetClusterSizeCapability, types.EtcdBackupCapability,
	} {
		c.AddCapability(cap)
	}
	return c, nil
}

// GetDriverCreateOptions returns the schema Rancher builds its form and API from.
func (d *Driver) GetDriverCreateOptions(context.Context) (*types.DriverFlags, error) {
	return flags(Options()), nil
}

// GetDriverUpdateOptions returns the options that may change after creation.
func (d *Driver) GetDriverUpdateOptions(context.Context) (*types.DriverFlags, error) {
	return flags(mutableOptions()), nil
}

// Create provisions the cluster, or resumes a previous attempt whose ClusterInfo Rancher passes back.
func (d *Driver) Create(ctx context.Context, opts *types.DriverOptions, previous *types.ClusterInfo) (*types.ClusterInfo, error) {
	spec, err := ParseOptions(opts)
	if err != nil {
		return previous, err
	}
	st := clusterState{Spec: spec}
	if prev, err := decodeState(previous); err == nil {
		if prev.Spec.Name != spec.Name {
			return previous, fmt.Errorf("cluster info belongs to cluster %q, not %q", prev.Spec.Name, spec.Name)
		}
		// A resumed Create goes on with what the first attempt made: the same rules as Update.
		if err := immutableChanges(prev.Spec, spec); err != nil {
			return previous, fmt.Errorf("resume cluster %s: %w", spec.Name, err)
		}
		st.State = prev.State
	} else if !errors.Is(err, errNoState) {
		return previous, fmt.Errorf("resume cluster %s: %w", spec.Name, err)
	}
	log.Infof(ctx, "[harvesterrke] creating cluster %s with %d nodes", spec.Name, spec.NodeCount())
	info := &types.ClusterInfo{}
	err = d.provisioner.Create(ctx, spec, &st.State, d.saver(info, &st))
	return d.finish(info, st, err)
}

// Update applies changed options: node counts, Kubernetes version, credentials, addons.
func (d *Driver) Update(ctx context.Context, info *types.ClusterInfo, opts *types.DriverOptions) (*types.ClusterInfo, error) {
	st, err := decodeState(info)
	if err != nil {
		return info, fmt.Errorf("update: %w", err)
	}
	spec, err := parseOptions(opts, &st.Spec)
	if err != nil {
		return info, err
	}
	if err := immutableChanges(st.Spec, spec); err != nil {
		return info, err
	}
	return d.update(ctx, info, st, spec)
}

func (d *Driver) update(ctx context.Context, info *types.ClusterInfo, st clusterState, spec provision.Spec) (*types.ClusterInfo, error) {
	old := st.Spec
	st.Spec = spec
	log.Infof(ctx, "[harvesterrke] updating cluster %s", spec.Name)
	out := &types.ClusterInfo{}
	err := d.provisioner.Update(ctx, spec, &st.State, d.saver(out, &st))
	if err != nil {
		// Keep the spec the nodes were built from, so the next Update retries the change, but with
		// the credentials given now: an expired token this call replaced stays replaced.
		old.Access = spec.Access
		st.Spec = old
	}
	return d.finish(out, st, err)
}

// saver encodes the state into info after each step and hands it to the checkpoint callback.
func (d *Driver) saver(info *types.ClusterInfo, st *clusterState) func(provision.State) {
	return func(s provision.State) {
		st.State = s
		if d.checkpoint == nil {
			return
		}
		if err := fillInfo(info, *st); err == nil {
			d.checkpoint(info)
		}
	}
}

// finish encodes the final state into info. After a failure the partial info is returned together
// with the error: Rancher keeps it and passes it to the next attempt.
func (d *Driver) finish(info *types.ClusterInfo, st clusterState, opErr error) (*types.ClusterInfo, error) {
	if err := fillInfo(info, st); err != nil {
		return info, errors.Join(opErr, err)
	}
	if d.checkpoint != nil {
		d.checkpoint(info)
	}
	return info, opErr
}

// PostCheck creates the service-account token Rancher uses to manage the cluster.
func (d *Driver) PostCheck(ctx context.Context, info *types.ClusterInfo) (*types.ClusterInfo, error) {
	st, err := decodeState(info)
	if err != nil {
		return info, fmt.Errorf("post-check: %w", err)
	}
	c, err := d.provisioner.Cluster(ctx, st.State)
	if err != nil {
		return info, fmt.Errorf("post-check cluster %s: %w", st.Spec.Name, err)
	}
	token, err := c.ServiceAccountToken(ctx)
	if err != nil {
		return info, fmt.Errorf("post-check cluster %s: %w", st.Spec.Name, err)
	}
	version, err := c.Version(ctx)
	if err != nil {
		return info, fmt.Errorf("post-check cluster %s: %w", st.Spec.Name, err)
	}
	out := *info
	if err := fillInfo(&out, st); err != nil {
		return info, err
	}
	out.ServiceAccountToken = token
	out.Version = version
	return &out, nil
}

// Remove deletes every object the driver created for the cluster. It succeeds when they are gone.
func (d *Driver) Remove(ctx context.Context, info *types.ClusterInfo) error {
	st, err := decodeState(info)
	if errors.Is(err, errNoState) {
		// Nothing was ever returned for this cluster, so the driver cannot know its name or access.
		log.Infof(ctx, "[harvesterrke] remove: no driver state in cluster info, nothing to remove")
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove: %w: the driver cannot tell what to delete; everything it made on Harvester carries the label %s=<the cluster's id in Rancher>: delete the VMs, secrets, volumes, service account, roles and role bindings with that label in the VM namespace (kubectl delete vm,secret,pvc,serviceaccount,role,rolebinding -n <namespace> -l %s=<id>)",
			err, harvester.LabelCluster, harvester.LabelCluster)
	}
	log.Infof(ctx, "[harvesterrke] removing cluster %s", st.Spec.Name)
	err = d.provisioner.Remove(ctx, st.Spec, st.State)
	if err != nil && !st.State.CreatedAnything() {
		// The create failed before its first object (e.g. the pre-flight check): nothing is left behind.
		log.Warnf(ctx, "[harvesterrke] cluster %s never created anything; not retrying its removal: %v", st.Spec.Name, err)
		return nil
	}
	return err
}

// RemoveWithOptions removes a cluster whose state is missing or unreadable, e.g. after a Create
// that was killed before it returned anything: everything labelled with the options' cluster name in
// their VM namespace, reached with their credentials. With a readable state it is Remove.
func (d *Driver) RemoveWithOptions(ctx context.Context, info *types.ClusterInfo, opts *types.DriverOptions) error {
	if _, err := decodeState(info); err == nil {
		return d.Remove(ctx, info)
	}
	spec, err := ParseOptions(opts)
	if err != nil {
		return err
	}
	log.Infof(ctx, "[harvesterrke] removing cluster %s by its label (no usable state)", spec.Name)
	return d.provisioner.Remove(ctx, spec, provision.State{})
}

// GetVersion reads the Kubernetes version from the cluster's API.
func (d *Driver) GetVersion(ctx context.Context, info *types.ClusterInfo) (*types.KubernetesVersion, error) {
	st, err := decodeState(info)
	if err != nil {
		return nil, fmt.Errorf("get version: %w", err)
	}
	c, err := d.provisioner.Cluster(ctx, st.State)
	if err != nil {
		return nil, fmt.Errorf("get version of cluster %s: %w", st.Spec.Name, err)
	}
	v, err := c.Version(ctx)
	if err != nil {
		return nil, fmt.Errorf("get version of cluster %s: %w", st.Spec.Name, err)
	}
	return &types.KubernetesVersion{Version: v}, nil
}

// SetVersion upgrades the cluster to an RKE Kubernetes version (e.g. v1.32.7-rancher1-1).
func (d *Driver) SetVersion(ctx context.Context, info *types.ClusterInfo, version *types.KubernetesVersion) error {
	st, err := decodeState(info)
	if err != nil {
		return fmt.Errorf("set version: %w", err)
	}
	if version == nil || version.Version == "" {
		return &OptionsError{Problems: []Problem{{Option: optK8sVersion, Message: "required"}}}
	}
	spec := st.Spec
	spec.Kubernetes.KubernetesVersion = version.Version
	if err := validateKubernetes(spec.Kubernetes); err != nil {
		return err
	}
	out, err := d.update(ctx, info, st, spec)
	*info = *out
	return err
}

// GetClusterSize counts the nodes registered in the cluster's API.
func (d *Driver) GetClusterSize(ctx context.Context, info *types.ClusterInfo) (*types.NodeCount, error) {
	st, err := decodeState(info)
	if err != nil {
		return nil, fmt.Errorf("get cluster size: %w", err)
	}
	c, err := d.provisioner.Cluster(ctx, st.State)
	if err != nil {
		return nil, fmt.Errorf("get size of cluster %s: %w", st.Spec.Name, err)
	}
	n, err := c.NodeCount(ctx)
	if err != nil {
		return nil, fmt.Errorf("get size of cluster %s: %w", st.Spec.Name, err)
	}
	return &types.NodeCount{Count: int64(n)}, nil
}

// SetClusterSize scales the last pool with the worker role so the cluster has count nodes.
func (d *Driver) SetClusterSize(ctx context.Context, info *types.ClusterInfo, count *types.NodeCount) error {
	st, err := decodeState(info)
	if err != nil {
		return fmt.Errorf("set cluster size: %w", err)
	}
	if count == nil {
		return &OptionsError{Problems: []Problem{{Option: "count", Message: "required"}}}
	}
	spec, err := resize(st.Spec, int(count.Count))
	if err != nil {
		return err
	}
	out, err := d.update(ctx, info, st, spec)
	*info = *out
	return err
}

// ETCDSave takes a named etcd snapshot on every etcd node.
func (d *Driver) ETCDSave(ctx context.Context, info *types.ClusterInfo, _ *types.DriverOptions, name string) error {
	st, err := snapshotState(info, name)
	if err != nil {
		return err
	}
	return d.provisioner.SnapshotSave(ctx, st.Spec, st.State, name)
}

// ETCDRestore restores the cluster from a named snapshot.
func (d *Driver) ETCDRestore(ctx context.Context, info *types.ClusterInfo, _ *types.DriverOptions, name string) (*types.ClusterInfo, error) {
	st, err := snapshotState(info, name)
	if err != nil {
		return info, err
	}
	err = d.provisioner.SnapshotRestore(ctx, st.Spec, &st.State, name)
	return d.finish(&types.ClusterInfo{}, st, err)
}

// ETCDRemoveSnapshot deletes a named snapshot from the etcd nodes.
func (d *Driver) ETCDRemoveSnapshot(ctx context.Context, info *types.ClusterInfo, _ *types.DriverOptions, name string) error {
	st, err := snapshotState(info, name)
	if err != nil {
		return err
	}
	return d.provisioner.SnapshotRemove(ctx, st.Spec, st.State, name)
}

func snapshotState(info *types.ClusterInfo, name string) (clusterState, error) {
	if err := validateSnapshotName(name); err != nil {
		return clusterState{}, err
	}
	st, err := decodeState(info)
	if err != nil {
		return st, fmt.Errorf("snapshot %s: %w", name, err)
	}
	return st, nil
}

// GetK8SCapabilities describes the cluster's Kubernetes features as the driver builds them.
func (d *Driver) GetK8SCapabilities(_ context.Context, opts *types.DriverOptions) (*types.K8SCapabilities, error) {
	r := newOptionReader(opts)
	c := &types.K8SCapabilities{
		NodePoolScalingSupported: true,
		NodePortRange:            "30000-32767",
		// Without Harvester's cloud provider, LoadBalancer services stay pending.
		L4LoadBalancer: &types.LoadBalancerCapabilities{Enabled: false},
	}
	if r.boolean(optCloudProvider) {
		c.L4LoadBalancer = &types.LoadBalancerCapabilities{Enabled: true, Provider: "Harvester",
			ProtocolsSupported: []string{"TCP", "UDP"}, HealthCheckSupported: true}
	}
	if r.str(optIngress) == "nginx" {
		c.IngressControllers = []*types.IngressCapabilities{{IngressProvider: "nginx"}}
	}
	return c, nil
}

// RemoveLegacyServiceAccount deletes the service account older kontainer-engine drivers created.
func (d *Driver) RemoveLegacyServiceAccount(ctx context.Context, info *types.ClusterInfo) error {
	st, err := decodeState(info)
	if err != nil {
		return fmt.Errorf("remove legacy service account: %w", err)
	}
	c, err := d.provisioner.Cluster(ctx, st.State)
	if err != nil {
		return fmt.Errorf("remove legacy service account of cluster %s: %w", st.Spec.Name, err)
	}
	return c.RemoveLegacyServiceAccount(ctx)
}
