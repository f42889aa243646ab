package harvestersim

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// nodeName is the Harvester node every VMI is scheduled to.
const nodeName = "harvester-node-0"

// createVMI makes the VM's VirtualMachineInstance as KubeVirt does: same name, the template's spec,
// controlled by the VM (blocking its foreground deletion), with KubeVirt's VMI finalizer.
func (c *controller) createVMI(ctx context.Context, vm *kubevirtv1.VirtualMachine) (*kubevirtv1.VirtualMachineInstance, error) {
	if vm.Spec.Template == nil {
		return nil, fmt.Errorf("VM %s/%s has no template", vm.Namespace, vm.Name)
	}
	t := vm.Spec.Template
	now := metav1.NewTime(time.Now())
	vmi := &kubevirtv1.VirtualMachineInstance{
		TypeMeta: metav1.TypeMeta{APIVersion: kubevirtv1.GroupVersion.String(), Kind: "VirtualMachineInstance"},
		ObjectMeta: metav1.ObjectMeta{
			Name: vm.Name, Namespace: vm.Namespace,
			Labels: t.ObjectMeta.Labels, Annotations: t.ObjectMeta.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(vm, kubevirtv1.VirtualMachineGroupVersionKind)},
			Finalizers:      []string{finalizerVMI},
		},
		Spec: *t.Spec.DeepCopy(),
		Status: kubevirtv1.VirtualMachineInstanceStatus{
			Phase:                     kubevirtv1.Pending,
			PhaseTransitionTimestamps: []kubevirtv1.VirtualMachineInstancePhaseTransitionTimestamp{{Phase: kubevirtv1.Pending, PhaseTransitionTimestamp: now}},
		},
	}
	u, err := toUnstructured(vmi)
	if err != nil {
		return nil, err
	}
	created, err := c.dyn.Resource(vmiGVR).Namespace(vm.Namespace).Create(ctx, u, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create VMI %s/%s: not in the cache yet: %w", vm.Namespace, vm.Name, err)
	} else if err != nil {
		return nil, fmt.Errorf("create VMI %s/%s: %w", vm.Namespace, vm.Name, err)
	}
	c.cfg.logf("harvestersim: VM %s/%s starting", vm.Namespace, vm.Name)
	return toVMI(created)
}

