package harvester

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kubevirtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// optionsCluster is the test cluster with every option beyond one disk and one network: two NICs for
// every pool and a third for workers, extra disks, static addresses for the workers, firmware, CPU
// and placement settings.
func optionsCluster() Cluster {
	cl := testCluster()
	t := &cl.Template
	t.NICs = []NIC{
		{Network: ObjectRef{Namespace: "vms", Name: "vlan10"}, Model: "virtio"},
		{Model: "e1000"}, // the pod network
		{Network: ObjectRef{Namespace: "vms", Name: "storage"}, MAC: "02:00:00:00:00:fe", Pools: []string{"worker"}},
	}
	t.Disks = []Disk{
		{Size: resource.MustParse("100Gi"), StorageClass: "harvester-longhorn", Bus: "scsi", Pools: []string{"worker"}},
		{Size: resource.MustParse("20Gi"), Image: ObjectRef{Namespace: "images", Name: "data"}, BootOrder: 2},
	}
	t.StaticAddresses = []AddressPool{{
		Start: netip.MustParseAddr("10.0.0.20"), End: netip.MustParseAddr("10.0.0.29"), Prefix: 24,
		Gateway: netip.MustParseAddr("10.0.0.1"), DNS: []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")},
		Network: "vms/storage", Pools: []string{"worker"},
	}}
	t.AddressNetwork = "vms/vlan10"
	t.NetworkData = "version: 2\nethernets:\n  nic-0:\n    mtu: 9000\n    nameservers:\n      search: [example.lan]\n"
	t.Hardware = Hardware{CPUModel: "Cascadelake-Server", DedicatedCPU: true, IsolateEmulatorThread: true, EFI: true, SecureBoot: true, TPM: true}
	t.Placement = Placement{HardAntiAffinity: true, Affinity: &corev1.Affinity{
		NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}}}},
		PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 10, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "topology.kubernetes.io/zone",
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelPool: "worker"}}}}}},
	}}
	return cl
}

var optionsEnv = Environment{StorageClass: "longhorn-ubuntu-2404", KeyPairKey: "ssh-ed25519 AAAAkeypair ops@example",
	ImageStorageClasses: map[string]string{"images/data": "longhorn-data"}}

