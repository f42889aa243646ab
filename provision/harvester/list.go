package harvester

import (
	"context"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// List returns the cluster's VMs as nodes with pool, index and, when their VMI runs with one, the
// IPv4 address; sorted by pool, then index. VMs being deleted are left out.
func (c *Client) List(ctx context.Context, namespace, cluster string) ([]Node, error) {
	if err := checkClusterName(cluster); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	vms, err := c.listVMs(ctx, namespace, cluster)
	if err != nil {
		return nil, err
	}
	vmis, err := c.Dynamic.Resource(gvrVMI).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: clusterSelector(cluster)})
	if err != nil {
		return nil, fmt.Errorf("list VMIs of cluster %s: %w", cluster, err)
	}
	addrs := map[string]string{}
	for _, u := range vmis.Items {
		var vmi kubevirtv1.VirtualMachineInstance
		if err := toTyped(u.Object, &vmi); err != nil {
			return nil, fmt.Errorf("read VMI %s/%s: %w", u.GetNamespace(), u.GetName(), err)
		}
		addrs[u.GetNamespace()+"/"+u.GetName()], _ = vmiAddress(&vmi)
	}
	var nodes []Node
	for _, vm := range vms {
		if vm.GetDeletionTimestamp() != nil {
			continue
		}
		pool := vm.GetLabels()[LabelPool]
		idx, _ := nodeIndex(vm.GetName(), pool)
		nodes = append(nodes, Node{Name: vm.GetName(), Pool: pool, Index: idx, Address: addrs[vm.GetNamespace()+"/"+vm.GetName()]})
	}
	sort.Slice(nodes, func(i, j int) bool {
		if nodes[i].Pool != nodes[j].Pool {
			return nodes[i].Pool < nodes[j].Pool
		}
		return nodes[i].Index < nodes[j].Index
	})
	return nodes, nil
}
