package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

var everything = labels.Everything()

const (
	// KubeVirt's VM controller finalizer: the VM is gone only after its VMI (and so its host) is.
	finalizerKubeVirt = "kubevirt.io/virtualMachineControllerFinalize"
	// Harvester's VM controller finalizer: it deletes the PVCs the VM's annotations name.
	finalizerHarvester = "harvesterhci.io/VMController.UnsetOwnerOfPVCs"
	// KubeVirt's VMI finalizer: deleting a VMI stops its VM (here: tears its host down) first.
	finalizerVMI = "kubevirt.io/foregroundDeleteVirtualMachine"

	annRemovedPVCs   = "harvesterhci.io/removedPersistentVolumeClaims"
	annRemoveAllPVCs = "harvesterhci.io/removeAllPersistentVolumeClaims"
)

func toVM(u *unstructured.Unstructured) (*kubevirtv1.VirtualMachine, error) {
	vm := &kubevirtv1.VirtualMachine{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, vm); err != nil {
		return nil, fmt.Errorf("decode VirtualMachine %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return vm, nil
}

func toVMI(u *unstructured.Unstructured) (*kubevirtv1.VirtualMachineInstance, error) {
	vmi := &kubevirtv1.VirtualMachineInstance{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, vmi); err != nil {
		return nil, fmt.Errorf("decode VirtualMachineInstance %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return vmi, nil
}

func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// getCached returns the object from a lister, or nil when absent.
func getCached(l cache.GenericLister, key string) (*unstructured.Unstructured, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, err
	}
	o, err := l.ByNamespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return o.(*unstructured.Unstructured), nil
}

// wantsRunning reads spec.running / spec.runStrategy as KubeVirt does (Manual keeps the current state).
func wantsRunning(vm *kubevirtv1.VirtualMachine, hasVMI bool) bool {
	if vm.Spec.RunStrategy != nil {
		switch *vm.Spec.RunStrategy {
		case kubevirtv1.RunStrategyAlways, kubevirtv1.RunStrategyRerunOnFailure, kubevirtv1.RunStrategyOnce:
			return true
		case kubevirtv1.RunStrategyManual:
			return hasVMI
		}
		return false
	}
	return vm.Spec.Running != nil && *vm.Spec.Running
}

func (c *Controller) syncVM(ctx context.Context, key string) error {
	vmiObj, err := getCached(c.vmis, key)
	if err != nil {
		return err
	}
	var vmi *kubevirtv1.VirtualMachineInstance
	if vmiObj != nil {
		if vmi, err = toVMI(vmiObj); err != nil {
			return err
		}
		if vmi.DeletionTimestamp != nil {
			return c.finalizeVMI(ctx, key, vmi)
		}
	}
	vmObj, err := getCached(c.vms, key)
	if err != nil || vmObj == nil {
		return err
	}
	vm, err := toVM(vmObj)
	if err != nil {
		return err
	}
	c.remember(key, vm.Labels)
	if vm.DeletionTimestamp != nil {
		return c.finalizeVM(ctx, key, vm, vmi)
	}
	if !slices.Contains(vm.Finalizers, finalizerKubeVirt) || !slices.Contains(vm.Finalizers, finalizerHarvester) {
		return c.addVMFinalizers(ctx, vm)
	}
	if !wantsRunning(vm, vmi != nil) {
		if vmi != nil {
			if err := c.deleteVMI(ctx, vmi); err != nil {
				return err
			}
		}
		return c.updateVMStatus(ctx, vm, vmi, nil)
	}
	if vmi == nil {
		// The cache may not show a deletion yet: a VM being deleted must not get a new VMI or PVCs.
		live, err := c.dyn.Resource(gvr.VirtualMachines).Namespace(vm.Namespace).Get(ctx, vm.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && live.GetDeletionTimestamp() != nil) {
			return nil // the informer brings the deletion
		} else if err != nil {
			return fmt.Errorf("get VM %s: %w", key, err)
		}
	}
	problem, err := c.ensurePVCs(ctx, vm)
	if err != nil {
		return err
	}
	if problem == nil {
		problem = c.checkNetworks(vm)
	}
	c.reportProblem(key, vmObj, problem)
	if problem != nil {
		return c.updateVMStatus(ctx, vm, vmi, problem)
	}
	if vmi == nil {
		if vmi, err = c.createVMI(ctx, vm); err != nil {
			return err
		}
	} else if err := c.driveVMI(ctx, key, vm, vmi); err != nil {
		return err
	}
	return c.updateVMStatus(ctx, vm, vmi, nil)
}

func (c *Controller) addVMFinalizers(ctx context.Context, vm *kubevirtv1.VirtualMachine) error {
	u, err := c.dyn.Resource(gvr.VirtualMachines).Namespace(vm.Namespace).Get(ctx, vm.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("add finalizers to VM: %w", err)
	}
	fins := u.GetFinalizers()
	for _, f := range []string{finalizerKubeVirt, finalizerHarvester} {
		if !slices.Contains(fins, f) {
			fins = append(fins, f)
		}
	}
	u.SetFinalizers(fins)
	if _, err := c.dyn.Resource(gvr.VirtualMachines).Namespace(vm.Namespace).Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("add finalizers to VM: %w", err)
	}
	return nil
}

// finalizeVM runs when a VM is being deleted: its VMI goes first (and with it the host), then the PVCs
// the annotations name, then the finalizers, so a foreground delete returns only when all is gone.
func (c *Controller) finalizeVM(ctx context.Context, key string, vm *kubevirtv1.VirtualMachine, vmi *kubevirtv1.VirtualMachineInstance) error {
	if err := c.updateVMStatus(ctx, vm, vmi, nil); err != nil {
		return err
	}
	if vmi != nil {
		return c.deleteVMI(ctx, vmi) // its deletion requeues the VM
	}
	if err := c.hosts.Remove(key); err != nil {
		return err
	}
	if err := c.deleteVMPVCs(ctx, vm); err != nil {
		return err
	}
	u, err := c.dyn.Resource(gvr.VirtualMachines).Namespace(vm.Namespace).Get(ctx, vm.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("remove finalizers of VM %s: %w", key, err)
	}
	fins := u.GetFinalizers()
	kept := slices.DeleteFunc(slices.Clone(fins), func(f string) bool {
		return f == finalizerKubeVirt || f == finalizerHarvester
	})
	if len(kept) == len(fins) {
		return nil // done before; the VM waits for others' finalizers
	}
	u.SetFinalizers(kept)
	if _, err := c.dyn.Resource(gvr.VirtualMachines).Namespace(vm.Namespace).Update(ctx, u, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizers of VM %s: %w", key, err)
	}
	c.cfg.Logf("harvestersim: VM %s deleted", key)
	return nil
}

// finalizeVMI tears the host down, then lets the VMI go.
func (c *Controller) finalizeVMI(ctx context.Context, key string, vmi *kubevirtv1.VirtualMachineInstance) error {
	if err := c.hosts.Remove(key); err != nil {
		return err
	}
	if !slices.Contains(vmi.Finalizers, finalizerVMI) {
		return nil
	}
	u, err := c.dyn.Resource(gvr.VirtualMachineInstances).Namespace(vmi.Namespace).Get(ctx, vmi.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("remove finalizer of VMI %s: %w", key, err)
	}
	u.SetFinalizers(slices.DeleteFunc(u.GetFinalizers(), func(f string) bool { return f == finalizerVMI }))
	if _, err := c.dyn.Resource(gvr.VirtualMachineInstances).Namespace(vmi.Namespace).Update(ctx, u, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer of VMI %s: %w", key, err)
	}
	return nil
}

func (c *Controller) deleteVMI(ctx context.Context, vmi *kubevirtv1.VirtualMachineInstance) error {
	if vmi.DeletionTimestamp != nil {
		return nil
	}
	err := c.dyn.Resource(gvr.VirtualMachineInstances).Namespace(vmi.Namespace).Delete(ctx, vmi.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete VMI %s/%s: %w", vmi.Namespace, vmi.Name, err)
	}
	return nil
}

func (c *Controller) remember(key string, l map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.notes[key]
	if !ok {
		n = &vmNotes{}
		c.notes[key] = n
	}
	n.labels = l
}

// vmProblem is why a VM cannot start (a missing image, PVC or network): it shows in the VM's status
// and a Warning event, as Harvester reports it.
type vmProblem struct {
	status  kubevirtv1.VirtualMachinePrintableStatus
	reason  string
	message string
}

// reportProblem records an event when a VM's problem changes, so it is reported once.
func (c *Controller) reportProblem(key string, vm runtime.Object, p *vmProblem) {
	msg := ""
	if p != nil {
		msg = p.message
	}
	c.mu.Lock()
	n := c.notes[key]
	changed := n.problem != msg
	n.problem = msg
	c.mu.Unlock()
	if changed && p != nil {
		c.recorder.Event(vm, corev1.EventTypeWarning, p.reason, p.message)
		c.cfg.Logf("harvestersim: VM %s cannot start: %s", key, p.message)
	}
}

// updateVMStatus keeps the VM's status as KubeVirt would show it.
func (c *Controller) updateVMStatus(ctx context.Context, vm *kubevirtv1.VirtualMachine, vmi *kubevirtv1.VirtualMachineInstance, problem *vmProblem) error {
	st := vm.Status.DeepCopy()
	st.Created = vmi != nil
	st.Ready = vmi != nil && vmi.Status.Phase == kubevirtv1.Running && vmi.DeletionTimestamp == nil
	running := wantsRunning(vm, vmi != nil)
	switch {
	case vm.DeletionTimestamp != nil:
		st.PrintableStatus = kubevirtv1.VirtualMachineStatusTerminating
	case problem != nil:
		st.PrintableStatus = problem.status
	case !running && vmi != nil:
		st.PrintableStatus = kubevirtv1.VirtualMachineStatusStopping
	case !running:
		st.PrintableStatus = kubevirtv1.VirtualMachineStatusStopped
	case vmi != nil && vmi.Status.Phase == kubevirtv1.Failed:
		st.PrintableStatus = kubevirtv1.VirtualMachineStatusCrashLoopBackOff
	case st.Ready:
		st.PrintableStatus = kubevirtv1.VirtualMachineStatusRunning
	default:
		st.PrintableStatus = kubevirtv1.VirtualMachineStatusStarting
	}
	ready := corev1.ConditionFalse
	if st.Ready {
		ready = corev1.ConditionTrue
	}
	st.Conditions = setVMCondition(st.Conditions, kubevirtv1.VirtualMachineReady, ready, "", "")
	if problem != nil {
		st.Conditions = setVMCondition(st.Conditions, kubevirtv1.VirtualMachineFailure, corev1.ConditionTrue, problem.reason, problem.message)
	} else {
		st.Conditions = slices.DeleteFunc(st.Conditions, func(c kubevirtv1.VirtualMachineCondition) bool {
			return c.Type == kubevirtv1.VirtualMachineFailure
		})
	}
	if equality.Semantic.DeepEqual(st, &vm.Status) {
		return nil
	}
	next := vm.DeepCopy()
	next.Status = *st
	u, err := toUnstructured(next)
	if err != nil {
		return err
	}
	if _, err := c.dyn.Resource(gvr.VirtualMachines).Namespace(vm.Namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of VM %s/%s: %w", vm.Namespace, vm.Name, err)
	}
	return nil
}

func setVMCondition(conds []kubevirtv1.VirtualMachineCondition, t kubevirtv1.VirtualMachineConditionType, s corev1.ConditionStatus, reason, msg string) []kubevirtv1.VirtualMachineCondition {
	for i := range conds {
		if conds[i].Type == t {
			if conds[i].Status != s {
				conds[i].LastTransitionTime = metav1.NewTime(time.Now())
			}
			conds[i].Status, conds[i].Reason, conds[i].Message = s, reason, msg
			return conds
		}
	}
	return append(conds, kubevirtv1.VirtualMachineCondition{
		Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(time.Now()),
	})
}
