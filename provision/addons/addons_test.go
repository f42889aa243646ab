package addons_test

import (
	"bufio"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/addons"
)

var update = flag.Bool("update", false, "rewrite testdata/default.yaml from the current render")

// params is what the golden file and most tests render.
var params = addons.Params{ClusterName: "example-cluster", VolumeNamePrefix: "example-cluster"}

// splitDocuments returns the YAML documents of a render.
func splitDocuments(t *testing.T, render string) [][]byte {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(render)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(doc)) != "" {
			docs = append(docs, doc)
		}
	}
}

// decoded is a render's objects by "Kind/name", in render order in keys.
type decoded struct {
	keys    []string
	objects map[string]any
}

// decodeStrict decodes each document into its typed API object; unknown or duplicate fields fail.
func decodeStrict(t *testing.T, render string) decoded {
	t.Helper()
	d := decoded{objects: map[string]any{}}
	for _, doc := range splitDocuments(t, render) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatal(err)
		}
		var obj metav1.Object
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "rbac.authorization.k8s.io/v1 ClusterRole":
			obj = &rbacv1.ClusterRole{}
		case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
			obj = &rbacv1.ClusterRoleBinding{}
		case "rbac.authorization.k8s.io/v1 Role":
			obj = &rbacv1.Role{}
		case "rbac.authorization.k8s.io/v1 RoleBinding":
			obj = &rbacv1.RoleBinding{}
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "apps/v1 DaemonSet":
			obj = &appsv1.DaemonSet{}
		case "storage.k8s.io/v1 CSIDriver":
			obj = &storagev1.CSIDriver{}
		case "storage.k8s.io/v1 StorageClass":
			obj = &storagev1.StorageClass{}
		default:
			// Also catches the chart's VolumeSnapshotClass: RKE1 has no snapshot API to take it.
			t.Errorf("unexpected object %s %s:\n%s", tm.APIVersion, tm.Kind, doc)
			continue
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Errorf("%s: %v\n%s", tm.Kind, err, doc)
			continue
		}
		key := tm.Kind + "/" + obj.GetName()
		if _, dup := d.objects[key]; dup {
			t.Errorf("%s rendered twice", key)
		}
		d.keys = append(d.keys, key)
		d.objects[key] = obj
	}
	return d
}

func get[T any](t *testing.T, d decoded, key string) T {
	t.Helper()
	obj, ok := d.objects[key].(T)
	if !ok {
		t.Fatalf("%s not rendered (have %v)", key, d.keys)
	}
	return obj
}