func TestVMSpecOptionsGolden(t *testing.T) {
	vm, err := VMSpec(optionsCluster(), optionsEnv, VM{Pool: "worker", Index: 2, StaticAddress: "10.0.0.21/24"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(vm, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "vm-options.golden.json", append(b, '\n'))
}

func TestVMSpecNICs(t *testing.T) {
	noStatic := optionsCluster()
	noStatic.Template.StaticAddresses = nil
	for _, tc := range []struct {
		name   string
		cl     Cluster
		node   VM
		models []string
		macs   []string // "*": one the driver made
		nets   []string // multus network or "pod"
	}{
		{"a control-plane node: the NICs for every pool; without static addresses MACs are left to KubeVirt", noStatic, VM{Pool: "cp", Index: 1},
			[]string{"virtio", "e1000"}, []string{"", ""}, []string{"vms/vlan10", "pod"}},
		{"worker 3: the storage NIC's MAC is its own +2", noStatic, VM{Pool: "worker", Index: 3},
			[]string{"virtio", "e1000", "virtio"}, []string{"", "", "02:00:00:00:01:00"}, []string{"vms/vlan10", "pod", "vms/storage"}},
		{"with static addresses in the cluster every NIC of every node has a MAC (network data matches them)", optionsCluster(), VM{Pool: "cp", Index: 1},
			[]string{"virtio", "e1000"}, []string{"*", "*"}, []string{"vms/vlan10", "pod"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm, err := VMSpec(tc.cl, optionsEnv, tc.node)
			if err != nil {
				t.Fatal(err)
			}
			spec := vm.Spec.Template.Spec
			var models, macs, nets []string
			for i, iface := range spec.Domain.Devices.Interfaces {
				mac := iface.MacAddress
				if strings.HasPrefix(mac, "02:") && !strings.HasPrefix(mac, "02:00:00:00:") {
					mac = "*"
				}
				models, macs = append(models, iface.Model), append(macs, mac)
				net := spec.Networks[i]
				if iface.Name != nicName(i) || net.Name != iface.Name {
					t.Errorf("interface %d named %s, network %s: want %s", i, iface.Name, net.Name, nicName(i))
				}
				switch {
				case net.Pod != nil && iface.Masquerade != nil:
					nets = append(nets, "pod")
				case net.Multus != nil && iface.Bridge != nil:
					nets = append(nets, net.Multus.NetworkName)
				default:
					t.Errorf("interface %d: binding %+v for network %+v", i, iface.InterfaceBindingMethod, net.NetworkSource)
				}
			}
			if !reflect.DeepEqual(models, tc.models) || !reflect.DeepEqual(macs, tc.macs) || !reflect.DeepEqual(nets, tc.nets) {
				t.Errorf("models %v, MACs %q, networks %v; want %v, %q, %v", models, macs, nets, tc.models, tc.macs, tc.nets)
			}
			if vm.Spec.Template.ObjectMeta.Annotations[annotationAddressInterface] != "" {
				t.Errorf("the address network is the first NIC's: no annotation wanted, got %v", vm.Spec.Template.ObjectMeta.Annotations)
			}
		})
	}
	cl := optionsCluster()
	cl.Template.AddressNetwork = "vms/storage"
	vm, err := VMSpec(cl, optionsEnv, VM{Pool: "worker", Index: 1, StaticAddress: "10.0.0.20/24"})
	if err != nil {
		t.Fatal(err)
	}
	if got := vm.Spec.Template.ObjectMeta.Annotations[annotationAddressInterface]; got != "nic-2" {
		t.Errorf("address interface annotation = %q, want nic-2 (the storage network's NIC)", got)
	}
}

func TestVMSpecExtraDisks(t *testing.T) {
	cl := optionsCluster()
	vm, err := VMSpec(cl, optionsEnv, VM{Pool: "worker", Index: 1, StaticAddress: "10.0.0.20/24"})
	if err != nil {
		t.Fatal(err)
	}
	spec := vm.Spec.Template.Spec
	var disks []string
	for _, d := range spec.Domain.Devices.Disks {
		order := "-"
		if d.BootOrder != nil {
			order = string(rune('0' + *d.BootOrder))
		}
		disks = append(disks, d.Name+":"+string(d.Disk.Bus)+":"+order)
	}
	if want := []string{"disk-0:virtio:1", "disk-1:scsi:-", "disk-2:virtio:2", "cloudinitdisk:virtio:-"}; !reflect.DeepEqual(disks, want) {
		t.Errorf("disks %v, want %v", disks, want)
	}
	var claims []string
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims = append(claims, v.Name+"="+v.PersistentVolumeClaim.ClaimName)
		}
	}
	if want := []string{"disk-0=demo-worker-1-disk-0", "disk-1=demo-worker-1-disk-1", "disk-2=demo-worker-1-disk-2"}; !reflect.DeepEqual(claims, want) {
		t.Errorf("volumes %v, want %v", claims, want)
	}
	var pvcs []corev1.PersistentVolumeClaim
	if err := json.Unmarshal([]byte(vm.Annotations[annotationVolumeClaims]), &pvcs); err != nil || len(pvcs) != 3 {
		t.Fatalf("volumeClaimTemplates %s: %v", vm.Annotations[annotationVolumeClaims], err)
	}
	for i, want := range []struct{ name, image, sc, size string }{
		{"demo-worker-1-disk-0", "images/ubuntu-2404", "longhorn-ubuntu-2404", "40Gi"},
		{"demo-worker-1-disk-1", "", "harvester-longhorn", "100Gi"},
		{"demo-worker-1-disk-2", "images/data", "longhorn-data", "20Gi"},
	} {
		p := pvcs[i]
		if p.Name != want.name || p.Annotations[annotationImageID] != want.image || *p.Spec.StorageClassName != want.sc ||
			p.Spec.Resources.Requests.Storage().String() != want.size || !testOwner.owns(p.Labels) ||
			*p.Spec.VolumeMode != corev1.PersistentVolumeBlock || p.Spec.AccessModes[0] != corev1.ReadWriteMany {
			t.Errorf("PVC %d: %+v, want %+v", i, p, want)
		}
	}
	// A control-plane node has only the disk for every pool.
	vm, err = VMSpec(cl, optionsEnv, VM{Pool: "cp", Index: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(vm.Spec.Template.Spec.Domain.Devices.Disks); n != 3 {
		t.Errorf("control-plane node has %d disks, want root, the image disk and cloud-init", n)
	}
	env := optionsEnv
	env.ImageStorageClasses = nil
	if _, err := VMSpec(cl, env, VM{Pool: "cp", Index: 1}); err == nil || !strings.Contains(err.Error(), "no storage class for image images/data") {
		t.Errorf("without the image's storage class: %v", err)
	}
}

func TestVMSpecHardware(t *testing.T) {
	for _, tc := range []struct {
		name string
		hw   Hardware
		want func(t *testing.T, d kubevirtv1.DomainSpec)
	}{
		{"nothing asked: KubeVirt's defaults", Hardware{}, func(t *testing.T, d kubevirtv1.DomainSpec) {
			if d.Firmware != nil || d.Features != nil || d.Devices.TPM != nil || d.CPU.Model != "" || d.CPU.DedicatedCPUPlacement || d.Resources.Requests != nil {
				t.Errorf("domain %+v", d)
			}
		}},
		{"EFI without secure boot says so: KubeVirt takes a missing secureBoot for true", Hardware{EFI: true}, func(t *testing.T, d kubevirtv1.DomainSpec) {
			if d.Firmware == nil || *d.Firmware.Bootloader.EFI.SecureBoot || *d.Features.SMM.Enabled {
				t.Errorf("firmware %+v, features %+v", d.Firmware, d.Features)
			}
		}},
		{"secure boot implies EFI and needs SMM", Hardware{SecureBoot: true}, func(t *testing.T, d kubevirtv1.DomainSpec) {
			if d.Firmware == nil || !*d.Firmware.Bootloader.EFI.SecureBoot || !*d.Features.SMM.Enabled {
				t.Errorf("firmware %+v, features %+v", d.Firmware, d.Features)
			}
		}},
		{"TPM and CPU model", Hardware{TPM: true, CPUModel: "Skylake-Client"}, func(t *testing.T, d kubevirtv1.DomainSpec) {
			if d.Devices.TPM == nil || d.CPU.Model != "Skylake-Client" {
				t.Errorf("tpm %+v, cpu %+v", d.Devices.TPM, d.CPU)
			}
		}},
		{"dedicated CPUs: requests equal limits", Hardware{DedicatedCPU: true, IsolateEmulatorThread: true}, func(t *testing.T, d kubevirtv1.DomainSpec) {
			if !d.CPU.DedicatedCPUPlacement || !d.CPU.IsolateEmulatorThread ||
				d.Resources.Requests.Cpu().String() != "2" || d.Resources.Requests.Memory().String() != "4Gi" ||
				d.Resources.Limits.Cpu().String() != "2" || d.Resources.Limits.Memory().String() != "4Gi" {
				t.Errorf("cpu %+v, resources %+v", d.CPU, d.Resources)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := testCluster()
			cl.Template.Hardware = tc.hw
			vm, err := VMSpec(cl, testEnv, VM{Pool: "cp", Index: 1})
			if err != nil {
				t.Fatal(err)
			}
			tc.want(t, vm.Spec.Template.Spec.Domain)
		})
	}
}

func TestVMAffinity(t *testing.T) {
	cl := optionsCluster()
	ours := corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelClusterID: "id-abc12"}}, TopologyKey: "kubernetes.io/hostname"}
	user := cl.Template.Placement.Affinity.DeepCopy()

	hard := vmAffinity(cl.Owner, cl.Template.Placement)
	if !reflect.DeepEqual(hard.NodeAffinity, user.NodeAffinity) {
		t.Errorf("node affinity %+v, want the user's", hard.NodeAffinity)
	}
	if got := hard.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution; !reflect.DeepEqual(got, []corev1.PodAffinityTerm{ours}) {
		t.Errorf("required anti-affinity %+v, want the cluster's term", got)
	}
	if got := hard.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution; !reflect.DeepEqual(got, user.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) {
		t.Errorf("preferred anti-affinity %+v, want the user's alone", got)
	}
	if !reflect.DeepEqual(cl.Template.Placement.Affinity, user) {
		t.Error("vmAffinity changed the template's affinity")
	}

	cl.Template.Placement.HardAntiAffinity = false
	soft := vmAffinity(cl.Owner, cl.Template.Placement)
	want := append(user.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution, corev1.WeightedPodAffinityTerm{Weight: 100, PodAffinityTerm: ours})
	if got := soft.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution; !reflect.DeepEqual(got, want) || soft.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		t.Errorf("soft anti-affinity %+v, want the user's term and the cluster's", soft.PodAntiAffinity)
	}
}

