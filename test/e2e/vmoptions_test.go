package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	kubevirtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

// hostAddr is the address of the stand-in's host subnet ending in last.
func hostAddr(sim *harvestersim.Sim, last byte) string {
	a := sim.HostSubnet.Addr().As4()
	a[3] = last
	return netip.AddrFrom4(a).String()
}

const userAffinity = `{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":20,"preference":{"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["zone-a"]}]}}]},` +
	`"podAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":10,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app":"storage"}},"topologyKey":"kubernetes.io/hostname"}}]}}`

// Every VM option reaches the VMs as the API server keeps them (under strict field validation against
// KubeVirt's schemas), field by field; the hosts have what the network options ask (a static address
// the driver reaches them at, a second NIC), the extra disks' PVCs exist, and Remove leaves nothing.
// Options Harvester would refuse are refused before anything is made.
func TestVMOptionsOnStandIn(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{Networks: []string{"default/vlan1", "default/storage"}})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	t.Run("refused before anything exists", func(t *testing.T) {
		opts := simOptions(sim, "c-bad", "m=1:etcd+controlplane", "w=2:worker")
		opts.StringOptions["vm-affinity"] = `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpresions":[]}]}}}`
		opts.BoolOptions["isolate-emulator-thread"] = true
		opts.StringOptions["network"] = "default/vlan1"
		opts.StringSliceOptions["static-addresses"] = &types.StringSlice{Value: []string{hostAddr(sim, 100) + "-" + hostAddr(sim, 100) + "/24,pools=w"}}
		opts.StringSliceOptions["extra-disks"] = &types.StringSlice{Value: []string{"10Gi,image=default/debian-12,storage-class=x"}}
		info, err := p.Client.Create(ctx, opts, nil)
		for _, want := range []string{"vm-affinity: is not a Kubernetes Affinity in JSON: unknown field \"matchExpresions\"",
			"isolate-emulator-thread: requires cpu-pinning", "static-addresses: \"" + hostAddr(sim, 100), "has 1 addresses for 2 nodes",
			"extra-disks: \"10Gi,image=default/debian-12,storage-class=x\": give image or storage-class, not both"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("create: %v\nwant %q", err, want)
			}
		}
		if info != nil && info.Metadata["state"] != "" {
			t.Errorf("a refused create returned a state")
		}
		if left, err := sim.Leftovers(ctx, "harvesterrke.io/cluster=c-bad"); err != nil || len(left) > 0 {
			t.Errorf("a refused create made %v (%v)", left, err)
		}
	})

	const name = "c-opts"
	opts := simOptions(sim, name, "m=1:etcd+controlplane", "w=2:worker")
	opts.StringSliceOptions["networks"] = &types.StringSlice{Value: []string{"default/vlan1", "default/storage,model=e1000,mac=02:00:00:00:0a:01,pools=w"}}
	opts.StringSliceOptions["static-addresses"] = &types.StringSlice{Value: []string{
		fmt.Sprintf("%s-%s/24,gateway=%s,dns=192.0.2.53+192.0.2.54,pools=w", hostAddr(sim, 100), hostAddr(sim, 103), hostAddr(sim, 1))}}
	opts.StringOptions["network-data"] = "version: 2\nethernets:\n  nic-0:\n    mtu: 1450\n    nameservers: {search: [cluster.example]}\n"
	opts.StringSliceOptions["extra-disks"] = &types.StringSlice{Value: []string{
		"20Gi,storage-class=" + sim.StorageClass + ",bus=scsi,pools=w", "10Gi,image=default/debian-12-nodocker,boot-order=2"}}
	opts.StringOptions["cpu-model"] = "host-passthrough"
	opts.BoolOptions["cpu-pinning"] = true
	opts.BoolOptions["isolate-emulator-thread"] = true
	opts.BoolOptions["secure-boot"] = true
	opts.BoolOptions["tpm"] = true
	opts.StringOptions["vm-affinity"] = userAffinity
	info, err := p.Client.Create(ctx, opts, nil)
	expectKubernetesStep(t, info, err)
	st := stateOf(t, info)

	dyn, err := dynamic.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	static := map[string]string{}
	for _, vm := range clusterVMs(t, sim, name) {
		pool := vm.Labels["harvesterrke.io/pool"]
		index := int(vm.Name[len(vm.Name)-1] - '0')
		checkOptionsVM(t, sim, vm, pool, index)
		static[vm.Name] = vm.Annotations["harvesterrke.io/static-address"]
		checkNetworkData(ctx, t, kube, vm, pool, static[vm.Name], hostAddr(sim, 1))
		vmi, err := dyn.Resource(gvr.VirtualMachineInstances).Namespace("default").Get(ctx, vm.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var typed kubevirtv1.VirtualMachineInstance
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(vmi.Object, &typed); err != nil {
			t.Fatal(err)
		}
		// The host has what its network data asks, and the VMI reports it.
		out, err := sim.Exec(ctx, "default/"+vm.Name, "sh", "-c", "ip -4 -o addr show dev eth0 | awk '{print $4}'; cat /sys/class/net/eth0/mtu; ip -4 route show default | wc -l; ls /sys/class/net | grep ^eth")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Fields(string(out))
		wantNICs := "eth0"
		if pool == "w" {
			wantNICs = "eth0 eth1"
			if len(lines) < 1 || lines[0] != static[vm.Name] || typed.Status.Interfaces[0].IP != strings.TrimSuffix(static[vm.Name], "/24") {
				t.Errorf("%s: host has %v, VMI reports %+v; want exactly %s", vm.Name, lines, typed.Status.Interfaces, static[vm.Name])
			}
		}
		if got := strings.Join(lines[1:], " "); got != "1450 0 "+wantNICs {
			t.Errorf("%s: MTU, default routes and NICs: %q, want %q", vm.Name, got, "1450 0 "+wantNICs)
		}
	}
	if want := map[string]string{"c-opts-m-1": "", "c-opts-w-1": hostAddr(sim, 100) + "/24", "c-opts-w-2": hostAddr(sim, 101) + "/24"}; !reflect.DeepEqual(static, want) {
		t.Errorf("static addresses %v, want %v", static, want)
	}
	// The driver reached the workers at their static addresses, over SSH, and Docker runs there.
	for _, n := range st.Cluster.Nodes {
		if s := static[n.Name]; s != "" && (n.Address != strings.TrimSuffix(s, "/24") || n.Phase != "docker") {
			t.Errorf("node %s: address %s phase %s, want %s and docker", n.Name, n.Address, n.Phase, s)
		}
	}
	// The extra disks' PVCs, Bound, on their storage classes.
	pvcs, err := kube.CoreV1().PersistentVolumeClaims("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var disks []string
	for _, pvc := range pvcs.Items {
		if strings.HasPrefix(pvc.Name, name+"-") && pvc.Status.Phase == corev1.ClaimBound {
			disks = append(disks, pvc.Name+":"+*pvc.Spec.StorageClassName)
		}
	}
	sort.Strings(disks)
	if want := []string{"c-opts-m-1-disk-0:longhorn-debian-12", "c-opts-m-1-disk-1:longhorn-debian-12-nodocker",
		"c-opts-w-1-disk-0:longhorn-debian-12", "c-opts-w-1-disk-1:harvester-longhorn", "c-opts-w-1-disk-2:longhorn-debian-12-nodocker",
		"c-opts-w-2-disk-0:longhorn-debian-12", "c-opts-w-2-disk-1:harvester-longhorn", "c-opts-w-2-disk-2:longhorn-debian-12-nodocker"}; !slices.Equal(disks, want) {
		t.Errorf("PVCs %v\nwant %v", disks, want)
	}

	if err := p.Client.Remove(ctx, info); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, sim, name)
	pvcs, _ = kube.CoreV1().PersistentVolumeClaims("default").List(ctx, metav1.ListOptions{})
	for _, pvc := range pvcs.Items {
		if strings.HasPrefix(pvc.Name, name+"-") {
			t.Errorf("PVC %s left after Remove", pvc.Name)
		}
	}
}