func render(t *testing.T, p addons.Params) string {
	t.Helper()
	s, err := addons.Render(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestObjects(t *testing.T) {
	d := decodeStrict(t, render(t, params))
	want := []string{
		"ServiceAccount/harvester-cloud-provider", "ClusterRole/harvester-cloud-provider",
		"ClusterRoleBinding/harvester-cloud-provider", "Deployment/harvester-cloud-provider",
		"ServiceAccount/kube-vip", "ClusterRole/kube-vip", "ClusterRoleBinding/kube-vip", "Role/kube-vip",
		"RoleBinding/kube-vip", "DaemonSet/kube-vip",
		"CSIDriver/driver.harvesterhci.io", "StorageClass/harvester", "ServiceAccount/harvester-csi-driver",
		"ClusterRole/harvester-csi-driver", "ClusterRoleBinding/harvester-csi-driver",
		"DaemonSet/harvester-csi-driver", "Deployment/harvester-csi-driver-controllers",
	}
	if !slices.Equal(d.keys, want) {
		t.Errorf("objects:\n got %v\nwant %v", d.keys, want)
	}
	namespaced := map[string]bool{"ServiceAccount": true, "Role": true, "RoleBinding": true, "Deployment": true, "DaemonSet": true}
	for _, key := range d.keys {
		kind, _, _ := strings.Cut(key, "/")
		ns := d.objects[key].(metav1.Object).GetNamespace()
		if namespaced[kind] && ns != "kube-system" || !namespaced[kind] && ns != "" {
			t.Errorf("%s: namespace %q", key, ns)
		}
	}
	// Every binding's subject exists, and every workload runs as a rendered ServiceAccount.
	for _, key := range d.keys {
		var subjects []rbacv1.Subject
		switch o := d.objects[key].(type) {
		case *rbacv1.ClusterRoleBinding:
			subjects = o.Subjects
			get[*rbacv1.ClusterRole](t, d, "ClusterRole/"+o.RoleRef.Name)
		case *rbacv1.RoleBinding:
			subjects = o.Subjects
			get[*rbacv1.Role](t, d, "Role/"+o.RoleRef.Name)
		case *appsv1.Deployment:
			get[*corev1.ServiceAccount](t, d, "ServiceAccount/"+o.Spec.Template.Spec.ServiceAccountName)
		case *appsv1.DaemonSet:
			get[*corev1.ServiceAccount](t, d, "ServiceAccount/"+o.Spec.Template.Spec.ServiceAccountName)
		}
		for _, s := range subjects {
			get[*corev1.ServiceAccount](t, d, "ServiceAccount/"+s.Name)
		}
	}
}

// RKE1's taints: nodes without the worker role, and every node until the CCM initialises it.
var (
	controlPlaneTaint  = corev1.Taint{Key: "node-role.kubernetes.io/controlplane", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	etcdTaint          = corev1.Taint{Key: "node-role.kubernetes.io/etcd", Value: "true", Effect: corev1.TaintEffectNoExecute}
	uninitializedTaint = corev1.Taint{Key: "node.cloudprovider.kubernetes.io/uninitialized", Value: "true", Effect: corev1.TaintEffectNoSchedule}
)

func tolerated(tolerations []corev1.Toleration, taint corev1.Taint) bool {
	return slices.ContainsFunc(tolerations, func(tol corev1.Toleration) bool { return tol.ToleratesTaint(&taint) })
}

// affinityAdmits evaluates required node affinity against node labels, for the operators used here.
func affinityAdmits(t *testing.T, a *corev1.Affinity, labels map[string]string) bool {
	t.Helper()
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		matches := true
		for _, req := range term.MatchExpressions {
			value, ok := labels[req.Key]
			switch req.Operator {
			case corev1.NodeSelectorOpExists:
				matches = matches && ok
			case corev1.NodeSelectorOpIn:
				matches = matches && ok && slices.Contains(req.Values, value)
			default:
				t.Fatalf("affinityAdmits does not know operator %s", req.Operator)
			}
		}
		if matches && len(term.MatchFields) == 0 {
			return true
		}
	}
	return false
}

func TestRKE1Scheduling(t *testing.T) {
	d := decodeStrict(t, render(t, params))
	// RKE1 labels nodes node-role.kubernetes.io/<role>=true.
	controlPlaneNode := map[string]string{"node-role.kubernetes.io/controlplane": "true", "kubernetes.io/os": "linux"}
	workerNode := map[string]string{"node-role.kubernetes.io/worker": "true", "kubernetes.io/os": "linux"}
	tests := []struct {
		workload       string
		tolerate       []corev1.Taint
		onWorkerOnly   bool // may run on a worker-only node
		onControlPlane bool
	}{
		{"Deployment/harvester-cloud-provider", []corev1.Taint{controlPlaneTaint, etcdTaint, uninitializedTaint}, true, true},
		{"DaemonSet/kube-vip", []corev1.Taint{controlPlaneTaint, etcdTaint}, false, true},
		{"DaemonSet/harvester-csi-driver", []corev1.Taint{controlPlaneTaint, etcdTaint}, true, true},
		{"Deployment/harvester-csi-driver-controllers", []corev1.Taint{controlPlaneTaint, etcdTaint}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.workload, func(t *testing.T) {
			var pod corev1.PodSpec
			switch o := d.objects[tt.workload].(type) {
			case *appsv1.Deployment:
				pod = o.Spec.Template.Spec
			case *appsv1.DaemonSet:
				pod = o.Spec.Template.Spec
			default:
				t.Fatalf("%s not rendered", tt.workload)
			}
			for _, taint := range tt.tolerate {
				if !tolerated(pod.Tolerations, taint) {
					t.Errorf("does not tolerate %s", taint.ToString())
				}
			}
			if got := affinityAdmits(t, pod.Affinity, controlPlaneNode) && selects(pod.NodeSelector, controlPlaneNode); got != tt.onControlPlane {
				t.Errorf("runs on an RKE1 control-plane node: %v, want %v", got, tt.onControlPlane)
			}
			if got := affinityAdmits(t, pod.Affinity, workerNode) && selects(pod.NodeSelector, workerNode); got != tt.onWorkerOnly {
				t.Errorf("runs on an RKE1 worker-only node: %v, want %v", got, tt.onWorkerOnly)
			}
		})
	}
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func container(t *testing.T, pod corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range pod.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

func volume(t *testing.T, pod corev1.PodSpec, name string) corev1.Volume {
	t.Helper()
	for _, v := range pod.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %s", name)
	return corev1.Volume{}
}

func mountOf(c corev1.Container, path string) (corev1.VolumeMount, bool) {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return m, true
		}
	}
	return corev1.VolumeMount{}, false
}

func TestCloudProvider(t *testing.T) {
	d := decodeStrict(t, render(t, params))
	pod := get[*appsv1.Deployment](t, d, "Deployment/harvester-cloud-provider").Spec.Template.Spec
	if !pod.HostNetwork {
		t.Error("not on the host network")
	}
	ccm := container(t, pod, "harvester-cloud-provider")
	for _, arg := range []string{"--cloud-config=/etc/kubernetes/cloud-config", "--cluster-name=example-cluster"} {
		if !slices.Contains(ccm.Args, arg) {
			t.Errorf("args %v lack %s", ccm.Args, arg)
		}
	}
	m, ok := mountOf(ccm, "/etc/kubernetes/cloud-config")
	if !ok || !m.ReadOnly {
		t.Fatalf("cloud-config mount %+v", m)
	}
	hp := volume(t, pod, m.Name).HostPath
	if hp == nil || hp.Path != "/etc/kubernetes/cloud-config" || hp.Type == nil || *hp.Type != corev1.HostPathFile {
		t.Errorf("cloud-config volume %+v, want the host file /etc/kubernetes/cloud-config", hp)
	}
	anti := pod.Affinity.PodAntiAffinity
	if anti == nil || len(anti.RequiredDuringSchedulingIgnoredDuringExecution) != 1 ||
		anti.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("pod anti-affinity %+v, want one replica per node", anti)
	}

	kubeVip := get[*appsv1.DaemonSet](t, d, "DaemonSet/kube-vip").Spec.Template.Spec
	env := map[string]string{}
	for _, e := range container(t, kubeVip, "kube-vip").Env {
		env[e.Name] = e.Value
	}
	for k, v := range map[string]string{"svc_enable": "true", "cp_enable": "false", "vip_arp": "true", "lb_enable": "true"} {
		if env[k] != v {
			t.Errorf("kube-vip env %s=%q, want %q", k, env[k], v)
		}
	}
	if !kubeVip.HostNetwork {
		t.Error("kube-vip not on the host network")
	}
}

func TestCSI(t *testing.T) {
	d := decodeStrict(t, render(t, params))
	get[*storagev1.CSIDriver](t, d, "CSIDriver/driver.harvesterhci.io")
	class := get[*storagev1.StorageClass](t, d, "StorageClass/harvester")
	if class.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" || class.Provisioner != "driver.harvesterhci.io" {
		t.Errorf("StorageClass %+v is not the default class of the driver", class)
	}

	node := get[*appsv1.DaemonSet](t, d, "DaemonSet/harvester-csi-driver").Spec.Template.Spec
	driver := container(t, node, "harvester-csi-driver")
	if !slices.Contains(driver.Args, "--kubeconfig=/etc/kubernetes/cloud-config") {
		t.Errorf("driver args %v: want RKE's cloud-config as --kubeconfig", driver.Args)
	}
	m, ok := mountOf(driver, "/etc/kubernetes")
	if hp := volume(t, node, m.Name).HostPath; !ok || hp == nil || hp.Path != "/etc/kubernetes" {
		t.Errorf("/etc/kubernetes is not the host's: mount %+v", m)
	}
	for _, c := range node.Containers {
		for _, m := range c.VolumeMounts {
			if hp := volume(t, node, m.Name).HostPath; hp != nil && strings.Contains(hp.Path, "rke2") {
				t.Errorf("%s mounts RKE2's %s", c.Name, hp.Path)
			}
		}
	}
	registrar := container(t, node, "node-driver-registrar")
	if want := "--kubelet-registration-path=/var/lib/kubelet/harvester-plugins/driver.harvesterhci.io/csi.sock"; !slices.Contains(registrar.Args, want) {
		t.Errorf("registrar args %v lack %s", registrar.Args, want)
	}
	if hp := volume(t, node, "registration-dir").HostPath; hp.Path != "/var/lib/kubelet/plugins_registry" {
		t.Errorf("registration dir %s", hp.Path)
	}

	controllers := get[*appsv1.Deployment](t, d, "Deployment/harvester-csi-driver-controllers").Spec.Template.Spec
	var names []string
	for _, c := range controllers.Containers {
		names = append(names, c.Name)
	}
	if want := []string{"csi-resizer", "csi-provisioner", "csi-attacher"}; !slices.Equal(names, want) {
		t.Errorf("controller containers %v, want %v (no snapshotter: RKE1 has no snapshot CRDs)", names, want)
	}
	provisioner := container(t, controllers, "csi-provisioner")
	if !slices.Contains(provisioner.Args, "--volume-name-prefix=example-cluster") {
		t.Errorf("provisioner args %v lack --volume-name-prefix=example-cluster", provisioner.Args)
	}
	// The controllers reach the driver through the node plugin's socket on the same host.
	if a, b := volume(t, controllers, "socket-dir").HostPath.Path, volume(t, node, "socket-dir").HostPath.Path; a != b {
		t.Errorf("controllers' socket dir %s, node plugin's %s", a, b)
	}
}

