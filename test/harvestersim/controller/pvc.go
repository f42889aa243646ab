package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hostimage"
)

const (
	annVolumeClaimTemplates = "harvesterhci.io/volumeClaimTemplates"
	annImageID              = "harvesterhci.io/imageId"
	annOwnedBy              = "harvesterhci.io/owned-by"
)

// volumeClaimTemplates parses the VM's harvesterhci.io/volumeClaimTemplates annotation.
func volumeClaimTemplates(vm *kubevirtv1.VirtualMachine) ([]corev1.PersistentVolumeClaim, error) {
	raw, ok := vm.Annotations[annVolumeClaimTemplates]
	if !ok || raw == "" {
		return nil, nil
	}
	var pvcs []corev1.PersistentVolumeClaim
	if err := json.Unmarshal([]byte(raw), &pvcs); err != nil {
		return nil, fmt.Errorf("annotation %s is not a JSON list of PVCs: %w", annVolumeClaimTemplates, err)
	}
	return pvcs, nil
}

// ensurePVCs creates the PVCs of the VM's templates as Harvester does, after Harvester's checks: the
// image exists and the PVC uses the image's storage class. It returns the problem that keeps the VM from
// starting, if any (also a PVC a volume names that does not exist).
func (c *Controller) ensurePVCs(ctx context.Context, vm *kubevirtv1.VirtualMachine) (*vmProblem, error) {
	problem := func(format string, a ...any) *vmProblem {
		return &vmProblem{status: kubevirtv1.VirtualMachineStatusPvcNotFound, reason: "FailedCreate", message: fmt.Sprintf(format, a...)}
	}
	templates, err := volumeClaimTemplates(vm)
	if err != nil {
		return problem("%v", err), nil
	}
	made := map[string]bool{}
	for _, t := range templates {
		if _, err := c.pvcs.PersistentVolumeClaims(vm.Namespace).Get(t.Name); err == nil {
			made[t.Name] = true
			continue
		} else if !apierrors.IsNotFound(err) {
			return nil, err
		}
		if id := t.Annotations[annImageID]; id != "" {
			img, err := getCached(c.images, id)
			if err != nil {
				return nil, err
			}
			if img == nil {
				return problem("PVC %s: image %s not found", t.Name, id), nil
			}
			sc, _, _ := unstructured.NestedString(img.Object, "status", "storageClassName")
			if sc == "" {
				return problem("PVC %s: image %s is not imported yet", t.Name, id), nil
			}
			if t.Spec.StorageClassName == nil || *t.Spec.StorageClassName != sc {
				got := "<none>"
				if t.Spec.StorageClassName != nil {
					got = *t.Spec.StorageClassName
				}
				return problem("PVC %s: storage class %s does not match image %s, whose storage class is %q", t.Name, got, id, sc), nil
			}
		} else if sc := t.Spec.StorageClassName; sc != nil {
			// Longhorn would leave the PVC Pending, and the VM with it.
			if _, err := c.kube.StorageV1().StorageClasses().Get(ctx, *sc, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				return problem("PVC %s: storage class %s not found", t.Name, *sc), nil
			} else if err != nil {
				return nil, err
			}
		}
		if err := c.createPVC(ctx, vm, t); err != nil {
			return nil, err
		}
		made[t.Name] = true
	}
	for _, v := range vm.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim == nil || made[v.PersistentVolumeClaim.ClaimName] {
			continue
		}
		name := v.PersistentVolumeClaim.ClaimName
		if _, err := c.pvcs.PersistentVolumeClaims(vm.Namespace).Get(name); apierrors.IsNotFound(err) {
			return problem("PVC %s/%s does not exist", vm.Namespace, name), nil
		} else if err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (c *Controller) createPVC(ctx context.Context, vm *kubevirtv1.VirtualMachine, t corev1.PersistentVolumeClaim) error {
	owner, _ := json.Marshal([]map[string]any{{"schema": "kubevirt.io.virtualmachine", "refs": []string{vm.Namespace + "/" + vm.Name}}})
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name: t.Name, Namespace: vm.Namespace, Labels: t.Labels,
			Annotations: map[string]string{annOwnedBy: string(owner)},
		},
		Spec: t.Spec,
	}
	for k, v := range t.Annotations {
		pvc.Annotations[k] = v
	}
	created, err := c.kube.CoreV1().PersistentVolumeClaims(vm.Namespace).Create(ctx, pvc, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("create PVC %s/%s for VM %s: %w", vm.Namespace, t.Name, vm.Name, err)
	}
	// Longhorn provisions and binds it at once; there is no volume behind it here.
	created.Status.Phase = corev1.ClaimBound
	created.Status.AccessModes = created.Spec.AccessModes
	created.Status.Capacity = created.Spec.Resources.Requests
	if _, err := c.kube.CoreV1().PersistentVolumeClaims(vm.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("bind PVC %s/%s: %w", vm.Namespace, t.Name, err)
	}
	return nil
}

// deleteVMPVCs deletes the PVCs a deleted VM's annotations ask Harvester to remove with it.
func (c *Controller) deleteVMPVCs(ctx context.Context, vm *kubevirtv1.VirtualMachine) error {
	var names []string
	if vm.Annotations[annRemoveAllPVCs] == "true" {
		if vm.Spec.Template != nil {
			for _, v := range vm.Spec.Template.Spec.Volumes {
				if v.PersistentVolumeClaim != nil {
					names = append(names, v.PersistentVolumeClaim.ClaimName)
				}
			}
		}
	} else {
		for _, n := range strings.Split(vm.Annotations[annRemovedPVCs], ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	for _, n := range names {
		err := c.kube.CoreV1().PersistentVolumeClaims(vm.Namespace).Delete(ctx, n, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete PVC %s/%s of VM %s: %w", vm.Namespace, n, vm.Name, err)
		}
	}
	return nil
}

// checkNetworks finds the Multus networks of the VM; a missing one keeps it from being scheduled.
func (c *Controller) checkNetworks(vm *kubevirtv1.VirtualMachine) *vmProblem {
	for _, n := range vm.Spec.Template.Spec.Networks {
		if n.Multus == nil {
			continue
		}
		key := n.Multus.NetworkName
		if !strings.Contains(key, "/") {
			key = vm.Namespace + "/" + key
		}
		if nad, err := getCached(c.nads, key); err != nil || nad == nil {
			return &vmProblem{status: kubevirtv1.VirtualMachineStatusUnschedulable, reason: "FailedCreatePodSandBox",
				message: fmt.Sprintf("network %s: network-attachment-definition %s not found", n.Name, key)}
		}
	}
	return nil
}

// imageOf returns the root filesystem and default user of the VM's image (the first image-backed PVC),
// set by the image's annotations; images without them boot the stand-in's default.
func (c *Controller) imageOf(vm *kubevirtv1.VirtualMachine) (hostimage.Rootfs, string) {
	rootfs, user := c.cfg.DefaultRootfs, c.cfg.DefaultUser
	templates, _ := volumeClaimTemplates(vm)
	for _, t := range templates {
		id := t.Annotations[annImageID]
		if id == "" {
			continue
		}
		if img, err := getCached(c.images, id); err == nil && img != nil {
			if r := img.GetAnnotations()[annRootfs]; r != "" {
				rootfs = hostimage.Rootfs(r)
			}
			if u := img.GetAnnotations()[annDefaultUser]; u != "" {
				user = u
			}
		}
		break
	}
	return rootfs, user
}
