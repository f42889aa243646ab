package harvester

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/rancher/rke/log"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// objKey names a namespaced object.
type objKey struct{ ns, name string }

func (k objKey) String() string { return k.ns + "/" + k.name }

// DeleteNodes deletes some VMs of a cluster with their disks' PVCs and cloud-init Secrets, and
// waits until they are gone. VMs already gone count as deleted (their leftover PVCs and Secrets
// with the cluster label are still deleted); a VM of another cluster is an error.
func (c *Client) DeleteNodes(ctx context.Context, namespace string, owner Owner, names []string) error {
	if err := owner.check(); err != nil {
		return fmt.Errorf("delete VMs: %w", err)
	}
	cluster := owner.Name
	vms := make([]*unstructured.Unstructured, len(names))
	errs := c.parallel(ctx, len(names), func(ctx context.Context, i int) error {
		vm, err := c.Dynamic.Resource(gvrVM).Namespace(namespace).Get(ctx, names[i], metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get vm %s/%s: %w", namespace, names[i], err)
		}
		if !owner.owns(vm.GetLabels()) {
			return fmt.Errorf("%w: not deleting it", owner.notOwned("vm "+namespace+"/"+names[i], vm.GetLabels()))
		}
		vms[i] = vm
		return nil
	})
	if len(errs) > 0 {
		return fmt.Errorf("delete VMs of cluster %s: %w", cluster, errors.Join(errs...))
	}
	var found []unstructured.Unstructured
	for _, vm := range vms {
		if vm != nil {
			found = append(found, *vm)
		}
	}
	pvcs, err := c.deleteVMs(ctx, owner, found)
	if err != nil {
		return fmt.Errorf("delete VMs of cluster %s: %w", cluster, err)
	}

	// Only labelled leftovers of VMs already gone: a name alone does not prove they are ours.
	wantSecret := map[string]bool{}
	for _, n := range names {
		wantSecret[CloudInitSecretName(n)] = true
	}
	sel := metav1.ListOptions{LabelSelector: owner.selector()}
	pvcList, err := c.Core.CoreV1().PersistentVolumeClaims(namespace).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("delete VMs of cluster %s: list PVCs: %w", cluster, err)
	}
	for _, p := range pvcList.Items {
		if diskOfAny(p.Name, names) {
			pvcs = append(pvcs, objKey{p.Namespace, p.Name})
		}
	}
	secretList, err := c.Core.CoreV1().Secrets(namespace).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("delete VMs of cluster %s: list secrets: %w", cluster, err)
	}
	var secrets []objKey
	for _, s := range secretList.Items {
		if wantSecret[s.Name] {
			secrets = append(secrets, objKey{s.Namespace, s.Name})
		}
	}
	if err := c.deleteCore(ctx, owner, pvcs, secrets); err != nil {
		return fmt.Errorf("delete VMs of cluster %s: %w", cluster, err)
	}
	return nil
}

