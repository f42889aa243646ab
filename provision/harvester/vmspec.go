package harvester

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// Device names inside the VM spec (Harvester's node driver uses the same).
const (
	rootDiskName      = "disk-0"
	cloudInitDiskName = "cloudinitdisk"

	// Harvester's default-vm-termination-grace-period-seconds.
	terminationGracePeriodSecs = 120
)

// VMSpec builds the VirtualMachine of a node: the node's pool and index (from 1), and the static
// address PlanVMs gave it, if its pool has static addresses. It is pure: the same input gives the
// same VM, which is what makes retried creates idempotent.
func VMSpec(cl Cluster, env Environment, node VM) (*kubevirtv1.VirtualMachine, error) {
	t := cl.Template
	pool, n := node.Pool, node.Index
	name := VMName(t.NamePrefix, pool, n)
	if err := checkSpecInput(cl, env, name); err != nil {
		return nil, err
	}
	bus := t.DiskBus
	if bus == "" {
		bus = string(kubevirtv1.DiskBusVirtio)
	}

	objLabels := vmLabels(cl, pool)
	tmplLabels := vmLabels(cl, pool)
	tmplLabels[labelVMName] = name

	nics := NICsOf(t, pool)
	// The driver's network data (with static addresses) matches every NIC by its MAC.
	ifaces, networks, err := nicDevices(cl.Owner, name, n, nics, len(t.StaticAddresses) > 0)
	if err != nil {
		return nil, err
	}
	var tmplAnnotations map[string]string
	if i := nicIndex(nics, t.AddressNetwork); i > 0 {
		tmplAnnotations = map[string]string{annotationAddressInterface: nicName(i)}
	}
	extra, err := extraDisks(cl, env, name, DisksOf(t, pool))
	if err != nil {
		return nil, err
	}
	pvcs, err := claimTemplates(name, append([]corev1.PersistentVolumeClaim{rootDiskClaim(cl, env, name)}, extra.claims...))
	if err != nil {
		return nil, err
	}
	annotations := map[string]string{annotationVolumeClaims: pvcs}
	if t.Description != "" {
		annotations[annotationDescription] = t.Description
	}
	if node.StaticAddress != "" {
		annotations[annotationStaticAddress] = node.StaticAddress
	}
	guest := t.Memory.DeepCopy()
	if !t.ReservedMemory.IsZero() {
		annotations[annotationReservedMemory] = t.ReservedMemory.String()
		// Harvester's webhook computes the same; without it (plain KubeVirt) the guest still fits.
		guest.Sub(t.ReservedMemory)
	}

	runStrategy := kubevirtv1.RunStrategyRerunOnFailure
	eviction := kubevirtv1.EvictionStrategyLiveMigrate
	grace := int64(terminationGracePeriodSecs)
	bootOrder := uint(1)
	cloudInit := &kubevirtv1.CloudInitNoCloudSource{UserDataSecretRef: &corev1.LocalObjectReference{Name: CloudInitSecretName(name)}}
	if len(t.StaticAddresses) > 0 || t.NetworkData != "" {
		cloudInit.NetworkDataSecretRef = &corev1.LocalObjectReference{Name: CloudInitSecretName(name)}
	}

	domain := kubevirtv1.DomainSpec{
		CPU:    &kubevirtv1.CPU{Cores: uint32(t.CPUs), Sockets: 1, Threads: 1},
		Memory: &kubevirtv1.Memory{Guest: &guest},
		Resources: kubevirtv1.ResourceRequirements{Limits: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewQuantity(int64(t.CPUs), resource.DecimalSI),
			corev1.ResourceMemory: t.Memory.DeepCopy(),
		}},
		Devices: kubevirtv1.Devices{
			Disks: append(append([]kubevirtv1.Disk{
				{Name: rootDiskName, BootOrder: &bootOrder,
					DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBus(bus)}}}},
				extra.disks...),
				kubevirtv1.Disk{Name: cloudInitDiskName,
					DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBusVirtio}}}),
			Interfaces: ifaces,
		},
	}
	applyHardware(&domain, t.Hardware)

	vm := &kubevirtv1.VirtualMachine{
		TypeMeta: metav1.TypeMeta{APIVersion: kubevirtv1.GroupVersion.String(), Kind: "VirtualMachine"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   t.Namespace,
			Labels:      objLabels,
			Annotations: annotations,
		},
		Spec: kubevirtv1.VirtualMachineSpec{
			RunStrategy: &runStrategy,
			Template: &kubevirtv1.VirtualMachineInstanceTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: tmplLabels, Annotations: tmplAnnotations},
				Spec: kubevirtv1.VirtualMachineInstanceSpec{
					Hostname:                      name,
					EvictionStrategy:              &eviction,
					TerminationGracePeriodSeconds: &grace,
					Affinity:                      vmAffinity(cl.Owner, t.Placement),
					Domain:                        domain,
					Networks:                      networks,
					Volumes: append(append([]kubevirtv1.Volume{
						{Name: rootDiskName, VolumeSource: kubevirtv1.VolumeSource{
							PersistentVolumeClaim: &kubevirtv1.PersistentVolumeClaimVolumeSource{
								PersistentVolumeClaimVolumeSource: corev1.PersistentVolumeClaimVolumeSource{ClaimName: RootDiskPVCName(name)},
							}}}},
						extra.volumes...),
						kubevirtv1.Volume{Name: cloudInitDiskName, VolumeSource: kubevirtv1.VolumeSource{CloudInitNoCloud: cloudInit}}),
				},
			},
		},
	}
	return vm, nil
}

