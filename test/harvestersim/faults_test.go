package harvestersim_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// testFaultBootDelay: a VM's own boot delay replaces the stand-in's.
func testFaultBootDelay(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const delay = 6 * time.Second
	if err := e.sim.InjectFault(ctx, "default/slow", harvestersim.Fault{BootDelay: delay}); err != nil {
		t.Fatal(err)
	}
	e.createVM(ctx, t, debian12("slow", "slow", ""))
	checkBootDelay(t, e.waitVMI(ctx, t, "slow", running), delay)
	if err := e.sim.ClearFault(ctx, "default/slow"); err != nil {
		t.Error(err)
	}
	e.deleteVMs(ctx, t, "slow", "slow")
}

// testFaultNoAddress: the VMI runs but reports no address (no guest agent) until the fault is cleared.
func testFaultNoAddress(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.sim.InjectFault(ctx, "default/noaddr", harvestersim.Fault{NoAddress: true}); err != nil {
		t.Fatal(err)
	}
	e.createVM(ctx, t, debian12("noaddr", "noaddr", ""))
	vmi := e.waitVMI(ctx, t, "noaddr", func(vmi *kubevirtv1.VirtualMachineInstance) bool {
		return vmi != nil && vmi.Status.Phase == kubevirtv1.Running
	})
	if ifs := vmi.Status.Interfaces; len(ifs) != 1 || ifs[0].IP != "" || len(ifs[0].IPs) != 0 || ifs[0].MAC == "" {
		t.Errorf("interfaces of a VM without guest agent: %+v, want one with a MAC and no address", ifs)
	}
	for _, c := range vmi.Status.Conditions {
		if c.Type == kubevirtv1.VirtualMachineInstanceAgentConnected {
			t.Errorf("AgentConnected condition present without an agent")
		}
	}
	if err := e.sim.ClearFault(ctx, "default/noaddr"); err != nil {
		t.Fatal(err)
	}
	e.waitVMI(ctx, t, "noaddr", running)
	e.deleteVMs(ctx, t, "noaddr", "noaddr")
}

// testFaultSSHRefused: the VM has its address but refuses SSH connections for a while, then accepts.
func testFaultSSHRefused(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const refused = 8 * time.Second
	if err := e.sim.InjectFault(ctx, "default/sshlate", harvestersim.Fault{SSHRefusedFor: refused}); err != nil {
		t.Fatal(err)
	}
	k := newKeys(t)
	e.createVM(ctx, t, debian12("sshlate", "sshlate", simpleUserData(k)))
	vmi := e.waitVMI(ctx, t, "sshlate", running)
	ip := vmi.Status.Interfaces[0].IP
	runningAt := time.Now()
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "22"), 5*time.Second)
	if err == nil {
		conn.Close()
		t.Fatal("SSH port open right after boot, want it refused")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial: %v, want connection refused", err)
	}
	c, err := dialSSH(ctx, ip, "rke", k)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// The refusal counts from the host's boot, which precedes Running by the boot delay.
	t.Logf("SSH accepted %s after Running was seen (refused for %s from the boot)", time.Since(runningAt).Round(time.Millisecond), refused)
	e.deleteVMs(ctx, t, "sshlate", "sshlate")
}

// testFaultRejectCreate: the API server denies creating the targeted VM, and only that one.
func testFaultRejectCreate(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.sim.InjectFault(ctx, "default/rejected", harvestersim.Fault{RejectCreate: "insufficient memory (test)"}); err != nil {
		t.Fatal(err)
	}
	u := toUnstructured(t, buildVM(debian12("rejected", "rejected", "")))
	_, err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Create(ctx, u, metav1.CreateOptions{FieldValidation: "Strict"})
	if err == nil || !strings.Contains(err.Error(), "insufficient memory (test)") {
		t.Fatalf("create: %v, want the injected rejection", err)
	}
	if err := e.sim.ClearFault(ctx, "default/rejected"); err != nil {
		t.Fatal(err)
	}
	e.createVM(ctx, t, debian12("rejected", "rejected", ""))
	e.deleteVMs(ctx, t, "rejected", "rejected")
}

// testGlobalFaults: faults on all VMs, with a VM's own fault taking precedence.
func testGlobalFaults(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.sim.InjectFault(ctx, harvestersim.AllVMs, harvestersim.Fault{RejectCreate: "maintenance (test)"}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.InjectFault(ctx, "default/exempt", harvestersim.Fault{NoAddress: true}); err != nil {
		t.Fatal(err)
	}
	u := toUnstructured(t, buildVM(debian12("any", "global", "")))
	if _, err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Create(ctx, u, metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "maintenance (test)") {
		t.Errorf("create with all VMs rejected: %v, want the injected rejection", err)
	}
	e.createVM(ctx, t, debian12("exempt", "global", "")) // its own fault does not reject
	e.waitVMI(ctx, t, "exempt", func(vmi *kubevirtv1.VirtualMachineInstance) bool {
		return vmi != nil && vmi.Status.Phase == kubevirtv1.Running && vmi.Status.Interfaces[0].IP == ""
	})
	if err := e.sim.ClearFault(ctx, harvestersim.AllVMs); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.InjectFault(ctx, harvestersim.AllVMs, harvestersim.Fault{NoAddress: true}); err != nil {
		t.Fatal(err)
	}
	e.createVM(ctx, t, debian12("any", "global", ""))
	e.waitVMI(ctx, t, "any", func(vmi *kubevirtv1.VirtualMachineInstance) bool {
		return vmi != nil && vmi.Status.Phase == kubevirtv1.Running && vmi.Status.Interfaces[0].IP == ""
	})
	for _, target := range []string{harvestersim.AllVMs, "default/exempt"} {
		if err := e.sim.ClearFault(ctx, target); err != nil {
			t.Fatal(err)
		}
	}
	e.waitVMI(ctx, t, "any", running)
	e.waitVMI(ctx, t, "exempt", running)
	e.deleteVMs(ctx, t, "global", "any", "exempt")
}

// TestAPIServerRestart: kube-apiserver restarts on the same port with the same data; watches end as
// on a real restart, and the simulator carries on.
func TestAPIServerRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, harvestersim.Start(t, harvestersim.Options{NoHosts: true}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e.createVM(ctx, t, debian12("before", "restart", ""))
	vmi := e.waitVMI(ctx, t, "before", running)
	if ip := net.ParseIP(vmi.Status.Interfaces[0].IP); ip == nil || !ip.IsLoopback() {
		t.Errorf("address without hosts: %s, want a loopback address", vmi.Status.Interfaces[0].IP)
	}
	w, err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	server := e.sim.Server
	if err := e.sim.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	if e.sim.Server != server {
		t.Errorf("server moved from %s to %s", server, e.sim.Server)
	}
	for open := true; open; {
		select {
		case _, open = <-w.ResultChan():
		case <-ctx.Done():
			t.Fatal("a watch survived the restart")
		}
	}
	if _, err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Get(ctx, "before", metav1.GetOptions{}); err != nil {
		t.Errorf("VM after restart: %v", err)
	}
	e.createVM(ctx, t, debian12("after", "restart", ""))
	e.waitVMI(ctx, t, "after", running)
	e.deleteVMs(ctx, t, "restart", "before", "after")
}
