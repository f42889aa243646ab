package harvestersim_test

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// testInvalidVMRejected: the CRD schemas come from the KubeVirt types, so a misspelled or mistyped
// field is rejected as on a real cluster.
func testInvalidVMRejected(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name   string
		mutate func(vm map[string]any)
		want   string
	}{
		{"unknown field", func(vm map[string]any) {
			vol := volume(vm, "cloudinitdisk")
			vol["cloudInitNoCloud"] = map[string]any{"userDataSecretRef": map[string]any{"name": "x"}}
		}, `unknown field "spec.template.spec.volumes[1].cloudInitNoCloud.userDataSecretRef"`},
		{"bad quantity", func(vm map[string]any) {
			_ = unstructured.SetNestedField(vm, "lots", "spec", "template", "spec", "domain", "resources", "requests", "memory")
		}, "spec.template.spec.domain.resources.requests.memory"},
		{"wrong type", func(vm map[string]any) {
			_ = unstructured.SetNestedField(vm, "two", "spec", "template", "spec", "domain", "cpu", "cores")
		}, "spec.template.spec.domain.cpu.cores"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := toUnstructured(t, buildVM(debian12("invalid", "invalid", "")))
			tc.mutate(u.Object)
			_, err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Create(ctx, u, metav1.CreateOptions{FieldValidation: "Strict"})
			if err == nil {
				e.deleteVMs(ctx, t, "invalid", "invalid")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("create: %v, want an error about %s", err, tc.want)
			}
		})
	}
}

// volume returns the named volume of the VM's template, in place.
func volume(vm map[string]any, name string) map[string]any {
	spec := vm["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	for _, v := range spec["volumes"].([]any) {
		if m := v.(map[string]any); m["name"] == name {
			return m
		}
	}
	return nil
}

// testSecretWaitedFor: a VM whose cloud-init Secret comes late waits in Scheduling, then starts.
func testSecretWaitedFor(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k := newKeys(t)
	s := debian12("late-secret", "late-secret", simpleUserData(k))
	s.inSecret = true
	// Create the VM alone first: its VMI must wait for the Secret.
	created := e.createVMOnly(ctx, t, s)
	e.waitVMI(ctx, t, "late-secret", func(vmi *kubevirtv1.VirtualMachineInstance) bool {
		return vmi != nil && vmi.Status.Phase == kubevirtv1.Scheduling
	})
	e.createSecret(ctx, t, created, s)
	vmi := e.waitVMI(ctx, t, "late-secret", running)
	c, err := dialSSH(ctx, vmi.Status.Interfaces[0].IP, "rke", k)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	e.deleteVMs(ctx, t, "late-secret", "late-secret")
}

// testDefaultUser: top-level ssh_authorized_keys go to the image's default user (with passwordless
// sudo); root's login prints cloud-init's hint and closes, as disable_root does.
func testDefaultUser(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k := newKeys(t)
	ud := "#cloud-config\nssh_authorized_keys: [\"" + k.authorized + "\"]\nssh_keys:\n  ed25519_private: |\n" +
		indentLines(k.hostPrivate, "    ") + "\n  ed25519_public: " + k.hostPublicStr + "\n"
	e.createVM(ctx, t, debian12("defuser", "defuser", ud))
	vmi := e.waitVMI(ctx, t, "defuser", running)
	ip := vmi.Status.Interfaces[0].IP
	c, err := dialSSH(ctx, ip, "debian", k)
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(c, "id -nG; sudo -n id -u")
	c.Close()
	if err != nil || !strings.Contains(out, "sudo") || !strings.HasSuffix(strings.TrimSpace(out), "0") {
		t.Errorf("debian: %q, %v; want member of sudo with passwordless sudo", out, err)
	}
	root, err := dialSSH(ctx, ip, "root", k)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	sess, err := root.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	stdout, _ := sess.StdoutPipe()
	if err := sess.Start("id -u"); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if want := `Please login as the user "debian" rather than the user "root".`; strings.TrimSpace(line) != want {
		t.Errorf("root login printed %q, want %q", line, want)
	}
	e.deleteVMs(ctx, t, "defuser", "defuser")
}

// testImageChecks: as Harvester, a VM whose image does not exist or whose PVC uses another storage
// class than the image's is not started; it says why in an event and its status. Once the image
// appears, the VM starts.
func testImageChecks(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name, image, storageClass, want string
	}{
		{"img-missing", "default/later", "longhorn-later", "image default/later not found"},
		{"img-wrong-sc", "default/debian-12", "longhorn", "storage class longhorn does not match image default/debian-12"},
	} {
		s := debian12(tc.name, tc.name, "")
		s.image, s.storageClass = tc.image, tc.storageClass
		e.createVM(ctx, t, s)
		if msg := e.waitEvent(ctx, t, tc.name, "FailedCreate"); !strings.Contains(msg, tc.want) {
			t.Errorf("%s: event %q, want %q", tc.name, msg, tc.want)
		}
		err := e.waitObject(ctx, gvr.VirtualMachines, tc.name, func(u *unstructured.Unstructured) bool {
			vm := &kubevirtv1.VirtualMachine{}
			if u == nil || fromUnstructured(u, vm) != nil {
				return false
			}
			for _, c := range vm.Status.Conditions {
				if c.Type == kubevirtv1.VirtualMachineFailure && strings.Contains(c.Message, tc.want) {
					return vm.Status.PrintableStatus == kubevirtv1.VirtualMachineStatusPvcNotFound
				}
			}
			return false
		})
		if err != nil {
			t.Errorf("%s: status never showed the problem: %v", tc.name, err)
		}
		if _, err := e.dyn.Resource(gvr.VirtualMachineInstances).Namespace("default").Get(ctx, tc.name, metav1.GetOptions{}); err == nil {
			t.Errorf("%s: a VMI was created", tc.name)
		}
	}
	image := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "harvesterhci.io/v1beta1", "kind": "VirtualMachineImage",
		"metadata": map[string]any{"name": "later", "namespace": "default"},
		"spec":     map[string]any{"displayName": "later", "sourceType": "download", "url": "http://example.invalid/later.qcow2"},
	}}
	if _, err := e.dyn.Resource(gvr.VirtualMachineImages).Namespace("default").Create(ctx, image, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
		t.Fatal(err)
	}
	e.waitVMI(ctx, t, "img-missing", running)
	e.deleteVMs(ctx, t, "img-missing", "img-missing")
	e.deleteVMs(ctx, t, "img-wrong-sc", "img-wrong-sc")
	if err := e.dyn.Resource(gvr.VirtualMachineImages).Namespace("default").Delete(ctx, "later", metav1.DeleteOptions{}); err != nil {
		t.Error(err)
	}
}