// driveVMI moves a VMI through Scheduling (waiting for its cloud-init Secret), Scheduled (its host
// boots) and Running (booted and the boot delay passed), then reports its address unless a fault
// says otherwise.
func (c *controller) driveVMI(ctx context.Context, key string, vm *kubevirtv1.VirtualMachine, vmi *kubevirtv1.VirtualMachineInstance) error {
	if vmi.Status.Phase == kubevirtv1.Failed {
		return nil // as with a crashed VM: it stays failed until stopped or deleted
	}
	ud, waiting, err := c.userData(vmi)
	if err != nil {
		return err
	}
	if waiting != "" {
		// A real virt-launcher pod waits in ContainerCreating for a missing Secret volume.
		return c.setVMIStatus(ctx, vmi, func(s *kubevirtv1.VirtualMachineInstanceStatus) {
			s.Phase = kubevirtv1.Scheduling
		})
	}
	fault := c.faults.get(key)
	rootfs, user := c.imageOf(vm)
	mac := ""
	if ifs := vmi.Spec.Domain.Devices.Interfaces; len(ifs) > 0 {
		mac = ifs[0].MacAddress
	}
	st, err := c.hosts.ensure(key, hostSpec{
		boot:     bootConfig{vmName: vmi.Name, defaultUser: user, userData: ud},
		rootfs:   rootfs,
		mirror:   c.cfg.mirror,
		mac:      mac,
		sshDelay: fault.SSHRefusedFor,
	})
	if err != nil {
		return err
	}
	if st.err != nil {
		c.recorder.Eventf(vmi, corev1.EventTypeWarning, "SyncFailed", "the fake host failed to boot: %v", st.err)
		c.cfg.logf("harvestersim: VM %s: %v", key, st.err)
		return c.setVMIStatus(ctx, vmi, func(s *kubevirtv1.VirtualMachineInstanceStatus) {
			s.Phase = kubevirtv1.Failed
			s.Reason = "FakeHostFailed"
		})
	}
	delay := c.cfg.bootDelay
	if fault.BootDelay > 0 {
		delay = fault.BootDelay
	}
	if remaining := time.Until(st.started.Add(delay)); !st.booted || remaining > 0 {
		if st.booted {
			c.addAfter(work{kind: "vm", key: key}, remaining)
		}
		return c.setVMIStatus(ctx, vmi, func(s *kubevirtv1.VirtualMachineInstanceStatus) {
			s.Phase = kubevirtv1.Scheduled
			s.NodeName = nodeName
		})
	}
	return c.setVMIStatus(ctx, vmi, func(s *kubevirtv1.VirtualMachineInstanceStatus) {
		s.Phase = kubevirtv1.Running
		s.NodeName = nodeName
		s.Interfaces = vmiInterfaces(vmi, st, !fault.NoAddress)
		s.Conditions = setVMICondition(s.Conditions, kubevirtv1.VirtualMachineInstanceReady, corev1.ConditionTrue)
		if fault.NoAddress {
			// No guest agent: KubeVirt knows the interfaces from the domain only, without addresses.
			s.GuestOSInfo = kubevirtv1.VirtualMachineInstanceGuestOSInfo{}
			s.Conditions = removeVMICondition(s.Conditions, kubevirtv1.VirtualMachineInstanceAgentConnected)
			return
		}
		s.GuestOSInfo = kubevirtv1.VirtualMachineInstanceGuestOSInfo{
			ID: "debian", Name: "Debian GNU/Linux", PrettyName: "Debian GNU/Linux 12 (bookworm)",
			Version: "12 (bookworm)", VersionID: "12",
		}
		s.Conditions = setVMICondition(s.Conditions, kubevirtv1.VirtualMachineInstanceAgentConnected, corev1.ConditionTrue)
	})
}

// vmiInterfaces reports one interface per spec interface; the first has the host's address.
func vmiInterfaces(vmi *kubevirtv1.VirtualMachineInstance, st hostState, withAddress bool) []kubevirtv1.VirtualMachineInstanceNetworkInterface {
	names := []string{"default"}
	if ifs := vmi.Spec.Domain.Devices.Interfaces; len(ifs) > 0 {
		names = names[:0]
		for _, i := range ifs {
			names = append(names, i.Name)
		}
	}
	out := make([]kubevirtv1.VirtualMachineInstanceNetworkInterface, len(names))
	for i, n := range names {
		out[i] = kubevirtv1.VirtualMachineInstanceNetworkInterface{Name: n, InfoSource: "domain"}
	}
	out[0].MAC = st.mac
	if withAddress {
		out[0].IP, out[0].IPs = st.ip, []string{st.ip}
		out[0].InterfaceName = "eth0"
		out[0].InfoSource = "domain, guest-agent"
	}
	return out
}

// setVMIStatus updates the VMI (it has no status subresource) when mutate changes its status.
func (c *controller) setVMIStatus(ctx context.Context, vmi *kubevirtv1.VirtualMachineInstance, mutate func(*kubevirtv1.VirtualMachineInstanceStatus)) error {
	st := vmi.Status.DeepCopy()
	mutate(st)
	if equality.Semantic.DeepEqual(st, &vmi.Status) {
		return nil
	}
	if st.Phase != vmi.Status.Phase {
		st.PhaseTransitionTimestamps = append(st.PhaseTransitionTimestamps, kubevirtv1.VirtualMachineInstancePhaseTransitionTimestamp{
			Phase: st.Phase, PhaseTransitionTimestamp: metav1.NewTime(time.Now()),
		})
	}
	next := vmi.DeepCopy()
	next.Status = *st
	u, err := toUnstructured(next)
	if err != nil {
		return err
	}
	if _, err := c.dyn.Resource(vmiGVR).Namespace(vmi.Namespace).Update(ctx, u, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of VMI %s/%s: %w", vmi.Namespace, vmi.Name, err)
	}
	return nil
}