// checkOptionsVM compares a VM of TestVMOptionsOnStandIn with its options, field by field.
func checkOptionsVM(t *testing.T, sim *harvestersim.Sim, vm kubevirtv1.VirtualMachine, pool string, n int) {
	t.Helper()
	errorf := func(format string, args ...any) { t.Errorf("vm %s: "+format, append([]any{vm.Name}, args...)...) }
	spec := vm.Spec.Template.Spec
	d := spec.Domain

	// Networks: nic-0 on vlan1 for every pool, nic-1 on storage for w, with its MAC +n-1.
	type nic struct{ name, model, network, binding string }
	var nics []nic
	for i, iface := range d.Devices.Interfaces {
		binding := "masquerade"
		if iface.Bridge != nil {
			binding = "bridge"
		}
		network := spec.Networks[i]
		if network.Name != iface.Name || network.Multus == nil {
			errorf("network %d %+v for interface %s", i, network, iface.Name)
			continue
		}
		nics = append(nics, nic{iface.Name, iface.Model, network.Multus.NetworkName, binding})
		if iface.MacAddress == "" {
			errorf("interface %s has no MAC: the network data cannot match it", iface.Name)
		}
	}
	want := []nic{{"nic-0", "virtio", "default/vlan1", "bridge"}}
	if pool == "w" {
		want = append(want, nic{"nic-1", "e1000", "default/storage", "bridge"})
		if mac := d.Devices.Interfaces[1].MacAddress; mac != fmt.Sprintf("02:00:00:00:0a:%02x", n) {
			errorf("nic-1 MAC %s, want 02:00:00:00:0a:%02x", mac, n)
		}
	}
	if !reflect.DeepEqual(nics, want) {
		errorf("NICs %+v, want %+v", nics, want)
	}

	// Disks: root (boot 1), the empty scsi disk for w, the image disk (boot 2), cloud-init.
	type disk struct {
		name, bus string
		boot      uint
		claim     string
	}
	claims := map[string]string{}
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims[v.Name] = v.PersistentVolumeClaim.ClaimName
		}
	}
	var disks []disk
	for _, dk := range d.Devices.Disks {
		boot := uint(0)
		if dk.BootOrder != nil {
			boot = *dk.BootOrder
		}
		disks = append(disks, disk{dk.Name, string(dk.Disk.Bus), boot, claims[dk.Name]})
	}
	wantDisks := []disk{{"disk-0", "virtio", 1, vm.Name + "-disk-0"}}
	if pool == "w" {
		wantDisks = append(wantDisks, disk{"disk-1", "scsi", 0, vm.Name + "-disk-1"}, disk{"disk-2", "virtio", 2, vm.Name + "-disk-2"})
	} else {
		wantDisks = append(wantDisks, disk{"disk-1", "virtio", 2, vm.Name + "-disk-1"})
	}
	wantDisks = append(wantDisks, disk{"cloudinitdisk", "virtio", 0, ""})
	if !reflect.DeepEqual(disks, wantDisks) {
		errorf("disks %+v\nwant %+v", disks, wantDisks)
	}
	var templates []corev1.PersistentVolumeClaim
	if err := json.Unmarshal([]byte(vm.Annotations["harvesterhci.io/volumeClaimTemplates"]), &templates); err != nil || len(templates) != len(wantDisks)-1 {
		errorf("volumeClaimTemplates %s (%v)", vm.Annotations["harvesterhci.io/volumeClaimTemplates"], err)
	} else {
		last := templates[len(templates)-1]
		if last.Annotations["harvesterhci.io/imageId"] != "default/debian-12-nodocker" || last.Spec.Resources.Requests.Storage().String() != "10Gi" {
			errorf("image disk template %+v", last)
		}
		if pool == "w" && (*templates[1].Spec.StorageClassName != sim.StorageClass || templates[1].Spec.Resources.Requests.Storage().String() != "20Gi" || templates[1].Annotations["harvesterhci.io/imageId"] != "") {
			errorf("empty disk template %+v", templates[1])
		}
	}

	// Firmware and CPU.
	if d.CPU == nil || d.CPU.Model != "host-passthrough" || !d.CPU.DedicatedCPUPlacement || !d.CPU.IsolateEmulatorThread {
		errorf("cpu %+v", d.CPU)
	}
	if d.Resources.Requests.Cpu().String() != "1" || d.Resources.Requests.Memory().String() != "1Gi" ||
		d.Resources.Limits.Cpu().String() != "1" || d.Resources.Limits.Memory().String() != "1Gi" {
		errorf("resources %+v: dedicated CPUs need requests = limits", d.Resources)
	}
	if d.Firmware == nil || d.Firmware.Bootloader == nil || d.Firmware.Bootloader.EFI == nil || d.Firmware.Bootloader.EFI.SecureBoot == nil || !*d.Firmware.Bootloader.EFI.SecureBoot {
		errorf("firmware %+v: want EFI with secure boot", d.Firmware)
	}
	if d.Features == nil || d.Features.SMM == nil || d.Features.SMM.Enabled == nil || !*d.Features.SMM.Enabled {
		errorf("features %+v: secure boot needs SMM", d.Features)
	}
	if d.Devices.TPM == nil {
		errorf("no TPM")
	}

	// Placement: the user's terms and the cluster's soft anti-affinity.
	var user corev1.Affinity
	if err := json.Unmarshal([]byte(userAffinity), &user); err != nil {
		t.Fatal(err)
	}
	a := spec.Affinity
	if a == nil || !reflect.DeepEqual(a.NodeAffinity, user.NodeAffinity) || !reflect.DeepEqual(a.PodAffinity, user.PodAffinity) ||
		a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
		a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.LabelSelector.MatchLabels["harvesterrke.io/cluster-id"] == "" {
		b, _ := json.Marshal(a)
		errorf("affinity %s", b)
	}

	// cloud-init: user and network data from the VM's Secret.
	ci := spec.Volumes[len(spec.Volumes)-1].CloudInitNoCloud
	if ci == nil || ci.UserDataSecretRef == nil || ci.NetworkDataSecretRef == nil || ci.NetworkDataSecretRef.Name != vm.Name+"-cloudinit" {
		errorf("cloud-init %+v", ci)
	}
}