// images returns each container's image by "workload/container".
func images(t *testing.T, render string) map[string]string {
	t.Helper()
	d := decodeStrict(t, render)
	out := map[string]string{}
	for _, key := range d.keys {
		var pod corev1.PodSpec
		switch o := d.objects[key].(type) {
		case *appsv1.Deployment:
			pod = o.Spec.Template.Spec
		case *appsv1.DaemonSet:
			pod = o.Spec.Template.Spec
		default:
			continue
		}
		for _, c := range append(pod.InitContainers, pod.Containers...) {
			out[key+"/"+c.Name] = c.Image
		}
	}
	return out
}

var imageCases = []struct {
	name   string
	p      addons.Params
	expect map[string]string // some containers' images
}{
	{"defaults", params, map[string]string{
		"Deployment/harvester-cloud-provider/harvester-cloud-provider": "rancher/harvester-cloud-provider:v0.2.8",
		"DaemonSet/kube-vip/kube-vip":                                  "rancher/mirrored-kube-vip-kube-vip-iptables:v1.2.3",
		"DaemonSet/harvester-csi-driver/harvester-csi-driver":          "rancher/harvester-csi-driver:v0.2.9",
		"Deployment/harvester-csi-driver-controllers/csi-provisioner":  "rancher/mirrored-longhornio-csi-provisioner:v5.3.0-20260428",
	}},
	{"registry prefix", addons.Params{ClusterName: "c", VolumeNamePrefix: "c", RegistryPrefix: "registry.example.com:5000"},
		map[string]string{
			"Deployment/harvester-cloud-provider/harvester-cloud-provider": "registry.example.com:5000/rancher/harvester-cloud-provider:v0.2.8",
			"DaemonSet/harvester-csi-driver/node-driver-registrar":         "registry.example.com:5000/rancher/mirrored-longhornio-csi-node-driver-registrar:v2.16.0-20260428",
			"Deployment/harvester-csi-driver-controllers/csi-attacher":     "registry.example.com:5000/rancher/mirrored-longhornio-csi-attacher:v4.11.0-20260428",
		}},
	{"overrides with and without a host", addons.Params{ClusterName: "c", VolumeNamePrefix: "c", RegistryPrefix: "mirror.local/cache",
		Images: addons.Images{KubeVip: "ghcr.io/kube-vip/kube-vip:v1.2.3", CSIDriver: "localhost/csi:dev",
			Resizer: "registry:5000/resizer:v1", Attacher: "busybox:1", Provisioner: "Upper/provisioner:v5"}},
		map[string]string{
			"DaemonSet/kube-vip/kube-vip":                                  "ghcr.io/kube-vip/kube-vip:v1.2.3",
			"DaemonSet/harvester-csi-driver/harvester-csi-driver":          "localhost/csi:dev",
			"Deployment/harvester-csi-driver-controllers/csi-resizer":      "registry:5000/resizer:v1",
			"Deployment/harvester-csi-driver-controllers/csi-attacher":     "mirror.local/cache/busybox:1",
			"Deployment/harvester-csi-driver-controllers/csi-provisioner":  "Upper/provisioner:v5",
			"Deployment/harvester-cloud-provider/harvester-cloud-provider": "mirror.local/cache/rancher/harvester-cloud-provider:v0.2.8",
		}},
	{"one image twice", addons.Params{ClusterName: "c", VolumeNamePrefix: "c",
		Images: addons.Images{Resizer: "example.com/csi-sidecars:v1", Attacher: "example.com/csi-sidecars:v1"}}, nil},
}

