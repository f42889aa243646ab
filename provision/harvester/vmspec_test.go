package harvester

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

func TestVMSpecGolden(t *testing.T) {
	podNet := testCluster()
	podNet.Template.Network = ObjectRef{}
	podNet.Template.ReservedMemory = resource.MustParse("256Mi")
	podNet.Template.Description = ""
	podNet.Template.DiskBus = "scsi"
	for _, tc := range []struct {
		golden string
		cl     Cluster
	}{
		{"vm-bridge.golden.json", testCluster()},
		{"vm-podnetwork.golden.json", podNet},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			vm, err := VMSpec(tc.cl, testEnv, VM{Pool: "worker", Index: 2})
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.MarshalIndent(vm, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, append(b, '\n'))
		})
	}
}

// The golden file shows the whole VM; this test names the fields that matter and why.
func TestVMSpecFields(t *testing.T) {
	cl := testCluster()
	vm, err := VMSpec(cl, testEnv, VM{Pool: "worker", Index: 2})
	if err != nil {
		t.Fatal(err)
	}
	spec := vm.Spec.Template.Spec
	check := func(what string, got, want interface{}) {
		t.Helper()
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("%s = %s, want %s", what, gb, wb)
		}
	}
	check("name", vm.Name, "demo-worker-2")
	check("namespace", vm.Namespace, "vms")
	wantLabels := map[string]string{LabelCreator: CreatorValue, LabelCluster: "c-abc12", LabelClusterID: "id-abc12", LabelPool: "worker", "team": "infra"}
	check("labels", vm.Labels, wantLabels)
	wantLabels[labelVMName] = "demo-worker-2"
	check("template labels", vm.Spec.Template.ObjectMeta.Labels, wantLabels)
	check("description", vm.Annotations[annotationDescription], "RKE node of demo")
	check("runStrategy", *vm.Spec.RunStrategy, kubevirtv1.RunStrategyRerunOnFailure)
	check("evictionStrategy", *spec.EvictionStrategy, kubevirtv1.EvictionStrategyLiveMigrate)
	check("terminationGracePeriodSeconds", *spec.TerminationGracePeriodSeconds, 120)
	check("cpu", spec.Domain.CPU, &kubevirtv1.CPU{Cores: 2, Sockets: 1, Threads: 1})
	check("limits", spec.Domain.Resources.Limits, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")})
	check("guest memory", spec.Domain.Memory.Guest.String(), "4Gi")
	if _, ok := vm.Annotations[annotationReservedMemory]; ok {
		t.Error("reservedMemory annotation set although no reserved memory was asked for")
	}

	var pvcs []corev1.PersistentVolumeClaim
	if err := json.Unmarshal([]byte(vm.Annotations[annotationVolumeClaims]), &pvcs); err != nil || len(pvcs) != 1 {
		t.Fatalf("volumeClaimTemplates = %q (%v), want one PVC", vm.Annotations[annotationVolumeClaims], err)
	}
	pvc := pvcs[0]
	check("pvc name", pvc.Name, "demo-worker-2-disk-0")
	check("pvc imageId", pvc.Annotations[annotationImageID], "images/ubuntu-2404")
	check("pvc cluster labels", pvc.Labels, map[string]string{LabelCluster: "c-abc12", LabelClusterID: "id-abc12"})
	check("pvc storageClassName", *pvc.Spec.StorageClassName, "longhorn-ubuntu-2404")
	check("pvc volumeMode", *pvc.Spec.VolumeMode, corev1.PersistentVolumeBlock)
	check("pvc accessModes", pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany})
	check("pvc size", pvc.Spec.Resources.Requests.Storage().String(), "40Gi")

	check("root disk", spec.Domain.Devices.Disks[0].Name, rootDiskName)
	check("root disk bus", spec.Domain.Devices.Disks[0].Disk.Bus, kubevirtv1.DiskBusVirtio)
	check("root disk boot order", *spec.Domain.Devices.Disks[0].BootOrder, 1)
	check("root volume claim", spec.Volumes[0].PersistentVolumeClaim.ClaimName, "demo-worker-2-disk-0")
	check("cloud-init secretRef", spec.Volumes[1].CloudInitNoCloud.UserDataSecretRef.Name, "demo-worker-2-cloudinit")
	check("cloud-init inline user data", spec.Volumes[1].CloudInitNoCloud.UserData, "")

	check("interface binding", spec.Domain.Devices.Interfaces[0].Bridge != nil, true)
	check("network", spec.Networks[0].Multus.NetworkName, "vms/vlan10")
	check("interface and network names", spec.Domain.Devices.Interfaces[0].Name, spec.Networks[0].Name)

	aa := spec.Affinity.PodAntiAffinity
	check("anti-affinity is soft", aa.RequiredDuringSchedulingIgnoredDuringExecution == nil, true)
	check("anti-affinity selector", aa.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.LabelSelector.MatchLabels,
		map[string]string{LabelClusterID: "id-abc12"}) // by id: a same-named cluster's VMs are not ours to avoid
	check("anti-affinity topology", aa.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey, "kubernetes.io/hostname")
}