// Remove deletes every object of a cluster on Harvester: its VMs (with Harvester told to delete
// their volumes), VMIs, PVCs and Secrets, including the anchor Secret, found by the cluster's id
// label (and the PVCs also through the VMs that use them), and waits until all are gone. It needs
// no state beyond the owner: an empty namespace searches all namespaces. It succeeds when nothing
// is left, including when nothing was there; it never connects to the nodes.
func (c *Client) Remove(ctx context.Context, namespace string, owner Owner) error {
	if err := owner.check(); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	cluster := owner.Name
	vms, err := c.listVMs(ctx, namespace, owner)
	if err != nil {
		return fmt.Errorf("remove cluster %s: %w", cluster, err)
	}
	claimed, err := c.deleteVMs(ctx, owner, vms)
	if err != nil {
		return fmt.Errorf("remove cluster %s: %w", cluster, err)
	}

	// VMIs normally go with their VMs; one left behind (a VM deleted with orphan propagation)
	// still runs and holds its volume.
	sel := metav1.ListOptions{LabelSelector: owner.selector()}
	if err := c.removeLoadBalancers(ctx, namespace, owner); err != nil {
		return fmt.Errorf("remove cluster %s: %w", cluster, err)
	}
	vmis, err := c.Dynamic.Resource(gvrVMI).Namespace(namespace).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("remove cluster %s: list VMIs: %w", cluster, err)
	}
	var vmiKeys []objKey
	for _, vmi := range vmis.Items {
		vmiKeys = append(vmiKeys, objKey{vmi.GetNamespace(), vmi.GetName()})
	}
	if err := c.deleteAndWait(ctx, "VMI", vmiKeys,
		func(ctx context.Context, k objKey, opts metav1.DeleteOptions) error {
			return c.Dynamic.Resource(gvrVMI).Namespace(k.ns).Delete(ctx, k.name, opts)
		}, c.dynamicListWatch(ctx, gvrVMI, namespace, sel.LabelSelector), &unstructured.Unstructured{}); err != nil {
		return fmt.Errorf("remove cluster %s: %w", cluster, err)
	}

	pvcList, err := c.Core.CoreV1().PersistentVolumeClaims(namespace).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("remove cluster %s: list PVCs: %w", cluster, err)
	}
	pvcs := claimed
	for _, p := range pvcList.Items {
		pvcs = append(pvcs, objKey{p.Namespace, p.Name})
	}
	secretList, err := c.Core.CoreV1().Secrets(namespace).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("remove cluster %s: list secrets: %w", cluster, err)
	}
	var secrets []objKey
	for _, s := range secretList.Items {
		// Service-account tokens go with their accounts (RemoveIdentity, last): one of them may be
		// the credential this removal runs with.
		if s.Type != corev1.SecretTypeServiceAccountToken {
			secrets = append(secrets, objKey{s.Namespace, s.Name})
		}
	}
	if err := c.deleteCore(ctx, owner, pvcs, secrets); err != nil {
		return fmt.Errorf("remove cluster %s: %w", cluster, err)
	}
	log.Infof(ctx, "[harvester] cluster %s: removed %d VM(s), %d volume(s), %d secret(s)", cluster, len(vms), len(dedupe(pvcs)), len(secrets))
	return nil
}

// deleteVMs tells Harvester which PVCs to delete with each VM (as its node driver does), deletes
// the VMs with foreground propagation and waits until they are gone. It returns the PVCs the VMs
// used, since Harvester creates them from the annotation and they may carry no label of ours.
func (c *Client) deleteVMs(ctx context.Context, owner Owner, vms []unstructured.Unstructured) ([]objKey, error) {
	var pvcs []objKey
	var keys []objKey
	for i := range vms {
		k := objKey{vms[i].GetNamespace(), vms[i].GetName()}
		keys = append(keys, k)
		for _, name := range vmClaims(&vms[i]) {
			pvcs = append(pvcs, objKey{k.ns, name})
		}
	}
	namespaces := map[string]bool{}
	for _, k := range keys {
		namespaces[k.ns] = true
	}
	ns := ""
	if len(namespaces) == 1 {
		ns = keys[0].ns
	}
	byKey := map[objKey]*unstructured.Unstructured{}
	for i := range vms {
		byKey[keys[i]] = &vms[i]
	}
	err := c.deleteAndWait(ctx, "VM", keys, func(ctx context.Context, k objKey, opts metav1.DeleteOptions) error {
		vm := byKey[k]
		if vm.GetDeletionTimestamp() == nil {
			log.Infof(ctx, "[harvester] %s: deleting VM", k.name)
			patch, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
				"annotations": map[string]string{annotationRemovedPVCs: strings.Join(vmClaims(vm), ",")},
			}})
			if err != nil {
				return err
			}
			_, err = c.Dynamic.Resource(gvrVM).Namespace(k.ns).Patch(ctx, k.name, types.MergePatchType, patch, metav1.PatchOptions{})
			if err != nil {
				return fmt.Errorf("mark volumes of vm %s for removal: %w", k, err)
			}
		}
		return c.Dynamic.Resource(gvrVM).Namespace(k.ns).Delete(ctx, k.name, opts)
	}, c.dynamicListWatch(ctx, gvrVM, ns, owner.selector()), &unstructured.Unstructured{})
	return pvcs, err
}

// deleteCore deletes PVCs, then Secrets, and waits until they are gone.
func (c *Client) deleteCore(ctx context.Context, owner Owner, pvcs, secrets []objKey) error {
	pvcs, secrets = dedupe(pvcs), dedupe(secrets)
	ns := commonNamespace(append(append([]objKey{}, pvcs...), secrets...))
	err := c.deleteAndWait(ctx, "PVC", pvcs, func(ctx context.Context, k objKey, opts metav1.DeleteOptions) error {
		return c.Core.CoreV1().PersistentVolumeClaims(k.ns).Delete(ctx, k.name, opts)
	}, c.pvcListWatch(ctx, ns), &corev1.PersistentVolumeClaim{}) // by name: Harvester's PVCs may lack our label
	if err != nil {
		return err
	}
	sel := owner.selector()
	return c.deleteAndWait(ctx, "secret", secrets, func(ctx context.Context, k objKey, opts metav1.DeleteOptions) error {
		return c.Core.CoreV1().Secrets(k.ns).Delete(ctx, k.name, opts)
	}, c.secretListWatch(ctx, ns, sel), &corev1.Secret{})
}

