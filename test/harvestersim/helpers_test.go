package harvestersim_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	watchtools "k8s.io/client-go/tools/watch"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/kubewatch"
)

const clusterLabel = "harvesterrke.io/cluster"

// env is a stand-in with clients, for the tests.
type env struct {
	sim  *harvestersim.Sim
	dyn  dynamic.Interface
	kube kubernetes.Interface
}

func newEnv(t *testing.T, s *harvestersim.Sim) *env {
	t.Helper()
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &env{sim: s, dyn: dyn, kube: kube}
}

// keys are what a driver gives a VM: a client key for logging in and the VM's host key.
type keys struct {
	client        ssh.Signer
	authorized    string // client's public key, authorized_keys format
	hostPrivate   string // OpenSSH PEM
	hostPublic    ssh.PublicKey
	hostPublicStr string
}

func newKeys(t *testing.T) keys {
	t.Helper()
	_, cpriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ssh.NewSignerFromKey(cpriv)
	if err != nil {
		t.Fatal(err)
	}
	hpub, hpriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(hpriv, "")
	if err != nil {
		t.Fatal(err)
	}
	hostPub, err := ssh.NewPublicKey(hpub)
	if err != nil {
		t.Fatal(err)
	}
	return keys{
		client:        client,
		authorized:    strings.TrimSpace(string(ssh.MarshalAuthorizedKey(client.PublicKey()))),
		hostPrivate:   string(pem.EncodeToMemory(block)),
		hostPublic:    hostPub,
		hostPublicStr: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub))),
	}
}

// vmSpec says how to build a VM the way the driver does.
type vmSpec struct {
	name, cluster string
	image         string // "<ns>/<name>"
	storageClass  string
	network       string // "<ns>/<name>", "" for the pod network
	userData      string
	inSecret      bool // cloud-init in a Secret <name>-cloudinit, created after the VM
}

// buildVM makes a typed VirtualMachine as the driver would (image-backed root PVC template, cloud-init,
// bridge network) and returns it with its cloud-init Secret (nil when inline).
func buildVM(s vmSpec) *kubevirtv1.VirtualMachine {
	disk := s.name + "-disk-0"
	sc := s.storageClass
	block := corev1.PersistentVolumeBlock
	pvc := corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: disk, Annotations: map[string]string{"harvesterhci.io/imageId": s.image}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			VolumeMode:       &block,
			StorageClassName: &sc,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
		},
	}
	templates, _ := json.Marshal([]corev1.PersistentVolumeClaim{pvc})
	cloudInit := &kubevirtv1.CloudInitNoCloudSource{UserData: s.userData}
	if s.inSecret {
		cloudInit = &kubevirtv1.CloudInitNoCloudSource{UserDataSecretRef: &corev1.LocalObjectReference{Name: s.name + "-cloudinit"}}
	}
	strategy := kubevirtv1.RunStrategyRerunOnFailure
	iface := kubevirtv1.Interface{Name: "default", Model: "virtio", InterfaceBindingMethod: kubevirtv1.InterfaceBindingMethod{Bridge: &kubevirtv1.InterfaceBridge{}}}
	network := kubevirtv1.Network{Name: "default", NetworkSource: kubevirtv1.NetworkSource{Pod: &kubevirtv1.PodNetwork{}}}
	if s.network != "" {
		network.NetworkSource = kubevirtv1.NetworkSource{Multus: &kubevirtv1.MultusNetwork{NetworkName: s.network}}
	}
	return &kubevirtv1.VirtualMachine{
		TypeMeta: metav1.TypeMeta{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachine"},
		ObjectMeta: metav1.ObjectMeta{
			Name: s.name, Namespace: "default",
			Labels:      map[string]string{clusterLabel: s.cluster},
			Annotations: map[string]string{"harvesterhci.io/volumeClaimTemplates": string(templates)},
		},
		Spec: kubevirtv1.VirtualMachineSpec{
			RunStrategy: &strategy,
			Template: &kubevirtv1.VirtualMachineInstanceTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{clusterLabel: s.cluster, "harvesterhci.io/vmName": s.name}},
				Spec: kubevirtv1.VirtualMachineInstanceSpec{
					Domain: kubevirtv1.DomainSpec{
						CPU:       &kubevirtv1.CPU{Cores: 1},
						Resources: kubevirtv1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}},
						Devices: kubevirtv1.Devices{
							Disks: []kubevirtv1.Disk{
								{Name: "rootdisk", DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: "virtio"}}, BootOrder: ptr(uint(1))},
								{Name: "cloudinitdisk", DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: "virtio"}}},
							},
							Interfaces: []kubevirtv1.Interface{iface},
						},
					},
					Networks: []kubevirtv1.Network{network},
					Volumes: []kubevirtv1.Volume{
						{Name: "rootdisk", VolumeSource: kubevirtv1.VolumeSource{PersistentVolumeClaim: &kubevirtv1.PersistentVolumeClaimVolumeSource{
							PersistentVolumeClaimVolumeSource: corev1.PersistentVolumeClaimVolumeSource{ClaimName: disk}}}},
						{Name: "cloudinitdisk", VolumeSource: kubevirtv1.VolumeSource{CloudInitNoCloud: cloudInit}},
					},
				},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func toUnstructured(t *testing.T, obj any) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// createVM creates the VM with strict field validation and then, like the driver, its cloud-init
