package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/ssh"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// expectKubernetesStep checks how a Create that got through VMs, SSH and Docker ended. No container
// registry is reachable here, so unless the stand-in preloads RKE's images, RKE stops when it
// pulls the first one; the driver must then return its partial state with a clear error.
func expectKubernetesStep(t *testing.T, info *types.ClusterInfo, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("create succeeded, but no images are preloaded for RKE")
	}
	t.Logf("create stopped at the Kubernetes step: %v", err)
	if !stoppedAtImagePull(err) {
		t.Fatalf("create failed before the Kubernetes step: %v", err)
	}
	if info == nil || info.CreateError == "" {
		t.Fatalf("no partial cluster info returned with the error")
	}
}

// stoppedAtImagePull reports whether err is the pull of one of RKE's images failing, as it does
// where the stand-in's hosts have none: in the driver's pre-pull ("pull rancher/... on node ...")
// or in RKE's own ("Failed to pull image [rancher/...]").
func stoppedAtImagePull(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "pull rancher/") || strings.Contains(err.Error(), "pull image [rancher/"))
}

func TestCreateOnStandIn(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{})
	p := driverproc.Start(t, driverproc.Binary(t))
	for _, tc := range []struct {
		name    string
		pools   []string
		network bool
		nodes   int
	}{
		{"c-one", []string{"all=1:etcd+controlplane+worker"}, false, 1},
		{"c-three", nil, true, 3}, // the three default pools, on a VLAN network
		{"c-ten", []string{"m=1:etcd+controlplane", "w=9:worker"}, false, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			opts := simOptions(sim, tc.name, tc.pools...)
			opts.StringSliceOptions["registry-mirrors"] = &types.StringSlice{Value: []string{"https://mirror.example.com"}}
			if tc.network {
				opts.StringOptions["network"] = sim.Networks[0]
			}
			start := time.Now()
			info, err := p.Client.Create(ctx, opts, nil)
			t.Logf("create of %d nodes: %s", tc.nodes, time.Since(start).Round(time.Millisecond))
			expectKubernetesStep(t, info, err)

			st := stateOf(t, info)
			if len(st.Cluster.Nodes) != tc.nodes || info.NodeCount != int64(tc.nodes) {
				t.Fatalf("state has %d nodes, want %d", len(st.Cluster.Nodes), tc.nodes)
			}
			vms := clusterVMs(t, sim, tc.name)
			if len(vms) != tc.nodes {
				t.Fatalf("%d VMs on Harvester, want %d", len(vms), tc.nodes)
			}
			byName := map[string]kubevirtv1.VirtualMachine{}
			for _, vm := range vms {
				byName[vm.Name] = vm
				checkVM(t, sim, tc.name, vm, tc.network)
			}
			for _, n := range st.Cluster.Nodes {
				if _, ok := byName[n.Name]; !ok || n.Address == "" || n.Phase != "docker" {
					t.Errorf("node %+v: VM found %v", n, ok)
				}
				out, err := sim.Exec(ctx, "default/"+n.Name, "docker", "info", "--format", "{{.ServerVersion}} {{json .RegistryConfig.Mirrors}}")
				if err != nil || !strings.Contains(string(out), "mirror.example.com") {
					t.Errorf("node %s: docker info: %q %v", n.Name, out, err)
				}
			}

			if err := p.Client.Remove(ctx, info); err != nil {
				t.Fatal(err)
			}
			noLeftovers(t, sim, tc.name)
		})
	}
}