// A node with a static address carries it as an annotation, has MACs on every NIC, and its Secret
// holds the network data the NICs are matched by.
func TestVMSpecStaticAddress(t *testing.T) {
	cl := optionsCluster()
	vm, err := VMSpec(cl, optionsEnv, VM{Pool: "worker", Index: 2, StaticAddress: "10.0.0.21/24"})
	if err != nil {
		t.Fatal(err)
	}
	if got := vm.Annotations[annotationStaticAddress]; got != "10.0.0.21/24" {
		t.Errorf("static address annotation %q", got)
	}
	spec := vm.Spec.Template.Spec
	macs := map[string]string{}
	for _, i := range spec.Domain.Devices.Interfaces {
		if i.MacAddress == "" {
			t.Errorf("interface %s has no MAC: network data could not match it", i.Name)
		}
		macs[i.Name] = i.MacAddress
	}
	ci := spec.Volumes[len(spec.Volumes)-1].CloudInitNoCloud
	if ci.NetworkDataSecretRef == nil || ci.NetworkDataSecretRef.Name != "demo-worker-2-cloudinit" || ci.UserDataSecretRef.Name != "demo-worker-2-cloudinit" {
		t.Errorf("cloud-init source %+v", ci)
	}
	again, _ := VMSpec(cl, optionsEnv, VM{Pool: "worker", Index: 2, StaticAddress: "10.0.0.21/24"})
	if !reflect.DeepEqual(vm, again) {
		t.Error("VMSpec is not pure: generated MACs differ")
	}

	vm.UID = types.UID("uid-1")
	s, err := CloudInitSecret(cl, optionsEnv, vm)
	if err != nil {
		t.Fatal(err)
	}
	var nd map[string]interface{}
	if err := yaml.Unmarshal(s.Data["networkdata"], &nd); err != nil {
		t.Fatal(err)
	}
	want := map[string]interface{}{
		"version": float64(2),
		"ethernets": map[string]interface{}{
			"nic-0": map[string]interface{}{"match": map[string]interface{}{"macaddress": macs["nic-0"]}, "dhcp4": true,
				"mtu": float64(9000), "nameservers": map[string]interface{}{"search": []interface{}{"example.lan"}}},
			"nic-1": map[string]interface{}{"match": map[string]interface{}{"macaddress": macs["nic-1"]}, "dhcp4": true},
			"nic-2": map[string]interface{}{"match": map[string]interface{}{"macaddress": "02:00:00:00:00:ff"},
				"addresses":   []interface{}{"10.0.0.21/24"},
				"routes":      []interface{}{map[string]interface{}{"to": "0.0.0.0/0", "via": "10.0.0.1"}},
				"nameservers": map[string]interface{}{"addresses": []interface{}{"10.0.0.2", "10.0.0.3"}}},
		},
	}
	if !reflect.DeepEqual(nd, want) {
		got, _ := json.MarshalIndent(nd, "", " ")
		t.Errorf("network data:\n%s", got)
	}

	// A node of a pool without static addresses: DHCP on every NIC, the user's merged in.
	vm, _ = VMSpec(cl, optionsEnv, VM{Pool: "cp", Index: 1})
	vm.UID = "uid-2"
	s, err = CloudInitSecret(cl, optionsEnv, vm)
	if err != nil {
		t.Fatal(err)
	}
	nd = nil
	if err := yaml.Unmarshal(s.Data["networkdata"], &nd); err != nil {
		t.Fatal(err)
	}
	macs = map[string]string{}
	for _, i := range vm.Spec.Template.Spec.Domain.Devices.Interfaces {
		macs[i.Name] = i.MacAddress
	}
	want = map[string]interface{}{
		"version": float64(2),
		"ethernets": map[string]interface{}{
			"nic-0": map[string]interface{}{"match": map[string]interface{}{"macaddress": macs["nic-0"]}, "dhcp4": true,
				"mtu": float64(9000), "nameservers": map[string]interface{}{"search": []interface{}{"example.lan"}}},
			"nic-1": map[string]interface{}{"match": map[string]interface{}{"macaddress": macs["nic-1"]}, "dhcp4": true},
		},
	}
	if !reflect.DeepEqual(nd, want) {
		got, _ := json.MarshalIndent(nd, "", " ")
		t.Errorf("network data of a node without a static address:\n%s", got)
	}
	// Without static addresses in the cluster the user's network data goes as given; without it, there is none.
	cl.Template.StaticAddresses = nil
	vm, _ = VMSpec(cl, optionsEnv, VM{Pool: "cp", Index: 1})
	vm.UID = "uid-2"
	if s, err = CloudInitSecret(cl, optionsEnv, vm); err != nil || string(s.Data["networkdata"]) != cl.Template.NetworkData {
		t.Errorf("network data without static addresses: %q, %v", s.Data["networkdata"], err)
	}
	cl = testCluster()
	vm, _ = VMSpec(cl, testEnv, VM{Pool: "cp", Index: 1})
	vm.UID = "uid-3"
	s, _ = CloudInitSecret(cl, testEnv, vm)
	if _, ok := s.Data["networkdata"]; ok || vm.Spec.Template.Spec.Volumes[1].CloudInitNoCloud.NetworkDataSecretRef != nil {
		t.Error("network data without static addresses or the user's network-data")
	}
}