// deleteAndWait deletes objects (in parallel, NotFound is fine) and waits until they are gone.
func (c *Client) deleteAndWait(ctx context.Context, kind string, keys []objKey,
	del func(context.Context, objKey, metav1.DeleteOptions) error, lw cache.ListerWatcher, objType runtime.Object) error {
	if len(keys) == 0 {
		return nil
	}
	foreground := metav1.DeletePropagationForeground
	opts := metav1.DeleteOptions{PropagationPolicy: &foreground}
	errs := c.parallel(ctx, len(keys), func(ctx context.Context, i int) error {
		if err := del(ctx, keys[i], opts); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s %s: %w", kind, keys[i], err)
		}
		return nil
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	names := map[string]bool{}
	for _, k := range keys {
		names[k.String()] = true
	}
	log.Infof(ctx, "[harvester] waiting for %d %s(s) to go", len(keys), kind)
	return c.waitGone(ctx, kind, lw, objType, names)
}

// vmClaims lists the PVCs a VM uses: its PVC volumes (not hot-plugged ones, which the user
// attached) and the PVCs of its volumeClaimTemplates annotation.
func vmClaims(vm *unstructured.Unstructured) []string {
	var names []string
	vols, _, _ := unstructured.NestedSlice(vm.Object, "spec", "template", "spec", "volumes")
	for _, v := range vols {
		m, _ := v.(map[string]interface{})
		claim, _, _ := unstructured.NestedString(m, "persistentVolumeClaim", "claimName")
		hotplug, _, _ := unstructured.NestedBool(m, "persistentVolumeClaim", "hotpluggable")
		if claim != "" && !hotplug {
			names = append(names, claim)
		}
	}
	var templates []corev1.PersistentVolumeClaim
	// A corrupt annotation must not stop a removal: the volumes above still name the PVCs.
	if json.Unmarshal([]byte(vm.GetAnnotations()[annotationVolumeClaims]), &templates) == nil {
		for _, t := range templates {
			if t.Name != "" {
				names = append(names, t.Name)
			}
		}
	}
	sort.Strings(names)
	out := names[:0]
	for i, n := range names {
		if i == 0 || n != names[i-1] {
			out = append(out, n)
		}
	}
	return out
}

// diskOfAny tells whether a PVC is named as a disk of one of the VMs: <vm>-disk-<n>.
func diskOfAny(pvc string, vms []string) bool {
	for _, vm := range vms {
		rest, ok := strings.CutPrefix(pvc, vm+"-disk-")
		if ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
			return true
		}
	}
	return false
}

func dedupe(keys []objKey) []objKey {
	seen := map[objKey]bool{}
	var out []objKey
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// commonNamespace is the namespace all keys share, or "" (all namespaces) when they differ.
func commonNamespace(keys []objKey) string {
	if len(keys) == 0 {
		return ""
	}
	for _, k := range keys[1:] {
		if k.ns != keys[0].ns {
			return ""
		}
	}
	return keys[0].ns
}

// removeLoadBalancers deletes the cluster's own load balancers (the one in front of its API) and
// waits until they are gone. A Harvester without load balancers has none.
func (c *Client) removeLoadBalancers(ctx context.Context, namespace string, owner Owner) error {
	list, err := c.Dynamic.Resource(gvrLoadBalancer).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: owner.selector()})
	// A Harvester without load balancers has none of the cluster's; nor has a cluster whose
	// identity may not see them, since it gets the right with its first one.
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list load balancers: %w", err)
	}
	keys := make([]objKey, len(list.Items))
	for i, lb := range list.Items {
		keys[i] = objKey{lb.GetNamespace(), lb.GetName()}
	}
	return c.deleteAndWait(ctx, "load balancer", keys, func(ctx context.Context, k objKey, opts metav1.DeleteOptions) error {
		return c.Dynamic.Resource(gvrLoadBalancer).Namespace(k.ns).Delete(ctx, k.name, opts)
	}, c.dynamicListWatch(ctx, gvrLoadBalancer, namespace, owner.selector()), &unstructured.Unstructured{})
}