// Secret owned by the VM.
func (e *env) createVM(ctx context.Context, t *testing.T, s vmSpec) *unstructured.Unstructured {
	t.Helper()
	vm := e.createVMOnly(ctx, t, s)
	if s.inSecret {
		e.createSecret(ctx, t, vm, s)
	}
	return vm
}

func (e *env) createVMOnly(ctx context.Context, t *testing.T, s vmSpec) *unstructured.Unstructured {
	t.Helper()
	vm, err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Create(ctx, toUnstructured(t, buildVM(s)), metav1.CreateOptions{FieldValidation: "Strict"})
	if err != nil {
		t.Fatalf("create VM %s: %v", s.name, err)
	}
	return vm
}

// createSecret creates the VM's cloud-init Secret, owned by the VM as the driver makes it.
func (e *env) createSecret(ctx context.Context, t *testing.T, vm *unstructured.Unstructured, s vmSpec) {
	t.Helper()
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: s.name + "-cloudinit", Namespace: "default",
			Labels: map[string]string{clusterLabel: s.cluster},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachine",
				Name: vm.GetName(), UID: vm.GetUID(), BlockOwnerDeletion: ptr(true)}},
		},
		Data: map[string][]byte{"userdata": []byte(s.userData)},
	}
	if _, err := e.kube.CoreV1().Secrets("default").Create(ctx, sec, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
		t.Fatalf("create cloud-init secret of %s: %v", s.name, err)
	}
}

func fromUnstructured(u *unstructured.Unstructured, obj any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj)
}

// waitNamed watches the named object of res in "default" until cond holds for it.
func waitNamed(ctx context.Context, e *env, res schema.GroupVersionResource, name string, cond func(*unstructured.Unstructured) bool) error {
	return e.waitObject(ctx, res, name, func(u *unstructured.Unstructured) bool { return u != nil && cond(u) })
}

func fingerprintMD5(k keys) string { return ssh.FingerprintLegacyMD5(k.client.PublicKey()) }

// waitVMI watches the VM's VMI until cond holds and returns it.
func (e *env) waitVMI(ctx context.Context, t *testing.T, name string, cond func(*kubevirtv1.VirtualMachineInstance) bool) *kubevirtv1.VirtualMachineInstance {
	t.Helper()
	var got *kubevirtv1.VirtualMachineInstance
	err := e.waitObject(ctx, gvr.VirtualMachineInstances, name, func(u *unstructured.Unstructured) bool {
		var vmi *kubevirtv1.VirtualMachineInstance
		if u != nil {
			vmi = &kubevirtv1.VirtualMachineInstance{}
			if fromUnstructured(u, vmi) != nil {
				return false
			}
		}
		if !cond(vmi) {
			return false
		}
		got = vmi
		return true
	})
	if err != nil {
		t.Fatalf("wait for VMI %s: %v", name, err)
	}
	return got
}

// waitObject watches the named object in "default" until cond holds; a nil object means absent.
func (e *env) waitObject(ctx context.Context, res schema.GroupVersionResource, name string, cond func(*unstructured.Unstructured) bool) error {
	return kubewatch.Until(ctx, e.dyn.Resource(res).Namespace("default"), name, func(u *unstructured.Unstructured) (bool, error) {
		return cond(u), nil
	})
}

