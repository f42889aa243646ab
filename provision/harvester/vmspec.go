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
	nicName           = "nic-0"

	// Harvester's default-vm-termination-grace-period-seconds.
	terminationGracePeriodSecs = 120
)

// VMSpec builds the VirtualMachine of node n (from 1) of a pool. It is pure: the same input gives
// the same VM, which is what makes retried creates idempotent.
func VMSpec(cl Cluster, env Environment, pool string, n int) (*kubevirtv1.VirtualMachine, error) {
	t := cl.Template
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

	pvcs, err := rootDiskClaims(cl, env, name)
	if err != nil {
		return nil, err
	}
	annotations := map[string]string{annotationVolumeClaims: pvcs}
	if t.Description != "" {
		annotations[annotationDescription] = t.Description
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
	iface := kubevirtv1.Interface{Name: nicName, Model: "virtio"}
	network := kubevirtv1.Network{Name: nicName}
	if t.Network.IsZero() {
		iface.InterfaceBindingMethod.Masquerade = &kubevirtv1.InterfaceMasquerade{}
		network.Pod = &kubevirtv1.PodNetwork{}
	} else {
		iface.InterfaceBindingMethod.Bridge = &kubevirtv1.InterfaceBridge{}
		network.Multus = &kubevirtv1.MultusNetwork{NetworkName: t.Network.String()}
	}

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
				ObjectMeta: metav1.ObjectMeta{Labels: tmplLabels},
				Spec: kubevirtv1.VirtualMachineInstanceSpec{
					Hostname:                      name,
					EvictionStrategy:              &eviction,
					TerminationGracePeriodSeconds: &grace,
					Affinity:                      spreadAffinity(cl.Name),
					Domain: kubevirtv1.DomainSpec{
						CPU:    &kubevirtv1.CPU{Cores: uint32(t.CPUs), Sockets: 1, Threads: 1},
						Memory: &kubevirtv1.Memory{Guest: &guest},
						Resources: kubevirtv1.ResourceRequirements{Limits: corev1.ResourceList{
							corev1.ResourceCPU:    *resource.NewQuantity(int64(t.CPUs), resource.DecimalSI),
							corev1.ResourceMemory: t.Memory.DeepCopy(),
						}},
						Devices: kubevirtv1.Devices{
							Disks: []kubevirtv1.Disk{
								{Name: rootDiskName, BootOrder: &bootOrder,
									DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBus(bus)}}},
								{Name: cloudInitDiskName,
									DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBusVirtio}}},
							},
							Interfaces: []kubevirtv1.Interface{iface},
						},
					},
					Networks: []kubevirtv1.Network{network},
					Volumes: []kubevirtv1.Volume{
						{Name: rootDiskName, VolumeSource: kubevirtv1.VolumeSource{
							PersistentVolumeClaim: &kubevirtv1.PersistentVolumeClaimVolumeSource{
								PersistentVolumeClaimVolumeSource: corev1.PersistentVolumeClaimVolumeSource{ClaimName: RootDiskPVCName(name)},
							}}},
						{Name: cloudInitDiskName, VolumeSource: kubevirtv1.VolumeSource{
							CloudInitNoCloud: &kubevirtv1.CloudInitNoCloudSource{
								UserDataSecretRef: &corev1.LocalObjectReference{Name: CloudInitSecretName(name)},
							}}},
					},
				},
			},
		},
	}
	return vm, nil
}

// CloudInitSecret builds the cloud-init Secret of a VM that exists: the VM owns it (its UID), so
// Kubernetes removes it with the VM; it also carries the cluster label so Remove finds it anyway.
func CloudInitSecret(cl Cluster, env Environment, vm *kubevirtv1.VirtualMachine) (*corev1.Secret, error) {
	if vm.UID == "" {
		return nil, fmt.Errorf("cloud-init secret for %s: the VM has no UID yet (create it first)", vm.Name)
	}
	userData, err := UserData(cl, env, vm.Name)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      CloudInitSecretName(vm.Name),
			Namespace: vm.Namespace,
			Labels:    vmLabels(cl, vm.Labels[LabelPool]),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: kubevirtv1.GroupVersion.String(),
				Kind:       "VirtualMachine",
				Name:       vm.Name,
				UID:        vm.UID,
			}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{secretKeyUserData: []byte(userData)},
	}, nil
}

// vmLabels: the user's labels first, so they cannot override the ones Remove relies on.
func vmLabels(cl Cluster, pool string) map[string]string {
	l := make(map[string]string, len(cl.Template.Labels)+3)
	for k, v := range cl.Template.Labels {
		l[k] = v
	}
	l[LabelCreator] = CreatorValue
	l[LabelCluster] = cl.Name
	l[LabelPool] = pool
	return l
}

// rootDiskClaims is the volumeClaimTemplates annotation: Harvester creates the image-backed PVC
// from it. The PVC carries the cluster label, so Remove finds it even after its VM is gone.
func rootDiskClaims(cl Cluster, env Environment, vm string) (string, error) {
	mode := corev1.PersistentVolumeBlock
	sc := env.StorageClass
	pvc := corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:        RootDiskPVCName(vm),
			Labels:      clusterLabels(cl.Name),
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
	b, err := json.Marshal([]corev1.PersistentVolumeClaim{pvc})
	if err != nil {
		return "", fmt.Errorf("volume claim templates of %s: %w", vm, err)
	}
	return string(b), nil
}

// spreadAffinity prefers hosts that run no other VM of the cluster, so a host failure takes out
// as few nodes as possible; soft, so a small Harvester still fits the cluster.
func spreadAffinity(cluster string) *corev1.Affinity {
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: clusterLabels(cluster)},
				TopologyKey:   corev1.LabelHostname,
			},
		}},
	}}
}

func checkSpecInput(cl Cluster, env Environment, name string) error {
	t := cl.Template
	var problems []string
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		problems = append(problems, fmt.Sprintf("VM name %q: %s", name, strings.Join(errs, "; ")))
	}
	if err := checkClusterName(cl.Name); err != nil {
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
