package driver

import (
	"fmt"
	"strings"

	"github.com/rancher/kontainer-engine/types"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/ssh"
)

// ErrNoState is returned by Inspect for a ClusterInfo that carries no state of this driver yet.
var ErrNoState = errNoState

// View is a read-only view of the state a ClusterInfo carries, for the command line, which keeps
// ClusterInfo on disk and needs to show it and reach the nodes without going through a Driver call.
type View struct {
	st clusterState
}

// Inspect decodes the driver's state from info.
func Inspect(info *types.ClusterInfo) (*View, error) {
	st, err := decodeState(info)
	if err != nil {
		return nil, err
	}
	return &View{st: st}, nil
}

// Name is the cluster's name.
func (v *View) Name() string { return v.st.Spec.Name }

// Spec is the cluster as last created or updated successfully. It holds credentials: never print it.
func (v *View) Spec() provision.Spec { return v.st.Spec }

// Nodes are the nodes as last observed, with pool, address and phase.
func (v *View) Nodes() []provision.Node {
	return append([]provision.Node(nil), v.st.State.Nodes...)
}

// Kubeconfig is RKE's admin kubeconfig of the built cluster; empty until Kubernetes first came up.
func (v *View) Kubeconfig() []byte { return v.st.State.Kubeconfig() }

// HarvesterServer is the URL of the Harvester API the cluster was built through, for display.
func (v *View) HarvesterServer() string {
	a := v.st.Spec.Access
	if a.Server != "" || len(a.Kubeconfig) == 0 {
		return a.Server
	}
	cfg, err := clientcmd.Load(a.Kubeconfig)
	if err != nil {
		return ""
	}
	if c := cfg.Contexts[cfg.CurrentContext]; c != nil && cfg.Clusters[c.Cluster] != nil {
		return cfg.Clusters[c.Cluster].Server
	}
	return ""
}

// SSH says how to log in to a node as the driver does: the dialer configuration with the cluster's
// client key, and the endpoint with the host key the node must present (derived from the cluster's
// seed, or recorded on first use when the cluster was created with trust on first use).
func (v *View) SSH(node string) (ssh.Config, ssh.Endpoint, error) {
	return provision.NodeAccess(v.st.Spec, v.st.State, node)
}

// CurrentOptions returns a copy of opts, the options a cluster was created or updated with, with
// the node counts and Kubernetes version of the state's spec. SetClusterSize and SetVersion change
// those without options, so an Update built from the returned options keeps their changes.
func (v *View) CurrentOptions(opts *types.DriverOptions) *types.DriverOptions {
	out := copyOptions(opts)
	spec := v.st.Spec
	for _, key := range []string{optK8sVersion, optNodePools, optEtcdCount, optCPCount, optWorkerCount} {
		delete(out.StringOptions, camelCase(key))
		delete(out.IntOptions, camelCase(key))
		delete(out.StringSliceOptions, camelCase(key))
	}
	out.StringOptions[optK8sVersion] = spec.Kubernetes.KubernetesVersion
	if len(newOptionReader(opts).slice(optNodePools)) > 0 {
		pools := make([]string, len(spec.Pools))
		for i, p := range spec.Pools {
			pools[i] = fmt.Sprintf("%s=%d:%s", p.Name, p.Count, strings.Join(p.Roles, "+"))
		}
		out.StringSliceOptions[optNodePools] = &types.StringSlice{Value: pools}
		return out
	}
	counts := map[string]string{"etcd": optEtcdCount, "control-plane": optCPCount, "worker": optWorkerCount}
	for _, p := range spec.Pools {
		if key, ok := counts[p.Name]; ok {
			out.IntOptions[key] = int64(p.Count)
		}
	}
	return out
}

func copyOptions(opts *types.DriverOptions) *types.DriverOptions {
	out := &types.DriverOptions{
		StringOptions:      map[string]string{},
		IntOptions:         map[string]int64{},
		BoolOptions:        map[string]bool{},
		StringSliceOptions: map[string]*types.StringSlice{},
	}
	if opts == nil {
		return out
	}
	for k, v := range opts.StringOptions {
		out.StringOptions[k] = v
	}
	for k, v := range opts.IntOptions {
		out.IntOptions[k] = v
	}
	for k, v := range opts.BoolOptions {
		out.BoolOptions[k] = v
	}
	for k, v := range opts.StringSliceOptions {
		if v != nil {
			out.StringSliceOptions[k] = &types.StringSlice{Value: append([]string(nil), v.Value...)}
		}
	}
	return out
}