// checkVM compares a VM with what the options asked for, field by field.
func checkVM(t *testing.T, sim *harvestersim.Sim, cluster string, vm kubevirtv1.VirtualMachine, bridged bool) {
	t.Helper()
	errorf := func(format string, args ...any) { t.Errorf("vm %s: "+format, append([]any{vm.Name}, args...)...) }
	if vm.Labels["harvesterrke.io/cluster"] != cluster || vm.Labels["harvesterrke.io/pool"] == "" ||
		vm.Labels["harvesterhci.io/creator"] != "harvesterrke" {
		errorf("labels %v", vm.Labels)
	}
	if !strings.HasPrefix(vm.Name, cluster+"-"+vm.Labels["harvesterrke.io/pool"]+"-") {
		errorf("name does not follow <prefix>-<pool>-<n>")
	}
	var pvcs []corev1.PersistentVolumeClaim
	if err := json.Unmarshal([]byte(vm.Annotations["harvesterhci.io/volumeClaimTemplates"]), &pvcs); err != nil || len(pvcs) != 1 {
		errorf("volumeClaimTemplates %q: %v", vm.Annotations["harvesterhci.io/volumeClaimTemplates"], err)
	} else {
		pvc := pvcs[0]
		if pvc.Annotations["harvesterhci.io/imageId"] != sim.Images[0] || pvc.Spec.StorageClassName == nil ||
			*pvc.Spec.VolumeMode != corev1.PersistentVolumeBlock || pvc.Spec.Resources.Requests.Storage().String() != "10Gi" {
			errorf("root disk PVC %+v", pvc)
		}
	}
	if vm.Spec.RunStrategy == nil || *vm.Spec.RunStrategy != kubevirtv1.RunStrategyRerunOnFailure {
		errorf("run strategy %v", vm.Spec.RunStrategy)
	}
	spec := vm.Spec.Template.Spec
	if spec.Domain.CPU == nil || spec.Domain.CPU.Cores != 1 || spec.Domain.Memory == nil || spec.Domain.Memory.Guest.String() != "1Gi" {
		errorf("cpu/memory %+v %+v", spec.Domain.CPU, spec.Domain.Memory)
	}
	if len(spec.Domain.Devices.Disks) == 0 || spec.Domain.Devices.Disks[0].Disk == nil || spec.Domain.Devices.Disks[0].Disk.Bus != "virtio" {
		errorf("disks %+v", spec.Domain.Devices.Disks)
	}
	switch {
	case len(spec.Networks) != 1 || len(spec.Domain.Devices.Interfaces) != 1:
		errorf("networks %+v", spec.Networks)
	case bridged && (spec.Networks[0].Multus == nil || spec.Networks[0].Multus.NetworkName != sim.Networks[0] || spec.Domain.Devices.Interfaces[0].Bridge == nil):
		errorf("not bridged to %s: %+v", sim.Networks[0], spec.Networks[0])
	case !bridged && (spec.Networks[0].Pod == nil || spec.Domain.Devices.Interfaces[0].Masquerade == nil):
		errorf("not on the pod network: %+v", spec.Networks[0])
	}
	if a := spec.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		errorf("no soft anti-affinity")
	}
	var secretRef string
	for _, v := range spec.Volumes {
		if v.CloudInitNoCloud != nil && v.CloudInitNoCloud.UserDataSecretRef != nil {
			secretRef = v.CloudInitNoCloud.UserDataSecretRef.Name
		}
	}
	cs, err := kubernetes.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := cs.CoreV1().Secrets(vm.Namespace).Get(context.Background(), secretRef, metav1.GetOptions{})
	if err != nil {
		errorf("cloud-init secret %q: %v", secretRef, err)
		return
	}
	if len(secret.OwnerReferences) != 1 || secret.OwnerReferences[0].UID != vm.UID {
		errorf("cloud-init secret not owned by the VM: %+v", secret.OwnerReferences)
	}
	if ud := string(secret.Data["userdata"]); !strings.Contains(ud, "ssh_authorized_keys") || !strings.Contains(ud, "ed25519_private") {
		errorf("user data lacks the login key or the host key")
	}
}

// A Create killed at any point is finished by the next Create, without duplicates, and Remove
// then leaves nothing behind.
func TestCreateResumesAfterKill(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{BootDelay: 2 * time.Second})
	bin := driverproc.Binary(t)
	for _, tc := range []struct {
		name string
		// killWhen is true at the moment to kill the driver.
		killWhen func(t *testing.T, cluster string) bool
	}{
		{"c-kill-anchor", func(t *testing.T, c string) bool {
			return objectExists(t, sim, gvr.Secrets, "default", harvester.AnchorSecretName(c))
		}},
		{"c-kill-first-vm", func(t *testing.T, c string) bool { return len(clusterVMs(t, sim, c)) >= 1 }},
		{"c-kill-waiting", func(t *testing.T, c string) bool { return len(clusterVMs(t, sim, c)) == 3 }},
		{"c-kill-docker", func(t *testing.T, c string) bool {
			_, err := sim.Exec(context.Background(), "default/"+c+"-worker-1", "pgrep", "-x", "dockerd")
			return err == nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			opts := simOptions(sim, tc.name)
			p := driverproc.Start(t, bin)
			go func() { _, _ = p.Client.Create(ctx, opts, nil) }()
			waitFor(t, 2*time.Minute, "the kill point", func() bool { return tc.killWhen(t, tc.name) })
			p.Kill()

			// Rancher got nothing back from the killed call: the next Create starts from no info.
			p2 := driverproc.Start(t, bin)
			info, err := p2.Client.Create(ctx, opts, nil)
			expectKubernetesStep(t, info, err)
			if vms := clusterVMs(t, sim, tc.name); len(vms) != 3 {
				t.Errorf("%d VMs after the resumed create, want 3", len(vms))
			}
			if err := p2.Client.Remove(ctx, info); err != nil {
				t.Fatal(err)
			}
			noLeftovers(t, sim, tc.name)
		})
	}
}