func setVMICondition(conds []kubevirtv1.VirtualMachineInstanceCondition, t kubevirtv1.VirtualMachineInstanceConditionType, s corev1.ConditionStatus) []kubevirtv1.VirtualMachineInstanceCondition {
	for i := range conds {
		if conds[i].Type == t {
			if conds[i].Status != s {
				conds[i].Status, conds[i].LastTransitionTime = s, metav1.NewTime(time.Now())
			}
			return conds
		}
	}
	return append(conds, kubevirtv1.VirtualMachineInstanceCondition{Type: t, Status: s, LastTransitionTime: metav1.NewTime(time.Now())})
}

func removeVMICondition(conds []kubevirtv1.VirtualMachineInstanceCondition, t kubevirtv1.VirtualMachineInstanceConditionType) []kubevirtv1.VirtualMachineInstanceCondition {
	out := conds[:0]
	for _, c := range conds {
		if c.Type != t {
			out = append(out, c)
		}
	}
	return out
}

// userData returns the VMI's cloud-init user data, or what it waits for (a Secret that is not there
// yet: the driver creates the VM first and its cloud-init Secret right after).
func (c *controller) userData(vmi *kubevirtv1.VirtualMachineInstance) (data []byte, waiting string, err error) {
	for _, v := range vmi.Spec.Volumes {
		src := v.CloudInitNoCloud
		if src == nil && v.CloudInitConfigDrive != nil {
			cd := v.CloudInitConfigDrive
			src = &kubevirtv1.CloudInitNoCloudSource{UserDataSecretRef: cd.UserDataSecretRef, UserDataBase64: cd.UserDataBase64,
				UserData: cd.UserData, NetworkDataSecretRef: cd.NetworkDataSecretRef}
		}
		if src == nil {
			continue
		}
		if ref := src.NetworkDataSecretRef; ref != nil {
			if _, err := c.secrets.Secrets(vmi.Namespace).Get(ref.Name); apierrors.IsNotFound(err) {
				return nil, "secret " + ref.Name, nil
			}
		}
		switch {
		case src.UserDataSecretRef != nil:
			s, err := c.secrets.Secrets(vmi.Namespace).Get(src.UserDataSecretRef.Name)
			if apierrors.IsNotFound(err) {
				return nil, "secret " + src.UserDataSecretRef.Name, nil
			} else if err != nil {
				return nil, "", err
			}
			for _, k := range []string{"userdata", "userData"} {
				if d, ok := s.Data[k]; ok {
					return d, "", nil
				}
			}
			return nil, "key userdata in secret " + s.Name, nil
		case src.UserDataBase64 != "":
			d, err := base64.StdEncoding.DecodeString(src.UserDataBase64)
			if err != nil {
				// The fake host boots without user data, so nobody can log in: the test notices.
				c.cfg.logf("harvestersim: VMI %s/%s: userDataBase64 is not base64: %v", vmi.Namespace, vmi.Name, err)
				return nil, "", nil
			}
			return d, "", nil
		default:
			return []byte(src.UserData), "", nil
		}
	}
	return nil, "", nil
}

// cloudInitSecrets names the Secrets a VM template's cloud-init refers to.
func cloudInitSecrets(t *kubevirtv1.VirtualMachineInstanceTemplateSpec) []string {
	if t == nil {
		return nil
	}
	var names []string
	for _, v := range t.Spec.Volumes {
		var refs []*corev1.LocalObjectReference
		if s := v.CloudInitNoCloud; s != nil {
			refs = append(refs, s.UserDataSecretRef, s.NetworkDataSecretRef)
		}
		if s := v.CloudInitConfigDrive; s != nil {
			refs = append(refs, s.UserDataSecretRef, s.NetworkDataSecretRef)
		}
		for _, r := range refs {
			if r != nil {
				names = append(names, r.Name)
			}
		}
	}
	return names
}
