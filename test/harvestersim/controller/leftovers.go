package controller

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// leftoverKinds are the kinds of objects searched for a label.
var leftoverKinds = []struct {
	kind string
	gvr  schema.GroupVersionResource
}{
	{"VirtualMachine", gvr.VirtualMachines},
	{"VirtualMachineInstance", gvr.VirtualMachineInstances},
	{"PersistentVolumeClaim", gvr.PersistentVolumeClaims},
	{"Secret", gvr.Secrets},
	{"ConfigMap", gvr.ConfigMaps},
	{"KeyPair", gvr.KeyPairs},
	{"LoadBalancer", gvr.LoadBalancers},
	{"IPPool", gvr.IPPools},
	{"ServiceAccount", gvr.ServiceAccounts},
	{"Role", gvr.Roles},
	{"RoleBinding", gvr.RoleBindings},
	{"ClusterRole", gvr.ClusterRoles},
	{"ClusterRoleBinding", gvr.ClusterRoleBindings},
}

// Labelled lists the objects of the kinds a cluster's removal must delete (VMs, VMIs, PVCs,
// Secrets, ConfigMaps, key pairs, load balancers, IP pools, and the service accounts, roles and
// bindings of its identities) that carry labels matching sel, as "<kind> <namespace>/<name>".
// Kinds the API server does not serve are skipped (a stand-in without CRDs).
func Labelled(ctx context.Context, dyn dynamic.Interface, sel labels.Selector) ([]string, error) {
	var found []string
	for _, k := range leftoverKinds {
		list, err := dyn.Resource(k.gvr).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("leftovers: list %s: %w", k.kind, err)
		}
		for _, o := range list.Items {
			found = append(found, k.kind+" "+o.GetNamespace()+"/"+o.GetName())
		}
	}
	return found, nil
}

// Leftovers lists what exists of the VMs the controller saw with labels matching sel, deleted ones
// included: their VMIs, the PVCs made for them, the Secrets they own and their hosts.
func (c *Controller) Leftovers(ctx context.Context, sel labels.Selector) ([]string, error) {
	var found []string
	for _, key := range c.vmsLabelled(sel) {
		ns, name, _ := strings.Cut(key, "/")
		if _, err := c.dyn.Resource(gvr.VirtualMachineInstances).Namespace(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			found = append(found, "VirtualMachineInstance "+key)
		} else if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("leftovers: %w", err)
		}
		pvcs, err := c.kube.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("leftovers: %w", err)
		}
		for _, p := range pvcs.Items {
			if strings.Contains(p.Annotations[annOwnedBy], `"`+key+`"`) {
				found = append(found, "PersistentVolumeClaim "+ns+"/"+p.Name)
			}
		}
		secrets, err := c.kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("leftovers: %w", err)
		}
		for _, sec := range secrets.Items {
			for _, o := range sec.OwnerReferences {
				if o.Kind == "VirtualMachine" && o.Name == name {
					found = append(found, "Secret "+ns+"/"+sec.Name)
				}
			}
		}
		if h, ok := c.hosts.Describe(key); ok {
			found = append(found, h)
		}
	}
	return found, nil
}