// checkNetworkData reads the VM's network data: every NIC by its MAC, the static address on nic-0 of a
// w node with gateway and DNS, DHCP elsewhere, and the user's settings merged in.
func checkNetworkData(ctx context.Context, t *testing.T, kube kubernetes.Interface, vm kubevirtv1.VirtualMachine, pool, static, gateway string) {
	t.Helper()
	s, err := kube.CoreV1().Secrets(vm.Namespace).Get(ctx, vm.Name+"-cloudinit", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := yaml.Unmarshal(s.Data["networkdata"], &got); err != nil {
		t.Fatalf("network data of %s: %v", vm.Name, err)
	}
	macs := map[string]string{}
	for _, i := range vm.Spec.Template.Spec.Domain.Devices.Interfaces {
		macs[i.Name] = i.MacAddress
	}
	nic0 := map[string]any{"match": map[string]any{"macaddress": macs["nic-0"]}, "mtu": float64(1450),
		"nameservers": map[string]any{"search": []any{"cluster.example"}}}
	want := map[string]any{"version": float64(2), "ethernets": map[string]any{"nic-0": nic0}}
	if pool == "w" {
		nic0["addresses"] = []any{static}
		nic0["routes"] = []any{map[string]any{"to": "0.0.0.0/0", "via": gateway}}
		nic0["nameservers"] = map[string]any{"search": []any{"cluster.example"}, "addresses": []any{"192.0.2.53", "192.0.2.54"}}
		want["ethernets"].(map[string]any)["nic-1"] = map[string]any{"match": map[string]any{"macaddress": macs["nic-1"]}, "dhcp4": true}
	} else {
		nic0["dhcp4"] = true
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("network data of %s:\n%s", vm.Name, s.Data["networkdata"])
	}
}

// A pool with static addresses scaled 2 -> 4 -> 1 -> 3 and a VM deleted by hand and re-created: each
// node has an address of the range no other has, freed ones are given again (lowest first), a range
// too small is refused before anything changes, and Remove leaves nothing.
func TestStaticAddressesScaleOnStandIn(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	const name = "c-static"
	opts := simOptions(sim, name, "m=1:etcd+controlplane", "w=2:worker")
	opts.StringOptions["network"] = "default/vlan1"
	opts.StringSliceOptions["static-addresses"] = &types.StringSlice{Value: []string{
		fmt.Sprintf("%s-%s/24,gateway=%s,pools=w", hostAddr(sim, 110), hostAddr(sim, 113), hostAddr(sim, 1))}}
	info, err := p.Client.Create(ctx, opts, nil)
	expectKubernetesStep(t, info, err)
	info.CreateError = ""

	a := func(last byte) string { return hostAddr(sim, last) }
	// check compares the workers' addresses as recorded, as their hosts have them and as the driver
	// reached them.
	check := func(step string, want map[string]string) {
		t.Helper()
		got := map[string]string{}
		for _, vm := range clusterVMs(t, sim, name) {
			if vm.DeletionTimestamp != nil || vm.Labels["harvesterrke.io/pool"] != "w" {
				continue
			}
			got[vm.Name] = strings.TrimSuffix(vm.Annotations["harvesterrke.io/static-address"], "/24")
			out, err := sim.Exec(ctx, "default/"+vm.Name, "sh", "-c", "ip -4 -o addr show dev eth0 | awk '{print $4}'")
			if err != nil || strings.TrimSpace(string(out)) != got[vm.Name]+"/24" {
				t.Errorf("%s: %s has %q (%v), recorded %s", step, vm.Name, out, err, got[vm.Name])
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: worker addresses %v, want %v", step, got, want)
		}
		for _, n := range stateOf(t, info).Cluster.Nodes {
			if w, ok := want[n.Name]; ok && (n.Address != w || n.Phase != "docker") {
				t.Errorf("%s: node %s reached at %s (phase %s), want %s", step, n.Name, n.Address, n.Phase, w)
			}
		}
	}
	update := func(workers string) {
		t.Helper()
		opts.StringSliceOptions["node-pools"].Value = []string{"m=1:etcd+controlplane", workers}
		start := time.Now()
		out, err := p.Client.Update(ctx, info, opts)
		if !stoppedAtImagePull(err) {
			t.Fatalf("update to %s did not reach the Kubernetes step: %v", workers, err)
		}
		if out != nil {
			info = out
		}
		t.Logf("update to %s: %s", workers, time.Since(start).Round(time.Millisecond))
	}

	check("create", map[string]string{"c-static-w-1": a(110), "c-static-w-2": a(111)})
	update("w=4:worker")
	check("2 -> 4", map[string]string{"c-static-w-1": a(110), "c-static-w-2": a(111), "c-static-w-3": a(112), "c-static-w-4": a(113)})

	opts.StringSliceOptions["node-pools"].Value = []string{"m=1:etcd+controlplane", "w=5:worker"}
	if _, err := p.Client.Update(ctx, info, opts); err == nil || !strings.Contains(err.Error(), "has 4 addresses for 5 nodes") {
		t.Fatalf("a range too small: %v", err)
	}
	check("refused 4 -> 5", map[string]string{"c-static-w-1": a(110), "c-static-w-2": a(111), "c-static-w-3": a(112), "c-static-w-4": a(113)})

	update("w=1:worker")
	check("4 -> 1", map[string]string{"c-static-w-1": a(110)})
	update("w=3:worker")
	check("1 -> 3", map[string]string{"c-static-w-1": a(110), "c-static-w-2": a(111), "c-static-w-3": a(112)})

	// A VM deleted by hand comes back, at the lowest free address: its own.
	dyn, err := dynamic.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := dyn.Resource(gvr.VirtualMachines).Namespace("default").Delete(ctx, "c-static-w-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the VM deleted by hand to go", func() bool { return len(clusterVMs(t, sim, name)) == 3 })
	update("w=3:worker")
	check("re-created", map[string]string{"c-static-w-1": a(110), "c-static-w-2": a(111), "c-static-w-3": a(112)})

	if err := p.Client.Remove(ctx, info); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, sim, name)
}

// RKE runs on the static addresses: its nodes' InternalIP is the address the driver gave them.
func TestKubernetesOnStaticAddresses(t *testing.T) {
	testenv.SkipShort(t, "takes minutes: RKE brings up a real cluster")
	sim := harvestersim.Start(t, harvestersim.Options{RKEImages: true})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	opts := simOptions(sim, "k-static", "all=1:etcd+controlplane+worker")
	opts.StringOptions["network"] = "default/vlan1"
	opts.StringSliceOptions["static-addresses"] = &types.StringSlice{Value: []string{hostAddr(sim, 120) + "-" + hostAddr(sim, 121) + "/24"}}
	// With Harvester's cloud provider the kubelet leaves the node's addresses to it, and its image
	// cannot run here: the kubelet's own addresses are what this test reads.
	opts.BoolOptions["harvester-cloud-provider"] = false
	info := createCluster(ctx, t, p, opts, 1)
	defer func() { removeCluster(t, sim, p, info, "k-static") }()
	cs := rancherClient(ctx, t, p, info, []string{"k-static-all-1"})
	node, err := cs.CoreV1().Nodes().Get(ctx, "k-static-all-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var internal string
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			internal = a.Address
		}
	}
	if internal != hostAddr(sim, 120) {
		t.Errorf("the node's InternalIP is %q, want its static address %s", internal, hostAddr(sim, 120))
	}
}