// testStopStart: halting a VM tears its host and VMI down; starting it again boots a new host.
func testStopStart(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k := newKeys(t)
	e.createVM(ctx, t, debian12("stopstart", "stopstart", simpleUserData(k)))
	e.waitVMI(ctx, t, "stopstart", running)
	if _, err := e.sim.Exec(ctx, "default/stopstart", "touch", "/root/before-stop"); err != nil {
		t.Fatal(err)
	}
	setRunStrategy := func(s kubevirtv1.VirtualMachineRunStrategy) {
		patch := []byte(`{"spec":{"runStrategy":"` + string(s) + `"}}`)
		if _, err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Patch(ctx, "stopstart", "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setRunStrategy(kubevirtv1.RunStrategyHalted)
	e.waitVMI(ctx, t, "stopstart", func(vmi *kubevirtv1.VirtualMachineInstance) bool { return vmi == nil })
	err := e.waitObject(ctx, gvr.VirtualMachines, "stopstart", func(u *unstructured.Unstructured) bool {
		vm := &kubevirtv1.VirtualMachine{}
		return u != nil && fromUnstructured(u, vm) == nil && vm.Status.PrintableStatus == kubevirtv1.VirtualMachineStatusStopped
	})
	if err != nil {
		t.Fatalf("VM never showed Stopped: %v", err)
	}
	if _, err := e.sim.Exec(ctx, "default/stopstart", "true"); err == nil {
		t.Error("the host still runs after the VM stopped")
	}
	setRunStrategy(kubevirtv1.RunStrategyAlways)
	vmi := e.waitVMI(ctx, t, "stopstart", running)
	// A fresh boot: the root filesystem's writable layer is new (Harvester would keep the disk; the
	// stand-in has no disk, only the image).
	if _, err := e.sim.Exec(ctx, "default/stopstart", "test", "!", "-e", "/root/before-stop"); err != nil {
		t.Error(err)
	}
	c, err := dialSSH(ctx, vmi.Status.Interfaces[0].IP, "rke", k)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	e.deleteVMs(ctx, t, "stopstart", "stopstart")
}

// testKeyPair: a KeyPair gets its fingerprint and validated condition.
func testKeyPair(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k := newKeys(t)
	kp := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "harvesterhci.io/v1beta1", "kind": "KeyPair",
		"metadata": map[string]any{"name": "kp", "namespace": "default"},
		"spec":     map[string]any{"publicKey": k.authorized},
	}}
	if _, err := e.dyn.Resource(gvr.KeyPairs).Namespace("default").Create(ctx, kp, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
		t.Fatal(err)
	}
	want := fingerprintMD5(k)
	err := waitNamed(ctx, e, gvr.KeyPairs, "kp", func(u *unstructured.Unstructured) bool {
		fp, _, _ := unstructured.NestedString(u.Object, "status", "fingerPrint")
		return fp == want
	})
	if err != nil {
		t.Errorf("fingerprint never became %s: %v", want, err)
	}
}

// testPlainImage: the image without Docker has none; apt reaches the Debian mirror through the
// stand-in's proxy and nothing else.
func testPlainImage(t *testing.T, e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k := newKeys(t)
	s := debian12("plain", "plain", simpleUserData(k))
	s.image, s.storageClass = "default/debian-12-nodocker", "longhorn-debian-12-nodocker"
	e.createVM(ctx, t, s)
	vmi := e.waitVMI(ctx, t, "plain", running)
	c, err := dialSSH(ctx, vmi.Status.Interfaces[0].IP, "rke", k)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	proxy := `"$(grep -o 'http://[^"]*' /etc/apt/apt.conf.d/00harvestersim-proxy)"`
	for _, ch := range []struct{ cmd, want string }{
		{"command -v docker dockerd || echo none", "none"},
		{"sudo apt-get -qq update >/dev/null 2>&1 && echo updated", "updated"},
		{"curl -s -o /dev/null -w '%{http_code}' -x " + proxy + " http://example.com/", "403"},
		{"curl -s -o /dev/null -w '%{http_connect}' -x " + proxy + " https://deb.debian.org/ || true", "403"},
		{"curl -s -m 3 --noproxy '*' http://deb.debian.org/ >/dev/null && echo reached || echo unreachable", "unreachable"},
	} {
		out, err := run(c, ch.cmd)
		if strings.TrimSpace(out) != ch.want {
			t.Errorf("%s: %q (%v), want %q", ch.cmd, out, err, ch.want)
		}
	}
	e.deleteVMs(ctx, t, "plain", "plain")
}
