package harvester

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// annotationAddressInterface on a VM's template (KubeVirt copies it to the VMI) names the interface
// whose address SSH and RKE use, when it is not the first one.
const annotationAddressInterface = "harvesterrke.io/address-interface"

// nicName is the name of NIC i in the VM spec and of its entry in the driver's network data.
func nicName(i int) string { return fmt.Sprintf("nic-%d", i) }

// extraDiskName is the name of extra disk i (from 1; the root disk is disk-0) and of its volume.
func extraDiskName(i int) string { return fmt.Sprintf("disk-%d", i) }

// ExtraDiskPVCName is the name of the PVC Harvester creates for extra disk i (from 1) of a VM.
func ExtraDiskPVCName(vm string, i int) string { return vm + "-" + extraDiskName(i) }

// nicDevices are the interfaces and networks of node n's VM. generateMACs gives every NIC a MAC
// (network data matches NICs by MAC).
func nicDevices(owner Owner, vm string, n int, nics []NIC, generateMACs bool) ([]kubevirtv1.Interface, []kubevirtv1.Network, error) {
	ifaces := make([]kubevirtv1.Interface, len(nics))
	networks := make([]kubevirtv1.Network, len(nics))
	for i, nic := range nics {
		model := nic.Model
		if model == "" {
			model = "virtio"
		}
		mac, err := nicMAC(owner, vm, n, i, nic, generateMACs)
		if err != nil {
			return nil, nil, fmt.Errorf("vm spec %s: %w", vm, err)
		}
		ifaces[i] = kubevirtv1.Interface{Name: nicName(i), Model: model, MacAddress: mac}
		networks[i] = kubevirtv1.Network{Name: nicName(i)}
		if nic.Network.IsZero() {
			ifaces[i].InterfaceBindingMethod.Masquerade = &kubevirtv1.InterfaceMasquerade{}
			networks[i].Pod = &kubevirtv1.PodNetwork{}
		} else {
			ifaces[i].InterfaceBindingMethod.Bridge = &kubevirtv1.InterfaceBridge{}
			networks[i].Multus = &kubevirtv1.MultusNetwork{NetworkName: nic.Network.String()}
		}
	}
	return ifaces, networks, nil
}

// diskDevices are a VM's extra disks: the disks, their volumes and the PVCs Harvester makes for them.
type diskDevices struct {
	disks   []kubevirtv1.Disk
	volumes []kubevirtv1.Volume
	claims  []corev1.PersistentVolumeClaim
}

// extraDisks builds the extra disks of a VM. A disk from an image gets the image's storage class,
// as Harvester requires; an empty one the storage class it names.
func extraDisks(cl Cluster, env Environment, vm string, disks []Disk) (diskDevices, error) {
	var out diskDevices
	mode := corev1.PersistentVolumeBlock
	for i, d := range disks {
		name := extraDiskName(i + 1)
		bus := d.Bus
		if bus == "" {
			bus = string(kubevirtv1.DiskBusVirtio)
		}
		disk := kubevirtv1.Disk{Name: name, DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBus(bus)}}}
		if d.BootOrder > 0 {
			order := d.BootOrder
			disk.BootOrder = &order
		}
		claim := corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: ExtraDiskPVCName(vm, i+1), Labels: cl.Owner.labels()},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
				Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: d.Size.DeepCopy()},
				},
				VolumeMode: &mode,
			},
		}
		sc := d.StorageClass
		if !d.Image.IsZero() {
			sc = env.ImageStorageClasses[d.Image.String()]
			if sc == "" {
				return out, fmt.Errorf("vm spec %s: no storage class for image %s of extra disk %d (run Preflight)", vm, d.Image, i+1)
			}
			claim.Annotations = map[string]string{annotationImageID: d.Image.String()}
		}
		if sc == "" {
			return out, fmt.Errorf("vm spec %s: extra disk %d has neither an image nor a storage class", vm, i+1)
		}
		claim.Spec.StorageClassName = &sc
		out.disks = append(out.disks, disk)
		out.volumes = append(out.volumes, kubevirtv1.Volume{Name: name, VolumeSource: kubevirtv1.VolumeSource{
			PersistentVolumeClaim: &kubevirtv1.PersistentVolumeClaimVolumeSource{
				PersistentVolumeClaimVolumeSource: corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name},
			}}})
		out.claims = append(out.claims, claim)
	}
	return out, nil
}

// applyHardware sets CPU model and placement, firmware and TPM. KubeVirt refuses secure boot
// without SMM, and takes a missing secureBoot for true: both are always set explicitly, as
// Harvester's node driver does. Dedicated CPUs need requests equal to limits.
func applyHardware(d *kubevirtv1.DomainSpec, h Hardware) {
	d.CPU.Model = h.CPUModel
	d.CPU.DedicatedCPUPlacement = h.DedicatedCPU
	d.CPU.IsolateEmulatorThread = h.IsolateEmulatorThread
	if h.DedicatedCPU {
		d.Resources.Requests = corev1.ResourceList{}
		for k, v := range d.Resources.Limits {
			d.Resources.Requests[k] = v.DeepCopy()
		}
	}
	if h.EFI || h.SecureBoot {
		secure := h.SecureBoot
		d.Firmware = &kubevirtv1.Firmware{Bootloader: &kubevirtv1.Bootloader{EFI: &kubevirtv1.EFI{SecureBoot: &secure}}}
		smm := h.SecureBoot
		d.Features = &kubevirtv1.Features{SMM: &kubevirtv1.FeatureState{Enabled: &smm}}
	}
	if h.TPM {
		d.Devices.TPM = &kubevirtv1.TPMDevice{}
	}
}

// vmAffinity is the user's affinity with the driver's anti-affinity added: preferred (spread the
// cluster's VMs over hosts, but let a small Harvester still fit the cluster) or required.
func vmAffinity(owner Owner, p Placement) *corev1.Affinity {
	out := &corev1.Affinity{}
	if p.Affinity != nil {
		out = p.Affinity.DeepCopy()
	}
	if out.PodAntiAffinity == nil {
		out.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelClusterID: owner.ID}},
		TopologyKey:   corev1.LabelHostname,
	}
	aa := out.PodAntiAffinity
	if p.HardAntiAffinity {
		aa.RequiredDuringSchedulingIgnoredDuringExecution = append(aa.RequiredDuringSchedulingIgnoredDuringExecution, term)
	} else {
		aa.PreferredDuringSchedulingIgnoredDuringExecution = append(aa.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: 100, PodAffinityTerm: term})
	}
	return out
}