// checkBootDelay checks that the VMI ran no sooner than delay after it was created, by the phase
// transitions KubeVirt records: the measure of the stand-in, not of how fast the test saw it.
func checkBootDelay(t *testing.T, vmi *kubevirtv1.VirtualMachineInstance, delay time.Duration) {
	t.Helper()
	at := map[kubevirtv1.VirtualMachineInstancePhase]time.Time{}
	for _, p := range vmi.Status.PhaseTransitionTimestamps {
		at[p.Phase] = p.PhaseTransitionTimestamp.Time
	}
	pending, ran := at[kubevirtv1.Pending], at[kubevirtv1.Running]
	if pending.IsZero() || ran.IsZero() {
		t.Fatalf("VMI %s lacks its Pending or Running transition: %+v", vmi.Name, vmi.Status.PhaseTransitionTimestamps)
	}
	// The timestamps have whole seconds; truncating both cannot make a span of a whole number of
	// seconds shorter.
	took := ran.Sub(pending)
	t.Logf("VMI %s running %s after it was created (boot delay %s)", vmi.Name, took, delay)
	if took < delay.Truncate(time.Second) {
		t.Errorf("VMI %s ran %s after it was created, before its boot delay of %s", vmi.Name, took, delay)
	}
}

func running(vmi *kubevirtv1.VirtualMachineInstance) bool {
	return vmi != nil && vmi.Status.Phase == kubevirtv1.Running && len(vmi.Status.Interfaces) > 0 && vmi.Status.Interfaces[0].IP != ""
}

// dialSSH connects as user to addr, checking the host key, retrying with backoff while the VM's sshd
// is not up yet (as the driver does).
func dialSSH(ctx context.Context, addr, user string, k keys) (*ssh.Client, error) {
	cfg := &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(k.client)},
		HostKeyCallback: ssh.FixedHostKey(k.hostPublic),
		Timeout:         5 * time.Second,
	}
	delay := 50 * time.Millisecond
	for {
		c, err := ssh.Dial("tcp", net.JoinHostPort(addr, "22"), cfg)
		if err == nil {
			return c, nil
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) {
			return nil, fmt.Errorf("ssh %s@%s: %w", user, addr, err) // the server answered: no point retrying
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("ssh %s@%s: %w (last: %v)", user, addr, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// run runs cmd in a new session and returns its combined output.
func run(c *ssh.Client, cmd string) (string, error) {
	sess, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(cmd)
	return string(out), err
}

// waitEvent watches the events of the named object until one with reason appears; it returns its message.
func (e *env) waitEvent(ctx context.Context, t *testing.T, name, reason string) string {
	t.Helper()
	events := e.kube.CoreV1().Events("default")
	lw := kubewatch.ListWatch(ctx, "involvedObject.name="+name+",reason="+reason, events.List, events.Watch)
	var msg string
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Event{}, nil, func(ev watch.Event) (bool, error) {
		if ev, ok := ev.Object.(*corev1.Event); ok {
			msg = ev.Message
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("wait for event %s of %s: %v", reason, name, err)
	}
	return msg
}

// deleteVMs deletes the cluster's VMs in the foreground (as the driver does, with their PVCs named
// for removal) and waits until the cluster leaves nothing behind.
func (e *env) deleteVMs(ctx context.Context, t *testing.T, cluster string, names ...string) {
	t.Helper()
	fg := metav1.DeletePropagationForeground
	patch := []byte(`{"metadata":{"annotations":{"harvesterhci.io/removeAllPersistentVolumeClaims":"true"}}}`)
	for _, name := range names {
		if _, err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Patch(ctx, name, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := e.dyn.Resource(gvr.VirtualMachines).Namespace("default").Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := e.sim.WaitNoLeftovers(wctx, clusterLabel+"="+cluster); err != nil {
		t.Error(err)
	}
}

// simpleUserData logs in user "rke" with the keys.
func simpleUserData(k keys) string {
	return fmt.Sprintf("#cloud-config\nusers:\n- name: rke\n  sudo: ALL=(ALL) NOPASSWD:ALL\n  ssh_authorized_keys: [%q]\n"+
		"ssh_keys:\n  ed25519_private: |\n%s\n  ed25519_public: %s\n", k.authorized, indentLines(k.hostPrivate, "    "), k.hostPublicStr)
}

func indentLines(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// debian12 is a VM of the default image with Docker.
func debian12(name, cluster, userData string) vmSpec {
	return vmSpec{name: name, cluster: cluster, image: "default/debian-12", storageClass: "longhorn-debian-12",
		network: "default/vlan1", userData: userData}
}
