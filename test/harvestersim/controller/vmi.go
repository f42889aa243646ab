package controller

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/cloudinit"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hosts"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// nodeName is the Harvester node every VMI is scheduled to.
const nodeName = "harvester-node-0"

// createVMI makes the VM's VirtualMachineInstance as KubeVirt does: same name, the template's spec,
// controlled by the VM (blocking its foreground deletion), with KubeVirt's VMI finalizer.
func (c *Controller) createVMI(ctx context.Context, vm *kubevirtv1.VirtualMachine) (*kubevirtv1.VirtualMachineInstance, error) {
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
	created, err := c.dyn.Resource(gvr.VirtualMachineInstances).Namespace(vm.Namespace).Create(ctx, u, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create VMI %s/%s: not in the cache yet: %w", vm.Namespace, vm.Name, err)
	} else if err != nil {
		return nil, fmt.Errorf("create VMI %s/%s: %w", vm.Namespace, vm.Name, err)
	}
	c.cfg.Logf("harvestersim: VM %s/%s starting", vm.Namespace, vm.Name)
	return toVMI(created)
}

// driveVMI moves a VMI through Scheduling (waiting for its cloud-init Secret), Scheduled (its host
// boots) and Running (booted and the boot delay passed), then reports its address unless a fault
// says otherwise.
func (c *Controller) driveVMI(ctx context.Context, key string, vm *kubevirtv1.VirtualMachine, vmi *kubevirtv1.VirtualMachineInstance) error {
	if vmi.Status.Phase == kubevirtv1.Failed {
		return nil // as with a crashed VM: it stays failed until stopped or deleted
	}
	ud, nd, waiting, err := c.cloudInitData(vmi)
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
	st, err := c.hosts.Ensure(key, hosts.Spec{
		Boot:        cloudinit.Boot{VMName: vmi.Name, DefaultUser: user, UserData: ud},
		Rootfs:      rootfs,
		Mirror:      c.cfg.Mirror,
		NICs:        vmiNICs(vmi),
		NetworkData: nd,
		SSHDelay:    fault.SSHRefusedFor,
	})
	if err != nil {
		return err
	}
	if st.Err != nil {
		c.recorder.Eventf(vmi, corev1.EventTypeWarning, "SyncFailed", "the fake host failed to boot: %v", st.Err)
		c.cfg.Logf("harvestersim: VM %s: %v", key, st.Err)
		return c.setVMIStatus(ctx, vmi, func(s *kubevirtv1.VirtualMachineInstanceStatus) {
			s.Phase = kubevirtv1.Failed
			s.Reason = "FakeHostFailed"
		})
	}
	delay := c.cfg.BootDelay
	if fault.BootDelay > 0 {
		delay = fault.BootDelay
	}
	if remaining := time.Until(st.Started.Add(delay)); !st.Booted || remaining > 0 {
		if st.Booted {
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
		s.Interfaces = vmiInterfaces(st, !fault.NoAddress)
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

// vmiNICs are the VMI's interfaces with their networks, for its host.
func vmiNICs(vmi *kubevirtv1.VirtualMachineInstance) []hosts.NIC {
	networks := map[string]string{}
	for _, n := range vmi.Spec.Networks {
		switch {
		case n.Multus != nil && strings.Contains(n.Multus.NetworkName, "/"):
			networks[n.Name] = n.Multus.NetworkName
		case n.Multus != nil:
			networks[n.Name] = vmi.Namespace + "/" + n.Multus.NetworkName
		default:
			networks[n.Name] = "pod"
		}
	}
	var out []hosts.NIC
	for _, i := range vmi.Spec.Domain.Devices.Interfaces {
		out = append(out, hosts.NIC{Name: i.Name, Network: networks[i.Name], MAC: i.MacAddress})
	}
	return out
}

// vmiInterfaces reports the host's interfaces as the guest agent would: with the addresses the host
// has, or (without an agent) only what the domain knows.
func vmiInterfaces(st hosts.State, withAddress bool) []kubevirtv1.VirtualMachineInstanceNetworkInterface {
	out := make([]kubevirtv1.VirtualMachineInstanceNetworkInterface, len(st.Interfaces))
	for i, n := range st.Interfaces {
		out[i] = kubevirtv1.VirtualMachineInstanceNetworkInterface{Name: n.Name, MAC: n.MAC, InfoSource: "domain"}
		if withAddress {
			out[i].InterfaceName = n.IfName
			out[i].InfoSource = "domain, guest-agent"
			if len(n.IPs) > 0 {
				out[i].IP, out[i].IPs = n.IPs[0], append([]string{}, n.IPs...)
			}
		}
	}
	return out
}

// setVMIStatus updates the VMI (it has no status subresource) when mutate changes its status.
func (c *Controller) setVMIStatus(ctx context.Context, vmi *kubevirtv1.VirtualMachineInstance, mutate func(*kubevirtv1.VirtualMachineInstanceStatus)) error {
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
	if _, err := c.dyn.Resource(gvr.VirtualMachineInstances).Namespace(vmi.Namespace).Update(ctx, u, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
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

// cloudInitData returns the VMI's cloud-init user data and network data, or what it waits for (a
// Secret that is not there yet: the driver creates the VM first and its cloud-init Secret right after).
func (c *Controller) cloudInitData(vmi *kubevirtv1.VirtualMachineInstance) (ud, nd []byte, waiting string, err error) {
	for _, v := range vmi.Spec.Volumes {
		src := v.CloudInitNoCloud
		if src == nil && v.CloudInitConfigDrive != nil {
			cd := v.CloudInitConfigDrive
			src = &kubevirtv1.CloudInitNoCloudSource{UserDataSecretRef: cd.UserDataSecretRef, UserDataBase64: cd.UserDataBase64,
				UserData: cd.UserData, NetworkDataSecretRef: cd.NetworkDataSecretRef, NetworkDataBase64: cd.NetworkDataBase64,
				NetworkData: cd.NetworkData}
		}
		if src == nil {
			continue
		}
		ud, waiting, err = c.sourceData(vmi, "user", src.UserDataSecretRef, src.UserDataBase64, src.UserData, "userdata", "userData")
		if waiting != "" || err != nil {
			return nil, nil, waiting, err
		}
		nd, waiting, err = c.sourceData(vmi, "network", src.NetworkDataSecretRef, src.NetworkDataBase64, src.NetworkData, "networkdata", "networkData")
		return ud, nd, waiting, err
	}
	return nil, nil, "", nil
}

// sourceData reads one of cloud-init's data as KubeVirt does: from a Secret's keys, base64 or inline.
func (c *Controller) sourceData(vmi *kubevirtv1.VirtualMachineInstance, what string, ref *corev1.LocalObjectReference, b64, inline string, keys ...string) ([]byte, string, error) {
	switch {
	case ref != nil:
		s, err := c.secrets.Secrets(vmi.Namespace).Get(ref.Name)
		if apierrors.IsNotFound(err) {
			return nil, "secret " + ref.Name, nil
		} else if err != nil {
			return nil, "", err
		}
		for _, k := range keys {
			if d, ok := s.Data[k]; ok {
				return d, "", nil
			}
		}
		return nil, "key " + keys[0] + " in secret " + s.Name, nil
	case b64 != "":
		d, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			// The fake host boots without it: with no user data nobody can log in, and without its
			// network data the host falls back to DHCP on its first NIC, as cloud-init would.
			c.cfg.Logf("harvestersim: VMI %s/%s: %s data in base64 is not base64: %v", vmi.Namespace, vmi.Name, what, err)
			return nil, "", nil
		}
		return d, "", nil
	default:
		return []byte(inline), "", nil
	}
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
