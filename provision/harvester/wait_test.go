package harvester

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

func TestVMIAddress(t *testing.T) {
	iface := func(name, ip string, ips ...string) kubevirtv1.VirtualMachineInstanceNetworkInterface {
		return kubevirtv1.VirtualMachineInstanceNetworkInterface{Name: name, IP: ip, IPs: ips}
	}
	for _, tc := range []struct {
		name     string
		phase    kubevirtv1.VirtualMachineInstancePhase
		ifaces   []kubevirtv1.VirtualMachineInstanceNetworkInterface
		addr     string
		whyParts string
	}{
		{name: "pending", phase: "", whyParts: "VMI phase Pending"},
		{name: "scheduling", phase: kubevirtv1.Scheduling, whyParts: "VMI phase Scheduling"},
		{name: "running without interfaces", phase: kubevirtv1.Running, whyParts: "no interface reported"},
		{name: "running, interface without address", phase: kubevirtv1.Running, ifaces: []kubevirtv1.VirtualMachineInstanceNetworkInterface{iface("nic-0", "")}, whyParts: "no address on the first interface"},
		{name: "IPv4", phase: kubevirtv1.Running, ifaces: []kubevirtv1.VirtualMachineInstanceNetworkInterface{iface("nic-0", "10.0.0.5", "10.0.0.5", "fd00::5")}, addr: "10.0.0.5"},
		{name: "IPv6 listed first", phase: kubevirtv1.Running, ifaces: []kubevirtv1.VirtualMachineInstanceNetworkInterface{iface("nic-0", "fd00::5", "fd00::5", "10.0.0.5")}, addr: "10.0.0.5"},
		{name: "CIDR suffix", phase: kubevirtv1.Running, ifaces: []kubevirtv1.VirtualMachineInstanceNetworkInterface{iface("nic-0", "10.0.0.5/24")}, addr: "10.0.0.5"},
		{name: "IPv6 only", phase: kubevirtv1.Running, ifaces: []kubevirtv1.VirtualMachineInstanceNetworkInterface{iface("nic-0", "fe80::1", "fe80::1", "2001:db8::1")}, whyParts: "no usable IPv4 address, only fe80::1, 2001:db8::1"},
		{name: "link-local IPv4 only", phase: kubevirtv1.Running, ifaces: []kubevirtv1.VirtualMachineInstanceNetworkInterface{iface("nic-0", "169.254.3.4")}, whyParts: "only 169.254.3.4"},
		{name: "loopback only", phase: kubevirtv1.Running, ifaces: []kubevirtv1.VirtualMachineInstanceNetworkInterface{iface("nic-0", "127.0.0.2")}, whyParts: "only 127.0.0.2"},
		{name: "our NIC, not the guest's first", phase: kubevirtv1.Running, ifaces: []kubevirtv1.VirtualMachineInstanceNetworkInterface{iface("", "172.17.0.1"), iface("nic-0", "10.0.0.7")}, addr: "10.0.0.7"},
		{name: "first interface when none is named", phase: kubevirtv1.Running, ifaces: []kubevirtv1.VirtualMachineInstanceNetworkInterface{iface("", "10.0.0.8"), iface("", "10.0.0.9")}, addr: "10.0.0.8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vmi := &kubevirtv1.VirtualMachineInstance{Status: kubevirtv1.VirtualMachineInstanceStatus{Phase: tc.phase, Interfaces: tc.ifaces}}
			addr, why := vmiAddress(vmi)
			if addr != tc.addr || (tc.whyParts == "") != (why == "") || !strings.Contains(why, tc.whyParts) {
				t.Errorf("vmiAddress = %q, %q; want %q, %q", addr, why, tc.addr, tc.whyParts)
			}
		})
	}
}