func TestNetworkDataRefusesVersion1WithStaticAddresses(t *testing.T) {
	cl := optionsCluster()
	cl.Template.NetworkData = "version: 1\nconfig:\n- {type: physical, name: eth0, subnets: [{type: dhcp}]}\n"
	_, err := NetworkData(cl, VM{Name: "demo-worker-1", Pool: "worker", Index: 1, StaticAddress: "10.0.0.20/24"})
	if err == nil || !strings.Contains(err.Error(), "must be version 2") {
		t.Errorf("err = %v", err)
	}
	cl.Template.StaticAddresses = nil
	if nd, err := NetworkData(cl, VM{Name: "demo-cp-1", Pool: "cp", Index: 1}); err != nil || nd != cl.Template.NetworkData {
		t.Errorf("without static addresses: %q, %v", nd, err)
	}
	// A VM and its pool disagree: refused rather than guessed.
	cl = optionsCluster()
	for _, node := range []VM{{Name: "demo-worker-1", Pool: "worker", Index: 1}, {Name: "demo-cp-1", Pool: "cp", Index: 1, StaticAddress: "10.0.0.20/24"}} {
		if _, err := NetworkData(cl, node); err == nil {
			t.Errorf("%+v: no error", node)
		}
	}
}

func TestParseNetworkConfig(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		version  int
		fixed    bool
		err      string
	}{
		{"empty", "", 0, false, ""},
		{"v2 dhcp", "version: 2\nethernets:\n  eth0: {dhcp4: true}\n", 2, false, ""},
		{"v2 wrapped, fixed address", "network:\n  version: 2\n  ethernets:\n    eth0: {addresses: [10.0.0.5/24]}\n", 2, true, ""},
		{"v1 static", "version: 1\nconfig:\n- type: physical\n  name: eth0\n  subnets: [{type: static, address: 10.0.0.5/24}]\n", 1, true, ""},
		{"v1 dhcp", "version: 1\nconfig:\n- type: physical\n  name: eth0\n  subnets: [{type: dhcp}]\n", 1, false, ""},
		{"v1 without config", "version: 1\n", 1, false, "config list"},
		{"version 3", "version: 3\n", 3, false, "version must be 1 or 2"},
		{"not a map", "- a\n- b\n", 0, false, "not YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := ParseNetworkConfig(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || nc.Version != tc.version || nc.FixedAddresses != tc.fixed {
				t.Errorf("got version %d, fixed %v, %v", nc.Version, nc.FixedAddresses, err)
			}
		})
	}
}