func TestVMSpecPodNetworkAndReservedMemory(t *testing.T) {
	cl := testCluster()
	cl.Template.Network = ObjectRef{}
	cl.Template.ReservedMemory = resource.MustParse("256Mi")
	vm, err := VMSpec(cl, testEnv, VM{Pool: "cp", Index: 1})
	if err != nil {
		t.Fatal(err)
	}
	spec := vm.Spec.Template.Spec
	if spec.Domain.Devices.Interfaces[0].Masquerade == nil || spec.Networks[0].Pod == nil {
		t.Errorf("without a network the VM must use the pod network with masquerade, got %+v / %+v", spec.Domain.Devices.Interfaces[0], spec.Networks[0])
	}
	if got := vm.Annotations[annotationReservedMemory]; got != "256Mi" {
		t.Errorf("reservedMemory annotation = %q, want 256Mi", got)
	}
	if got := spec.Domain.Memory.Guest.String(); got != "3840Mi" {
		t.Errorf("guest memory = %s, want 4Gi - 256Mi = 3840Mi", got)
	}
	if got := spec.Domain.Resources.Limits.Memory().String(); got != "4Gi" {
		t.Errorf("memory limit = %s, want 4Gi", got)
	}
}

func TestVMSpecRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Cluster, *Environment)
		want   string
	}{
		{"name too long", func(c *Cluster, _ *Environment) { c.Template.NamePrefix = strings.Repeat("a", 60) }, "must be no more than 63"},
		{"upper case prefix", func(c *Cluster, _ *Environment) { c.Template.NamePrefix = "Demo" }, "RFC 1123"},
		{"no storage class", func(_ *Cluster, e *Environment) { e.StorageClass = "" }, "storage class"},
		{"no cluster name", func(c *Cluster, _ *Environment) { c.Owner.Name = "" }, "cluster name"},
		{"no cluster id", func(c *Cluster, _ *Environment) { c.Owner.ID = "" }, `cluster c-abc12: id ""`},
		{"reserved above memory", func(c *Cluster, _ *Environment) { c.Template.ReservedMemory = resource.MustParse("8Gi") }, "reserved memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, env := testCluster(), testEnv
			tc.modify(&cl, &env)
			_, err := VMSpec(cl, env, VM{Pool: "worker", Index: 1})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCloudInitSecret(t *testing.T) {
	cl := testCluster()
	vm, err := VMSpec(cl, testEnv, VM{Pool: "worker", Index: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CloudInitSecret(cl, testEnv, vm); err == nil {
		t.Error("a VM without UID (not created yet) must be refused: the Secret could not be owned by it")
	}
	vm.UID = types.UID("1234")
	s, err := CloudInitSecret(cl, testEnv, vm)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "demo-worker-1-cloudinit" || s.Namespace != "vms" {
		t.Errorf("secret %s/%s, want vms/demo-worker-1-cloudinit", s.Namespace, s.Name)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != "1234" || s.OwnerReferences[0].Kind != "VirtualMachine" ||
		s.OwnerReferences[0].APIVersion != "kubevirt.io/v1" || s.OwnerReferences[0].Name != vm.Name {
		t.Errorf("owner references = %+v, want the VM", s.OwnerReferences)
	}
	if s.Labels[LabelCluster] != "c-abc12" || s.Labels[LabelClusterID] != "id-abc12" || s.Labels[LabelPool] != "worker" {
		t.Errorf("labels = %v, want cluster name, id and pool", s.Labels)
	}
	if _, ok := s.Data["userdata"]; !ok || len(s.Data) != 1 {
		t.Errorf("data keys = %v, want userdata", keys(s.Data))
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The user's extra labels cannot make the VM, its Secret or its disk another cluster's (or nobody's).
func TestVMSpecUserLabelsCannotChangeOwner(t *testing.T) {
	cl := testCluster()
	cl.Template.Labels = map[string]string{LabelCluster: "c-other", LabelClusterID: "id-other", LabelPool: "x", "team": "infra"}
	vm, err := VMSpec(cl, testEnv, VM{Pool: "worker", Index: 1})
	if err != nil {
		t.Fatal(err)
	}
	vm.UID = types.UID("1234")
	s, err := CloudInitSecret(cl, testEnv, vm)
	if err != nil {
		t.Fatal(err)
	}
	var pvcs []corev1.PersistentVolumeClaim
	if err := json.Unmarshal([]byte(vm.Annotations[annotationVolumeClaims]), &pvcs); err != nil {
		t.Fatal(err)
	}
	for what, l := range map[string]map[string]string{"VM": vm.Labels, "VMI template": vm.Spec.Template.ObjectMeta.Labels, "secret": s.Labels, "PVC": pvcs[0].Labels} {
		if !testOwner.owns(l) || l[LabelClusterID] != testOwner.ID {
			t.Errorf("%s labels %v: not the cluster's", what, l)
		}
		if what != "PVC" && (l[LabelPool] != "worker" || l["team"] != "infra") {
			t.Errorf("%s labels %v: want pool worker and the user's team label", what, l)
		}
	}
}