// CloudInitSecret builds the cloud-init Secret of a VM that exists: the VM owns it (its UID), so
// Kubernetes removes it with the VM; it also carries the cluster label so Remove finds it anyway.
// Its network data is made from the static address recorded on the VM.
func CloudInitSecret(cl Cluster, env Environment, vm *kubevirtv1.VirtualMachine) (*corev1.Secret, error) {
	if vm.UID == "" {
		return nil, fmt.Errorf("cloud-init secret for %s: the VM has no UID yet (create it first)", vm.Name)
	}
	userData, err := UserData(cl, env, vm.Name)
	if err != nil {
		return nil, err
	}
	pool := vm.Labels[LabelPool]
	n, _ := NodeIndex(vm.Name, pool)
	networkData, err := NetworkData(cl, VM{Name: vm.Name, Pool: pool, Index: n, StaticAddress: vm.Annotations[annotationStaticAddress]})
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{secretKeyUserData: []byte(userData)}
	if networkData != "" {
		data[secretKeyNetworkData] = []byte(networkData)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      CloudInitSecretName(vm.Name),
			Namespace: vm.Namespace,
			Labels:    vmLabels(cl, pool),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: kubevirtv1.GroupVersion.String(),
				Kind:       "VirtualMachine",
				Name:       vm.Name,
				UID:        vm.UID,
			}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}, nil
}

// vmLabels: the user's labels first, so they cannot override the ones Remove relies on.
func vmLabels(cl Cluster, pool string) map[string]string {
	l := make(map[string]string, len(cl.Template.Labels)+4)
	for k, v := range cl.Template.Labels {
		l[k] = v
	}
	for k, v := range cl.Owner.labels() {
		l[k] = v
	}
	l[LabelCreator] = CreatorValue
	l[LabelPool] = pool
	for _, p := range cl.Pools {
		if p.Name == pool && p.ControlPlane {
			l[LabelControlPlane] = "true"
		}
	}
	return l
}

// rootDiskClaim is the root disk's PVC, from the image. Like every PVC of the VM it carries the
// cluster label, so Remove finds it even after its VM is gone.
func rootDiskClaim(cl Cluster, env Environment, vm string) corev1.PersistentVolumeClaim {
	mode := corev1.PersistentVolumeBlock
	sc := env.StorageClass
	return corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:        RootDiskPVCName(vm),
			Labels:      cl.Owner.labels(),
			Annotations: map[string]string{annotationImageID: cl.Template.Image.String()},
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: cl.Template.DiskSize.DeepCopy()},
			},
			VolumeMode:       &mode,
			StorageClassName: &sc,
		},
	}
}

// claimTemplates is the volumeClaimTemplates annotation: Harvester creates the PVCs from it.
func claimTemplates(vm string, pvcs []corev1.PersistentVolumeClaim) (string, error) {
	b, err := json.Marshal(pvcs)
	if err != nil {
		return "", fmt.Errorf("volume claim templates of %s: %w", vm, err)
	}
	return string(b), nil
}

func checkSpecInput(cl Cluster, env Environment, name string) error {
	t := cl.Template
	var problems []string
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		problems = append(problems, fmt.Sprintf("VM name %q: %s", name, strings.Join(errs, "; ")))
	}
	if err := cl.Owner.check(); err != nil {
		problems = append(problems, err.Error())
	}
	if t.Namespace == "" {
		problems = append(problems, "no namespace")
	}
	if t.Image.IsZero() {
		problems = append(problems, "no image")
	}
	if env.StorageClass == "" {
		problems = append(problems, "no storage class for the image (run Preflight)")
	}
	if t.CPUs < 1 {
		problems = append(problems, "cpus must be at least 1")
	}
	if t.Memory.Sign() <= 0 || t.ReservedMemory.Cmp(t.Memory) >= 0 {
		problems = append(problems, "memory must be positive and more than the reserved memory")
	}
	if t.DiskSize.Sign() <= 0 {
		problems = append(problems, "disk size must be positive")
	}
	if len(problems) > 0 {
		return fmt.Errorf("vm spec %s: %w", name, errors.New(strings.Join(problems, ", ")))
	}
	return nil
}
