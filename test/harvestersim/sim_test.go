package harvestersim_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

const bootDelay = 2 * time.Second

// TestSimulator runs the stand-in's behaviours against one stand-in, in parallel.
func TestSimulator(t *testing.T) {
	e := newEnv(t, harvestersim.Start(t, harvestersim.Options{BootDelay: bootDelay}))
	t.Run("group", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			fn   func(*testing.T, *env)
		}{
			{"VMLifecycle", testVMLifecycle},
			{"InvalidVMRejected", testInvalidVMRejected},
			{"CloudInitSecretWaitedFor", testSecretWaitedFor},
			{"DefaultUserAndDisabledRoot", testDefaultUser},
			{"ImageChecks", testImageChecks},
			{"StopAndStart", testStopStart},
			{"KeyPairStatus", testKeyPair},
			{"PlainImageAndAptProxy", testPlainImage},
			{"FaultBootDelay", testFaultBootDelay},
			{"FaultNoAddress", testFaultNoAddress},
			{"FaultSSHRefused", testFaultSSHRefused},
			{"FaultRejectCreate", testFaultRejectCreate},
		} {
			t.Run(tc.name, func(t *testing.T) { t.Parallel(); tc.fn(t, e) })
		}
	})
	// Faults on all VMs would disturb the tests above: they run alone, after them.
	t.Run("FaultsOnAllVMs", func(t *testing.T) { testGlobalFaults(t, e) })
}

// testVMLifecycle: a VM created as the driver does gets a running VMI with an address within the boot
// delay; SSH with the key and host key from its cloud-init works and cloud-init was applied; dockerd
// starts; deleting the VM removes host, VMI, PVC and Secret.
func testVMLifecycle(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k := newKeys(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	fmt.Fprint(zw, "compressed\n")
	zw.Close()
	userData := fmt.Sprintf(`#cloud-config
users:
- name: rke
  sudo: ALL=(ALL) NOPASSWD:ALL
  groups: [docker]
  shell: /bin/bash
  ssh_authorized_keys: [%q]
ssh_keys:
  ed25519_private: |
%s
  ed25519_public: %s
write_files:
- path: /etc/harvestersim-test/hello
  content: %s
  encoding: b64
  permissions: '0640'
  owner: rke:rke
  defer: true
- path: /etc/harvestersim-test/gz
  content: %s
  encoding: gz+b64
runcmd:
- echo first > /root/runcmd-1
- [sh, -c, "echo 'second word' > /root/runcmd-2"]
- "false"
- echo after-failure > /root/runcmd-3
packages: [jq]
`, k.authorized, indentLines(k.hostPrivate, "    "), k.hostPublicStr,
		base64.StdEncoding.EncodeToString([]byte("hello\n")), base64.StdEncoding.EncodeToString(gz.Bytes()))

	e.createVM(ctx, t, vmSpec{name: "life", cluster: "life", image: "default/debian-12", storageClass: "longhorn-debian-12",
		network: "default/vlan1", userData: userData, inSecret: true})
	vmi := e.waitVMI(ctx, t, "life", running)
	checkBootDelay(t, vmi, bootDelay)
	if ref := metav1.GetControllerOf(vmi); ref == nil || ref.Kind != "VirtualMachine" || ref.Name != "life" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("VMI controller reference = %+v, want the VM, blocking owner deletion", ref)
	}

	c, err := dialSSH(ctx, vmi.Status.Interfaces[0].IP, "rke", k)
	if err != nil {
		log, _ := e.sim.Exec(ctx, "default/life", "cat", "/var/log/cloud-init-output.log")
		t.Fatalf("%v\ncloud-init-output.log:\n%s", err, log)
	}
	defer c.Close()
	checks := []struct{ cmd, want string }{
		{"cloud-init status --wait >/dev/null; cloud-init status", "status: done"},
		{"hostname", "life"},
		{"id -nG", "rke docker"},
		{"sudo -n id -u", "0"},
		{"cat /etc/harvestersim-test/hello; stat -c '%a %U' /etc/harvestersim-test/hello", "hello\n640 rke"},
		{"cat /etc/harvestersim-test/gz", "compressed"},
		{"sudo cat /root/runcmd-1 /root/runcmd-2 /root/runcmd-3", "first\nsecond word\nafter-failure"},
		{"grep -c 'packages are not installed in fake hosts: jq' /var/log/cloud-init-output.log", "1"},
		{"cat /etc/resolv.conf; ip -4 route | grep -c default || true", "0"},
	}
	for _, ch := range checks {
		out, err := run(c, ch.cmd)
		if err != nil || strings.TrimSpace(out) != ch.want {
			t.Errorf("%s: got %q (%v), want %q", ch.cmd, out, err, ch.want)
		}
	}

	if out, err := run(c, "sudo sh -c 'setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null &'"); err != nil {
		t.Fatalf("start dockerd: %v: %s", err, out)
	}
	var version string
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		out, err := run(c, "sudo docker info --format '{{.ServerVersion}}'")
		if err == nil {
			version = strings.TrimSpace(out)
			break
		}
		select {
		case <-ctx.Done():
			log, _ := e.sim.Exec(context.Background(), "default/life", "tail", "-20", "/var/log/dockerd.log")
			t.Fatalf("docker info never worked: %v: %s\ndockerd.log:\n%s", err, out, log)
		case <-time.After(delay):
		}
	}
	out, err := e.sim.Exec(ctx, "default/life", "docker", "info", "--format", "{{.ServerVersion}}")
	if err != nil || strings.TrimSpace(string(out)) != version {
		t.Errorf("Exec docker info = %q, %v; want %q", out, err, version)
	}

	// Remove as the driver does: name the PVCs to delete, then delete in the foreground.
	vm, err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Get(ctx, "life", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ann := vm.GetAnnotations()
	ann["harvesterhci.io/removedPersistentVolumeClaims"] = "life-disk-0"
	vm.SetAnnotations(ann)
	if _, err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Update(ctx, vm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fg := metav1.DeletePropagationForeground
	if err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Delete(ctx, "life", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	if err := e.waitObject(ctx, gvr.VirtualMachines, "life", func(u *unstructured.Unstructured) bool { return u == nil }); err != nil {
		t.Fatalf("wait for VM deletion: %v", err)
	}
	if _, err := e.dyn.Resource(gvr.VirtualMachineInstances).Namespace("default").Get(ctx, "life", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("VMI after the foreground delete of its VM: %v, want NotFound", err)
	}
	if _, err := e.sim.Exec(ctx, "default/life", "true"); err == nil {
		t.Errorf("the host still runs after its VM is gone")
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := e.sim.WaitNoLeftovers(wctx, clusterLabel+"=life"); err != nil {
		t.Error(err)
	}
}
