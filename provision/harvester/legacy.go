package harvester

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rancher/rke/log"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
)

// AdoptLegacy labels with the cluster's id the objects a driver made before clusters had ids: those
// in namespace labelled with the cluster's name and no id whose names are the ones the cluster's
// prefix and pools give (the anchor Secret; <prefix>-<pool>-<n> VMs, their VMIs, cloud-init Secrets
// and root disks), so a cluster of the same name with another prefix keeps its own. VMs also get
// the label in their template, so their next VMIs carry it. It does nothing for clusters made since.
func (c *Client) AdoptLegacy(ctx context.Context, namespace, prefix string, pools []string, owner Owner) error {
	if err := owner.check(); err != nil {
		return fmt.Errorf("adopt objects: %w", err)
	}
	nameReq, err := labels.NewRequirement(LabelCluster, selection.Equals, []string{owner.Name})
	if err != nil {
		return fmt.Errorf("adopt objects of cluster %s: %w", owner.Name, err)
	}
	noID, err := labels.NewRequirement(LabelClusterID, selection.DoesNotExist, nil)
	if err != nil {
		return fmt.Errorf("adopt objects of cluster %s: %w", owner.Name, err)
	}
	opts := metav1.ListOptions{LabelSelector: labels.NewSelector().Add(*nameReq, *noID).String()}
	idLabel := map[string]string{LabelClusterID: owner.ID}
	objectPatch, _ := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{"labels": idLabel}})
	vmPatch, _ := json.Marshal(map[string]interface{}{
		"metadata": map[string]interface{}{"labels": idLabel},
		"spec":     map[string]interface{}{"template": map[string]interface{}{"metadata": map[string]interface{}{"labels": idLabel}}},
	})
	core := c.Core.CoreV1()
	kinds := []struct {
		kind  string
		list  func() ([]labelled, error)
		patch func(name string) error
	}{
		{"VM", func() ([]labelled, error) { return c.dynamicLabelled(ctx, gvrVM, namespace, opts) }, func(n string) error {
			_, err := c.Dynamic.Resource(gvrVM).Namespace(namespace).Patch(ctx, n, types.MergePatchType, vmPatch, metav1.PatchOptions{})
			return err
		}},
		{"VMI", func() ([]labelled, error) { return c.dynamicLabelled(ctx, gvrVMI, namespace, opts) }, func(n string) error {
			_, err := c.Dynamic.Resource(gvrVMI).Namespace(namespace).Patch(ctx, n, types.MergePatchType, objectPatch, metav1.PatchOptions{})
			return err
		}},
		{"PVC", func() ([]labelled, error) {
			l, err := core.PersistentVolumeClaims(namespace).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			return labelledOf(l.Items), nil
		}, func(n string) error {
			_, err := core.PersistentVolumeClaims(namespace).Patch(ctx, n, types.MergePatchType, objectPatch, metav1.PatchOptions{})
			return err
		}},
		{"secret", func() ([]labelled, error) {
			l, err := core.Secrets(namespace).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			return labelledOf(l.Items), nil
		}, func(n string) error {
			_, err := core.Secrets(namespace).Patch(ctx, n, types.MergePatchType, objectPatch, metav1.PatchOptions{})
			return err
		}},
	}
	var adopted []string
	var errs []error
	for _, k := range kinds {
		objects, err := k.list()
		if err != nil {
			errs = append(errs, fmt.Errorf("list %ss of cluster %s made without an id: %w", k.kind, owner.Name, err))
			continue
		}
		for _, o := range objects {
			if !legacyName(o.name, prefix, append(slices.Clip(pools), o.labels[LabelPool])) {
				continue
			}
			if err := k.patch(o.name); err != nil {
				errs = append(errs, fmt.Errorf("label %s %s/%s with the cluster id: %w", k.kind, namespace, o.name, err))
				continue
			}
			adopted = append(adopted, k.kind+" "+o.name)
		}
	}
	if len(adopted) > 0 {
		log.Infof(ctx, "[harvester] cluster %s: labelled %d object(s) made by an older driver with its id %s: %s", owner.Name, len(adopted), owner.ID, strings.Join(adopted, ", "))
	}
	return errors.Join(errs...)
}

// labelled is an object's name and labels.
type labelled struct {
	name   string
	labels map[string]string
}

// legacyName tells whether name is one the driver gives an object of the cluster with this prefix
// and one of these pools.
func legacyName(name, prefix string, pools []string) bool {
	if name == AnchorSecretName(prefix) {
		return true
	}
	vm := strings.TrimSuffix(strings.TrimSuffix(name, cloudInitSecretSuffix), rootDiskPVCSuffix)
	for _, pool := range pools {
		if idx, ok := NodeIndex(vm, pool); ok && pool != "" && VMName(prefix, pool, idx) == vm {
			return true
		}
	}
	return false
}