func TestAddressPool(t *testing.T) {
	p := AddressPool{Start: netip.MustParseAddr("10.0.0.0"), End: netip.MustParseAddr("10.0.0.7"), Prefix: 29,
		Gateway: netip.MustParseAddr("10.0.0.1"), DNS: []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("192.168.1.1")}}
	// 8 addresses less the subnet's own, its broadcast, the gateway and one DNS server.
	if n := p.Size(); n != 4 {
		t.Errorf("size %d, want 4", n)
	}
	a, ok := p.next(map[netip.Addr]bool{netip.MustParseAddr("10.0.0.3"): true})
	if !ok || a.String() != "10.0.0.4" {
		t.Errorf("next = %v %v, want 10.0.0.4", a, ok)
	}
	if p.String() != "10.0.0.0-10.0.0.7/29" || p.Subnet().String() != "10.0.0.0/29" {
		t.Errorf("%s, subnet %s", p, p.Subnet())
	}
}

func TestAssignAddresses(t *testing.T) {
	cl := testCluster()
	cl.Pools = []Pool{{Name: "cp", Count: 1}, {Name: "worker", Count: 3}}
	cl.Template.StaticAddresses = []AddressPool{{Start: netip.MustParseAddr("10.0.0.10"), End: netip.MustParseAddr("10.0.0.13"), Prefix: 24,
		Gateway: netip.MustParseAddr("10.0.0.11"), Pools: []string{"worker"}}}
	vm := func(pool string, n int, addr string) VM {
		name := VMName("demo", pool, n)
		return VM{Name: name, Pool: pool, Index: n, UID: "uid-" + name, StaticAddress: addr}
	}
	terminating := func(v VM) VM { v.Terminating = true; return v }
	for _, tc := range []struct {
		name    string
		vms     []VM
		missing []string // pool/index of the VMs to create
		want    []string // their addresses
		err     string
	}{
		{name: "lowest free first, the gateway skipped, a pool without static addresses gets none",
			missing: []string{"cp/1", "worker/1", "worker/2"}, want: []string{"", "10.0.0.10/24", "10.0.0.12/24"}},
		{name: "a freed address is used again, a terminating VM's is not",
			vms:     []VM{vm("worker", 2, "10.0.0.12/24"), terminating(vm("worker", 3, "10.0.0.10/24"))},
			missing: []string{"worker/1"}, want: []string{"10.0.0.13/24"}},
		{name: "the range is used up", vms: []VM{vm("worker", 1, "10.0.0.10/24"), vm("worker", 2, "10.0.0.12/24")},
			missing: []string{"worker/3", "worker/4"}, want: []string{"10.0.0.13/24", ""},
			err: "static-addresses: no free address in 10.0.0.10-10.0.0.13/24 for vm demo-worker-4 (3 in use)"},
		{name: "two VMs with one address", vms: []VM{vm("worker", 1, "10.0.0.10/24"), vm("worker", 2, "10.0.0.10/24")},
			err: "vms demo-worker-1 and demo-worker-2 both have static address 10.0.0.10: delete one of them"},
		{name: "a corrupt annotation", vms: []VM{vm("worker", 1, "ten")},
			err: `vm demo-worker-1: annotation harvesterrke.io/static-address is not <ip>/<prefix>: "ten"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var missing []VM
			for _, m := range tc.missing {
				pool, n, _ := strings.Cut(m, "/")
				missing = append(missing, vm(pool, int(n[0]-'0'), ""))
			}
			err := assignAddresses(cl, tc.vms, missing)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range missing {
				got = append(got, m.StaticAddress)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("addresses %q, want %q", got, tc.want)
			}
		})
	}
	// PlanVMs gives the addresses with the plan, and fails as a whole.
	p, err := PlanVMs(cl, []VM{vm("cp", 1, ""), vm("worker", 2, "10.0.0.10/24")})
	if err != nil || len(p.Missing) != 2 || p.Missing[0].StaticAddress != "10.0.0.12/24" || p.Missing[1].StaticAddress != "10.0.0.13/24" {
		t.Errorf("plan %+v, %v", p.Missing, err)
	}
	if _, err := PlanVMs(cl, []VM{vm("worker", 1, "10.0.0.13/24"), vm("worker", 2, "10.0.0.13/24")}); err == nil {
		t.Error("a plan over two VMs with one address must fail")
	}
}

func TestNICMAC(t *testing.T) {
	for _, tc := range []struct {
		nic      NIC
		n        int
		generate bool
		want     string
		err      string
	}{
		{NIC{}, 3, false, "", ""},
		{NIC{MAC: "02:00:00:00:00:ff"}, 2, false, "02:00:00:00:01:00", ""},
		{NIC{MAC: "ff:ff:ff:ff:ff:ff"}, 2, false, "", "beyond ff:ff:ff:ff:ff:ff"},
		{NIC{MAC: "02:00:00:00:00:00:00:01"}, 1, false, "", "not a 48-bit MAC"},
	} {
		got, err := nicMAC(testOwner, "demo-worker-1", tc.n, 0, tc.nic, tc.generate)
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("nicMAC(%+v, %d) = %q, %v; want %q, %q", tc.nic, tc.n, got, err, tc.want, tc.err)
		}
	}
	a, _ := nicMAC(testOwner, "demo-worker-1", 1, 0, NIC{}, true)
	b, _ := nicMAC(testOwner, "demo-worker-1", 1, 1, NIC{}, true)
	c, _ := nicMAC(twinOwner, "demo-worker-1", 1, 0, NIC{}, true)
	if !strings.HasPrefix(a, "02:") || a == b || a == c {
		t.Errorf("generated MACs %s %s %s: want locally administered, distinct per NIC and cluster", a, b, c)
	}
}

func TestPreflightDevices(t *testing.T) {
	objs := append(harvesterObjects(), image("images", "data", 100, "longhorn-data", 10<<30), nad("vms", "storage"))
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "harvester-longhorn"}, Provisioner: "driver.longhorn.io"}
	f := newFakes(t, objs, namespace("vms"), sc)
	env, err := f.Preflight(context.Background(), optionsCluster().Template)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(env.ImageStorageClasses, map[string]string{"images/data": "longhorn-data"}) {
		t.Errorf("image storage classes %v", env.ImageStorageClasses)
	}

	tmpl := optionsCluster().Template
	tmpl.NICs = append(tmpl.NICs, NIC{Network: ObjectRef{Namespace: "vms", Name: "gone"}})
	tmpl.Disks = append(tmpl.Disks, Disk{Size: resource.MustParse("1Gi"), Image: ObjectRef{Namespace: "images", Name: "data"}},
		Disk{Size: resource.MustParse("1Gi"), StorageClass: "nope"})
	_, err = newFakes(t, objs, namespace("vms"), sc).Preflight(context.Background(), tmpl)
	wantAll(t, err, "networks: NetworkAttachmentDefinition vms/gone: not found",
		"extra-disks: 1Gi is smaller than image images/data (10Gi)",
		`extra-disks: storage class "nope" does not exist`)
}

func TestDiskOfAny(t *testing.T) {
	for name, want := range map[string]bool{
		"demo-w-1-disk-0": true, "demo-w-1-disk-12": true, "demo-w-1-disk-": false, "demo-w-1-disk-x": false,
		"demo-w-10-disk-1": false, "demo-w-1-cloudinit": false,
	} {
		if got := diskOfAny(name, []string{"demo-w-1", "demo-w-2"}); got != want {
			t.Errorf("diskOfAny(%s) = %v", name, got)
		}
	}
}
