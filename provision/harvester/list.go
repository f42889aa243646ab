package harvester

import (
	"context"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// List returns the cluster's VMs, terminating ones included, with uid, pool, index, the facts
// recorded on them and, when their VMI runs with one, the IPv4 address; sorted by pool, then index.
// An error means nothing was observed: the caller must not take it for an empty cluster.
func (c *Client) List(ctx context.Context, namespace string, owner Owner) ([]VM, error) {
	if err := owner.check(); err != nil {
		return nil, fmt.Errorf("list VMs: %w", err)
	}
	vms, err := c.listVMs(ctx, namespace, owner)
	if err != nil {
		return nil, err
	}
	vmis, err := c.Dynamic.Resource(gvrVMI).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: owner.selector()})
	if err != nil {
		return nil, fmt.Errorf("list VMIs of cluster %s: %w", owner.Name, err)
	}
	addrs := map[string]string{}
	for _, u := range vmis.Items {
		var vmi kubevirtv1.VirtualMachineInstance
		if err := toTyped(u.Object, &vmi); err != nil {
			return nil, fmt.Errorf("read VMI %s/%s: %w", u.GetNamespace(), u.GetName(), err)
		}
		addrs[u.GetNamespace()+"/"+u.GetName()], _ = vmiAddress(&vmi)
	}
	out := make([]VM, 0, len(vms))
	for i := range vms {
		vm := observed(&vms[i])
		vm.Address = addrs[vms[i].GetNamespace()+"/"+vm.Name]
		out = append(out, vm)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pool != out[j].Pool {
			return out[i].Pool < out[j].Pool
		}
		return out[i].Index < out[j].Index
	})
	return out, nil
}

// observed reads what the driver needs of a VM object.
func observed(u *unstructured.Unstructured) VM {
	pool := u.GetLabels()[LabelPool]
	idx, _ := NodeIndex(u.GetName(), pool)
	a := u.GetAnnotations()
	vm := VM{
		Name: u.GetName(), Pool: pool, Index: idx, UID: string(u.GetUID()),
		Terminating:   u.GetDeletionTimestamp() != nil,
		Facts:         Facts{HostKey: a[annotationHostKey], Phase: a[annotationPhase]},
		StaticAddress: a[annotationStaticAddress],
	}
	if r := a[annotationRoles]; r != "" {
		vm.Facts.Roles = strings.Split(r, ",")
	}
	return vm
}

// listVMs lists the cluster's VMs; an empty namespace means all namespaces.
func (c *Client) listVMs(ctx context.Context, ns string, owner Owner) ([]unstructured.Unstructured, error) {
	list, err := c.Dynamic.Resource(gvrVM).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: owner.selector()})
	if err != nil {
		return nil, fmt.Errorf("list VMs of cluster %s: %w", owner.Name, err)
	}
	return list.Items, nil
}

// dynamicLabelled lists the names and labels of a resource's objects.
func (c *Client) dynamicLabelled(ctx context.Context, gvr schema.GroupVersionResource, ns string, opts metav1.ListOptions) ([]labelled, error) {
	l, err := c.Dynamic.Resource(gvr).Namespace(ns).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	return labelledOf(l.Items), nil
}

// labelledOf is the names and labels of a list's items, of any kind.
func labelledOf[T any, PT interface {
	*T
	metav1.Object
}](items []T) []labelled {
	out := make([]labelled, len(items))
	for i := range items {
		o := PT(&items[i])
		out[i] = labelled{o.GetName(), o.GetLabels()}
	}
	return out
}