// Bad input and objects missing on Harvester are reported before anything is created.
func TestCreateRefusesBeforeCreatingAnything(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{NoHosts: true})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		option, value, want string
	}{
		{"image", "default/no-such-image", "image"},
		{"network", "default/no-such-network", "network"},
		{"vm-namespace", "no-such-namespace", "vm-namespace"},
		{"keypair", "no-such-keypair", "keypair"},
		{"disk-size", "1Gi", "disk-size"},
	} {
		t.Run(tc.option, func(t *testing.T) {
			name := "c-bad-" + tc.option
			opts := simOptions(sim, name)
			opts.StringOptions[tc.option] = tc.value
			if tc.option == "keypair" {
				opts.StringOptions["ssh-private-key"] = testPrivateKey(t)
			}
			if tc.option == "vm-namespace" {
				opts.StringOptions["image"] = "default/debian-12"
			}
			info, err := p.Client.Create(ctx, opts, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %s, got %v", tc.want, err)
			}
			t.Logf("error: %v", err)
			if left, _ := sim.Leftovers(ctx, "harvesterrke.io/cluster="+name); len(left) > 0 {
				t.Fatalf("objects created despite the error: %v", left)
			}
			if err := p.Client.Remove(ctx, info); err != nil {
				t.Errorf("remove after a refused create: %v", err)
			}
		})
	}
}

// Faults of Harvester give errors that name the node; Remove still cleans up.
func TestCreateFaults(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name  string
		fault harvestersim.Fault
		vm    string // the node the fault hits
		want  string
	}{
		{"c-noaddr", harvestersim.Fault{NoAddress: true}, "c-noaddr-worker-1", "no address"},
		{"c-reject", harvestersim.Fault{RejectCreate: "quota exceeded"}, "c-reject-control-plane-1", "quota exceeded"},
		{"c-nossh", harvestersim.Fault{SSHRefusedFor: time.Hour}, "c-nossh-etcd-1", "ssh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := sim.InjectFault(ctx, "default/"+tc.vm, tc.fault); err != nil {
				t.Fatal(err)
			}
			opts := simOptions(sim, tc.name)
			opts.IntOptions["vm-ready-timeout"] = 10
			opts.IntOptions["ssh-ready-timeout"] = 10
			start := time.Now()
			info, err := p.Client.Create(ctx, opts, nil)
			if err == nil || !strings.Contains(err.Error(), tc.vm) || !strings.Contains(strings.ToLower(err.Error()), tc.want) {
				t.Fatalf("want an error naming %s and %q, got %v", tc.vm, tc.want, err)
			}
			t.Logf("error after %s (the timeouts are 10 s): %v", time.Since(start).Round(time.Millisecond), err)
			if err := sim.ClearFault(ctx, "default/"+tc.vm); err != nil {
				t.Fatal(err)
			}
			if err := p.Client.Remove(ctx, info); err != nil {
				t.Fatal(err)
			}
			noLeftovers(t, sim, tc.name)
		})
	}
}

// SSH refused for a while (a slow boot) is waited out.
func TestCreateWaitsForSlowSSH(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := sim.InjectFault(ctx, harvestersim.AllVMs, harvestersim.Fault{SSHRefusedFor: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	opts := simOptions(sim, "c-slowssh", "all=1:etcd+controlplane+worker")
	start := time.Now()
	info, err := p.Client.Create(ctx, opts, nil)
	expectKubernetesStep(t, info, err)
	// A lower bound only, which no slowness can break: it shows the create met the refusals.
	if d := time.Since(start); d < 20*time.Second {
		t.Errorf("create took %s, SSH was refused for 20 s", d)
	}
	if err := p.Client.Remove(ctx, info); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, sim, "c-slowssh")
}

func testPrivateKey(t *testing.T) string {
	t.Helper()
	key, err := ssh.GenerateClientKey("test")
	if err != nil {
		t.Fatal(err)
	}
	return string(key.PrivatePEM)
}
