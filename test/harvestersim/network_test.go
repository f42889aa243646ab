package harvestersim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// nicSpec is a NIC of a test VM: its network ("" for the pod network) and MAC ("" for the stand-in's).
type nicSpec struct{ network, mac string }

// createVMWithNICs creates the VM with the NICs nic-0, nic-1, ... and network data in its cloud-init
// Secret, as the driver does.
func (e *env) createVMWithNICs(ctx context.Context, t *testing.T, s vmSpec, nics []nicSpec, networkData string) {
	t.Helper()
	{
		vm := buildVM(s)
		spec := &vm.Spec.Template.Spec
		spec.Domain.Devices.Interfaces, spec.Networks = nil, nil
		for i, n := range nics {
			name := fmt.Sprintf("nic-%d", i)
			iface := kubevirtv1.Interface{Name: name, Model: "virtio", MacAddress: n.mac}
			net := kubevirtv1.Network{Name: name}
			if n.network == "" {
				iface.Masquerade, net.Pod = &kubevirtv1.InterfaceMasquerade{}, &kubevirtv1.PodNetwork{}
			} else {
				iface.Bridge, net.Multus = &kubevirtv1.InterfaceBridge{}, &kubevirtv1.MultusNetwork{NetworkName: n.network}
			}
			spec.Domain.Devices.Interfaces = append(spec.Domain.Devices.Interfaces, iface)
			spec.Networks = append(spec.Networks, net)
		}
		ref := &corev1.LocalObjectReference{Name: s.name + "-cloudinit"}
		spec.Volumes[1].CloudInitNoCloud = &kubevirtv1.CloudInitNoCloudSource{UserDataSecretRef: ref}
		if networkData != "" {
			spec.Volumes[1].CloudInitNoCloud.NetworkDataSecretRef = ref
		}
		created, err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Create(ctx, toUnstructured(t, vm), metav1.CreateOptions{FieldValidation: "Strict"})
		if err != nil {
			t.Fatalf("create VM %s: %v", s.name, err)
		}
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: ref.Name, Namespace: "default", Labels: map[string]string{clusterLabel: s.cluster},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachine", Name: s.name, UID: created.GetUID()}}},
			Data: map[string][]byte{"userdata": []byte(s.userData)},
		}
		if networkData != "" {
			sec.Data["networkdata"] = []byte(networkData)
		}
		if _, err := e.kube.CoreV1().Secrets("default").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNetworksAndDisks: hosts honour their VM's NICs and cloud-init network data (version 2 and 1):
// exactly the static addresses asked for, DHCP from the stand-in, renamed NICs, MTU and DNS, gateways
// recorded but never routed; a second NIC is on its network's bridge, where the hosts of that network
// reach each other; the VMI reports what the host has. Extra disks' PVCs follow the VM.
func TestNetworksAndDisks(t *testing.T) {
	s := harvestersim.Start(t, harvestersim.Options{Networks: []string{"default/vlan1", "default/storage"}})
	e := newEnv(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	k := newKeys(t)
	base := s.HostSubnet.Addr().As4()
	addr := func(last byte) string { a := base; a[3] = last; return netip.AddrFrom4(a).String() }
	gateway := addr(1)

	v2 := fmt.Sprintf(`version: 2
ethernets:
  lan:
    match: {macaddress: "02:00:00:aa:00:01"}
    set-name: lan0
    addresses: [%s/24]
    gateway4: %s
    mtu: 1400
    nameservers: {addresses: [192.0.2.53], search: [example.lan]}
  eth1:
    dhcp4: true
`, addr(200), gateway)
	e.createVMWithNICs(ctx, t, debian12("nets-v2", "nets", simpleUserData(k)),
		[]nicSpec{{"default/vlan1", "02:00:00:aa:00:01"}, {"default/storage", ""}, {"", ""}}, v2)
	v1 := fmt.Sprintf(`version: 1
config:
- type: physical
  name: eth0
  mac_address: "02:00:00:aa:00:02"
  subnets: [{type: static, address: %s, netmask: 255.255.255.0, gateway: %s}]
- type: physical
  name: eth1
  subnets: [{type: static, address: 10.99.0.7/24}]
- {type: nameserver, address: 192.0.2.54}
`, addr(201), gateway)
	e.createVMWithNICs(ctx, t, debian12("nets-v1", "nets", simpleUserData(k)),
		[]nicSpec{{"default/vlan1", "02:00:00:aa:00:02"}, {"default/storage", ""}}, v1)
	e.createVMWithNICs(ctx, t, debian12("nets-none", "nets", simpleUserData(k)), []nicSpec{{"default/vlan1", ""}, {"default/storage", ""}}, "")

	type iface struct{ name, ifname, ip string }
	reported := func(vmi *kubevirtv1.VirtualMachineInstance) []iface {
		var out []iface
		for _, i := range vmi.Status.Interfaces {
			out = append(out, iface{i.Name, i.InterfaceName, strings.Join(i.IPs, ",")})
		}
		return out
	}
	vmiV2 := e.waitVMI(ctx, t, "nets-v2", running)
	vmiV1 := e.waitVMI(ctx, t, "nets-v1", running)
	vmiNone := e.waitVMI(ctx, t, "nets-none", running)
	dhcpV2 := vmiV2.Status.Interfaces[1].IP
	if got := reported(vmiV2); len(got) != 3 || got[0] != (iface{"nic-0", "lan0", addr(200)}) || got[1].ifname != "eth1" ||
		!strings.HasPrefix(dhcpV2, "10.202.") || got[2] != (iface{"nic-2", "eth2", ""}) {
		t.Errorf("nets-v2 reports %+v", got)
	}
	if got := reported(vmiV1); len(got) != 2 || got[0] != (iface{"nic-0", "eth0", addr(201)}) || got[1] != (iface{"nic-1", "eth1", "10.99.0.7"}) {
		t.Errorf("nets-v1 reports %+v", got)
	}
	if got := reported(vmiNone); len(got) != 2 || !s.HostSubnet.Contains(netip.MustParseAddr(got[0].ip)) || got[1].ip != "" {
		t.Errorf("nets-none (no network data: DHCP on the first NIC only) reports %+v", got)
	}

	// What the host has is what it reports, and nothing routes off the machine.
	for _, c := range []struct{ vm, cmd, want string }{
		{"nets-v2", "ip -4 -o addr show | awk '{print $2, $4}'", "lo 127.0.0.1/8\nlan0 " + addr(200) + "/24\neth1 " + dhcpV2 + "/24"},
		{"nets-v2", "cat /sys/class/net/lan0/mtu /sys/class/net/lan0/address", "1400\n02:00:00:aa:00:01"},
		{"nets-v2", "cat /etc/resolv.conf", "nameserver 192.0.2.53\nsearch example.lan"},
		{"nets-v2", "ip -4 route show default | wc -l", "0"},
		{"nets-v2", "grep -c 'route 0.0.0.0/0 via " + gateway + " dev lan0 recorded, not installed' /var/log/cloud-init-output.log", "1"},
		{"nets-v1", "ip -4 route show default | wc -l; cat /etc/resolv.conf", "0\nnameserver 192.0.2.54"},
		// The second NICs share their network's bridge: nets-v2 reaches nets-v1 on it.
		{"nets-v2", "ip addr add 10.99.0.8/24 dev eth1 && timeout 5 bash -c '</dev/tcp/10.99.0.7/22' && echo reached", "reached"},
	} {
		out, err := s.Exec(ctx, "default/"+c.vm, "sh", "-c", c.cmd)
		if err != nil || strings.TrimSpace(string(out)) != c.want {
			t.Errorf("%s: %s: got %q (%v), want %q", c.vm, c.cmd, out, err, c.want)
		}
	}
	// The machine reaches the static addresses over SSH.
	for _, a := range []string{addr(200), addr(201)} {
		c, err := dialSSH(ctx, a, "rke", k)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	e.deleteVMs(ctx, t, "nets", "nets-v2", "nets-v1", "nets-none")

	// An extra disk is a PVC from the VM's templates, on a storage class, deleted with the VM; one on a
	// storage class that does not exist keeps the VM from starting.
	for _, tc := range []struct{ name, sc, want string }{{"disk-ok", s.StorageClass, ""}, {"disk-nosc", "gold", "storage class gold not found"}} {
		vm := buildVM(debian12(tc.name, "disks", simpleUserData(k)))
		var pvcs []corev1.PersistentVolumeClaim
		_ = json.Unmarshal([]byte(vm.Annotations["harvesterhci.io/volumeClaimTemplates"]), &pvcs)
		block, sc := corev1.PersistentVolumeBlock, tc.sc
		pvcs = append(pvcs, corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: tc.name + "-disk-1", Labels: map[string]string{clusterLabel: "disks"}},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}, VolumeMode: &block,
				StorageClassName: &sc, Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")}}},
		})
		b, _ := json.Marshal(pvcs)
		vm.Annotations["harvesterhci.io/volumeClaimTemplates"] = string(b)
		spec := &vm.Spec.Template.Spec
		spec.Domain.Devices.Disks = append(spec.Domain.Devices.Disks, kubevirtv1.Disk{Name: "disk-1", DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: "scsi"}}})
		spec.Volumes = append(spec.Volumes, kubevirtv1.Volume{Name: "disk-1", VolumeSource: kubevirtv1.VolumeSource{PersistentVolumeClaim: &kubevirtv1.PersistentVolumeClaimVolumeSource{
			PersistentVolumeClaimVolumeSource: corev1.PersistentVolumeClaimVolumeSource{ClaimName: tc.name + "-disk-1"}}}})
		if _, err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Create(ctx, toUnstructured(t, vm), metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
			t.Fatal(err)
		}
		if tc.want != "" {
			if msg := e.waitEvent(ctx, t, tc.name, "FailedCreate"); !strings.Contains(msg, tc.want) {
				t.Errorf("%s: event %q, want %q", tc.name, msg, tc.want)
			}
			continue
		}
		e.waitVMI(ctx, t, tc.name, running)
		pvc, err := e.kube.CoreV1().PersistentVolumeClaims("default").Get(ctx, tc.name+"-disk-1", metav1.GetOptions{})
		if err != nil || pvc.Status.Phase != corev1.ClaimBound || *pvc.Spec.StorageClassName != s.StorageClass {
			t.Errorf("extra disk's PVC: %+v %v", pvc, err)
		}
	}
	e.deleteVMs(ctx, t, "disks", "disk-ok", "disk-nosc")
}