func vmiObject(t *testing.T, owner Owner, name string, phase kubevirtv1.VirtualMachineInstancePhase, ip string) *unstructured.Unstructured {
	t.Helper()
	vmi := &kubevirtv1.VirtualMachineInstance{}
	vmi.APIVersion, vmi.Kind = "kubevirt.io/v1", "VirtualMachineInstance"
	vmi.Name, vmi.Namespace = name, "vms"
	vmi.Labels = owner.labels()
	vmi.Status.Phase = phase
	if ip != "" {
		vmi.Status.Interfaces = []kubevirtv1.VirtualMachineInstanceNetworkInterface{{Name: "nic-0", IP: ip, IPs: []string{ip}}}
	}
	u, err := toUnstructured(vmi)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestWaitForAddressesReady(t *testing.T) {
	f := newFakes(t, []runtime.Object{
		vmiObject(t, testOwner, "demo-cp-1", kubevirtv1.Running, "10.0.0.1"),
		vmiObject(t, testOwner, "demo-worker-1", kubevirtv1.Running, "10.0.0.2"),
		vmiObject(t, otherOwner, "other-1", kubevirtv1.Scheduling, ""),
	})
	nodes, err := f.WaitForAddresses(context.Background(), "vms", testOwner,
		[]VM{{Name: "demo-cp-1", Pool: "cp", Index: 1}, {Name: "demo-worker-1", Pool: "worker", Index: 1}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if nodes[0].Address != "10.0.0.1" || nodes[1].Address != "10.0.0.2" || nodes[1].Pool != "worker" {
		t.Errorf("nodes = %+v", nodes)
	}
}

// A node that times out is named with what it waits for; the others keep their addresses.
func TestWaitForAddressesTimeout(t *testing.T) {
	f := newFakes(t, []runtime.Object{
		vmiObject(t, testOwner, "demo-cp-1", kubevirtv1.Running, "10.0.0.1"),
		vmiObject(t, testOwner, "demo-worker-1", kubevirtv1.Scheduling, ""),
		vmiObject(t, testOwner, "demo-worker-2", kubevirtv1.Running, "fe80::2"),
		// Selection is by id: a VMI of that name with another cluster's id is not ours.
		vmiObject(t, twinOwner, "demo-worker-3", kubevirtv1.Running, "10.0.0.3"),
	})
	nodes, err := f.WaitForAddresses(context.Background(), "vms", testOwner,
		[]VM{{Name: "demo-cp-1"}, {Name: "demo-worker-1"}, {Name: "demo-worker-2"}, {Name: "demo-worker-3"}}, 200*time.Millisecond)
	wantAll(t, err, "VMs of cluster c-abc12 not ready after 200ms",
		"demo-worker-1: VMI phase Scheduling", "demo-worker-2: running, no usable IPv4 address, only fe80::2", "demo-worker-3: no VMI yet")
	if strings.Contains(err.Error(), "demo-cp-1") {
		t.Errorf("the ready node is named in the error: %v", err)
	}
	if nodes[0].Address != "10.0.0.1" {
		t.Errorf("the known address was dropped: %+v", nodes)
	}
}

// Addresses that arrive after the wait began are seen through the watch.
func TestWaitForAddressesWatches(t *testing.T) {
	f := newFakes(t, []runtime.Object{vmiObject(t, testOwner, "demo-cp-1", kubevirtv1.Scheduled, "")})
	watching := make(chan struct{})
	f.dyn.PrependWatchReactor("virtualmachineinstances", func(a k8stesting.Action) (bool, watch.Interface, error) {
		w, err := f.dyn.Tracker().Watch(gvrVMI, a.GetNamespace())
		close(watching)
		return true, w, err
	})
	go func() {
		<-watching
		for _, ip := range []string{"", "10.0.0.9"} { // running first, the guest agent reports later
			_ = f.dyn.Tracker().Update(gvrVMI, vmiObject(t, testOwner, "demo-cp-1", kubevirtv1.Running, ip), "vms")
		}
	}()
	nodes, err := f.WaitForAddresses(context.Background(), "vms", testOwner, []VM{{Name: "demo-cp-1"}}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if nodes[0].Address != "10.0.0.9" {
		t.Errorf("address = %q, want 10.0.0.9", nodes[0].Address)
	}
}

func TestWaitForAddressesCancelled(t *testing.T) {
	f := newFakes(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.WaitForAddresses(ctx, "vms", testOwner, []VM{{Name: "demo-cp-1"}}, time.Minute)
	wantAll(t, err, "wait for VMs of cluster c-abc12", "context canceled")
}