func TestImages(t *testing.T) {
	for _, tt := range imageCases {
		t.Run(tt.name, func(t *testing.T) {
			got := images(t, render(t, tt.p))
			for key, want := range tt.expect {
				if got[key] != want {
					t.Errorf("%s: image %q, want %q", key, got[key], want)
				}
			}
			if tt.p.RegistryPrefix == "" {
				return
			}
			// Every image the case does not pin down is a default one, which names no host.
			for key, image := range got {
				if _, pinned := tt.expect[key]; !pinned && !strings.HasPrefix(image, tt.p.RegistryPrefix+"/") {
					t.Errorf("%s: %s does not come from %s", key, image, tt.p.RegistryPrefix)
				}
			}
		})
	}
}

// TestImageList: the list is exactly the render's images, each once.
func TestImageList(t *testing.T) {
	for _, tt := range imageCases {
		t.Run(tt.name, func(t *testing.T) {
			list := addons.ImageList(tt.p)
			var want []string
			for _, image := range images(t, render(t, tt.p)) {
				if !slices.Contains(want, image) {
					want = append(want, image)
				}
			}
			slices.Sort(want)
			got := slices.Clone(list)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("ImageList %v\nrender uses %v", list, want)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	long := strings.Repeat("a", addons.MaxVolumeNamePrefix)
	tests := []struct {
		name    string
		p       addons.Params
		wantErr string // "" for valid
	}{
		{"valid", params, ""},
		{"longest prefix", addons.Params{ClusterName: "c", VolumeNamePrefix: long}, ""},
		{"registry with path", addons.Params{ClusterName: "c", VolumeNamePrefix: "c", RegistryPrefix: "reg.example.com/mirror/x"}, ""},
		{"localhost registry", addons.Params{ClusterName: "c", VolumeNamePrefix: "c", RegistryPrefix: "localhost:5000"}, ""},
		{"no cluster name", addons.Params{VolumeNamePrefix: "c"}, "ClusterName is required"},
		{"CCM default name", addons.Params{ClusterName: "kubernetes", VolumeNamePrefix: "c"}, `ClusterName "kubernetes"`},
		{"cluster name not a label value", addons.Params{ClusterName: "my cluster", VolumeNamePrefix: "c"}, "not a label value"},
		{"no volume prefix", addons.Params{ClusterName: "c"}, "VolumeNamePrefix is required"},
		{"prefix too long", addons.Params{ClusterName: "c", VolumeNamePrefix: long + "a"}, "longer than 26"},
		{"prefix upper case", addons.Params{ClusterName: "c", VolumeNamePrefix: "Cluster"}, "not a DNS label"},
		{"prefix ends with dash", addons.Params{ClusterName: "c", VolumeNamePrefix: "c-"}, "not a DNS label"},
		{"registry with scheme", addons.Params{ClusterName: "c", VolumeNamePrefix: "c", RegistryPrefix: "https://reg.example.com"}, "RegistryPrefix"},
		{"registry with trailing slash", addons.Params{ClusterName: "c", VolumeNamePrefix: "c", RegistryPrefix: "reg.example.com/"}, "RegistryPrefix"},
		{"registry without host", addons.Params{ClusterName: "c", VolumeNamePrefix: "c", RegistryPrefix: "myorg"}, "RegistryPrefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := addons.Render(tt.p)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			case tt.wantErr != "" && out != "":
				t.Error("an invalid render returned manifests")
			}
		})
	}
	// All problems at once, so a caller fixes them in one go.
	_, err := addons.Render(addons.Params{})
	if err == nil || !strings.Contains(err.Error(), "ClusterName") || !strings.Contains(err.Error(), "VolumeNamePrefix") {
		t.Errorf("empty params: %v, want both missing fields named", err)
	}
}

// TestDeterministic: RKE re-runs its addon job whenever the addons text changes.
func TestDeterministic(t *testing.T) {
	first := render(t, params)
	for i := 0; i < 10; i++ {
		if render(t, params) != first {
			t.Fatal("two renders of the same params differ")
		}
	}
}

func TestGolden(t *testing.T) {
	got := render(t, params)
	golden := filepath.Join("testdata", "default.yaml")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if got != string(want) {
		t.Errorf("render differs from %s (go test -update rewrites it; review the diff)", golden)
	}
}
