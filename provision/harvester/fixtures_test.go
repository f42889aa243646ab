package harvester

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file; run go test -run %s -update and review the diff.\ngot:\n%s", path, t.Name(), got)
	}
}

// testCluster is a cluster as the driver would pass it; the host key is a placeholder, not a key.
func testCluster() Cluster {
	return Cluster{
		Owner: testOwner,
		Template: VMTemplate{
			Namespace:   "vms",
			Image:       ObjectRef{Namespace: "images", Name: "ubuntu-2404"},
			Network:     ObjectRef{Namespace: "vms", Name: "vlan10"},
			CPUs:        2,
			Memory:      resource.MustParse("4Gi"),
			DiskSize:    resource.MustParse("40Gi"),
			DiskBus:     "virtio",
			NamePrefix:  "demo",
			Description: "RKE node of demo",
			Labels:      map[string]string{"team": "infra"},
			KeyPair:     "ops",
		},
		Pools: []Pool{{Name: "cp", Count: 1}, {Name: "worker", Count: 2}},
		Login: Login{
			User:           "ubuntu",
			AuthorizedKeys: []string{"ssh-ed25519 AAAAdriverkey driver"},
			HostKey: func(vm string) (HostKey, error) {
				return HostKey{
					PrivatePEM:    "-----BEGIN OPENSSH PRIVATE KEY-----\nPLACEHOLDER-FOR-" + vm + "\n-----END OPENSSH PRIVATE KEY-----\n",
					AuthorizedKey: "ssh-ed25519 AAAAhostkey-" + vm,
				}, nil
			},
		},
	}
}

// testOwner is the test cluster; twinOwner a cluster of the same name made elsewhere (another
// Rancher), otherOwner a cluster of another name. Ids are short, readable label values.
var (
	testOwner  = Owner{Name: "c-abc12", ID: "id-abc12"}
	twinOwner  = Owner{Name: "c-abc12", ID: "id-twin"}
	otherOwner = Owner{Name: "c-other", ID: "id-other"}
)

// legacyLabels are the labels a driver from before cluster ids put on a cluster's objects.
func legacyLabels(name string) map[string]string { return map[string]string{LabelCluster: name} }

var testEnv = Environment{StorageClass: "longhorn-ubuntu-2404", KeyPairKey: "ssh-ed25519 AAAAkeypair ops@example"}

// fakes holds a client over fake clientsets and records what was created and deleted.
type fakes struct {
	*Client
	dyn  *dynamicfake.FakeDynamicClient
	core *kubefake.Clientset

	mu      sync.Mutex
	actions []string // "verb resource name", in order
}

func newFakes(t *testing.T, dynObjs []runtime.Object, coreObjs ...runtime.Object) *fakes {
	t.Helper()
	f := &fakes{
		dyn:  dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), ListKinds),
		core: kubefake.NewSimpleClientset(coreObjs...),
	}
	// Added by resource: the fake would guess "networkattachmentdefinitions" from the kind.
	for _, o := range dynObjs {
		u := o.(*unstructured.Unstructured)
		for gvr, list := range ListKinds {
			if list == u.GetKind()+"List" {
				if err := f.dyn.Tracker().Create(gvr, u, u.GetNamespace()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	f.Client = &Client{Dynamic: f.dyn, Core: f.core, Server: "https://harvester.test:6443", AuthOption: "kubeconfig-content"}
	// The fakes neither assign UIDs nor answer access reviews.
	f.dyn.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj := a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured)
		obj.SetUID(types.UID("uid-" + obj.GetName()))
		f.record("create", a.GetResource().Resource, obj.GetName())
		return false, nil, nil
	})
	f.dyn.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		f.record("delete", a.GetResource().Resource, a.(k8stesting.DeleteAction).GetName())
		return false, nil, nil
	})
	f.dyn.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		f.record("patch", a.GetResource().Resource, a.(k8stesting.PatchAction).GetName())
		return false, nil, nil
	})
	f.core.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = true
		return true, r, nil
	})
	f.core.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if m, err := metaName(a.(k8stesting.CreateAction).GetObject()); err == nil && a.GetResource().Resource != "selfsubjectaccessreviews" {
			f.record("create", a.GetResource().Resource, m)
		}
		return false, nil, nil
	})
	f.core.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		f.record("delete", a.GetResource().Resource, a.(k8stesting.DeleteAction).GetName())
		return false, nil, nil
	})
	return f
}

func metaName(obj runtime.Object) (string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return "", err
	}
	return m.GetName(), nil
}

func (f *fakes) record(verb, resource, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, verb+" "+resource+" "+name)
}

// recorded returns the recorded actions that start with prefix, in order.
func (f *fakes) recorded(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, a := range f.actions {
		if strings.HasPrefix(a, prefix) {
			out = append(out, a)
		}
	}
	return out
}

// names lists the names of a dynamic resource's objects in a namespace.
func (f *fakes) names(t *testing.T, res string, ns string) []string {
	t.Helper()
	var list *unstructured.UnstructuredList
	var err error
	for gvr := range ListKinds {
		if gvr.Resource == res {
			list, err = f.dyn.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		}
	}
	if err != nil || list == nil {
		t.Fatalf("list %s: %v", res, err)
	}
	var out []string
	for _, o := range list.Items {
		out = append(out, o.GetName())
	}
	return out
}

func (f *fakes) secretNames(t *testing.T, ns string) []string {
	t.Helper()
	list, err := f.core.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range list.Items {
		out = append(out, s.Name)
	}
	return out
}

func (f *fakes) pvcNames(t *testing.T, ns string) []string {
	t.Helper()
	list, err := f.core.CoreV1().PersistentVolumeClaims(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range list.Items {
		out = append(out, s.Name)
	}
	return out
}

// harvesterObjects are the image, network and key pair the test cluster refers to, all in order.
func harvesterObjects() []runtime.Object {
	return []runtime.Object{image("images", "ubuntu-2404", 100, "longhorn-ubuntu-2404", 2<<30), nad("vms", "vlan10"), keyPair("vms", "ops", "ssh-ed25519 AAAAkeypair ops@example")}
}

func image(ns, name string, progress int64, sc string, virtualSize int64) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "harvesterhci.io/v1beta1", "kind": "VirtualMachineImage",
		"metadata": map[string]interface{}{"namespace": ns, "name": name},
		"status":   map[string]interface{}{"progress": progress, "storageClassName": sc, "virtualSize": virtualSize, "size": virtualSize / 4},
	}}
	if progress == 100 {
		_ = unstructured.SetNestedSlice(u.Object, []interface{}{map[string]interface{}{"type": "Imported", "status": "True"}}, "status", "conditions")
	}
	return u
}

func nad(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
		"metadata": map[string]interface{}{"namespace": ns, "name": name},
		"spec":     map[string]interface{}{"config": "{}"},
	}}
}

func keyPair(ns, name, key string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "harvesterhci.io/v1beta1", "kind": "KeyPair",
		"metadata": map[string]interface{}{"namespace": ns, "name": name},
		"spec":     map[string]interface{}{"publicKey": key},
	}}
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// existingVM is a VM as the API server holds it, made from our own spec.
func existingVM(t *testing.T, cl Cluster, pool string, n int) *unstructured.Unstructured {
	t.Helper()
	vm, err := VMSpec(cl, testEnv, VM{Pool: pool, Index: n})
	if err != nil {
		t.Fatal(err)
	}
	vm.UID = types.UID("uid-" + vm.Name)
	u, err := toUnstructured(vm)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// vmNames lists the VMs' names.
func vmNames(vms []VM) []string {
	out := []string{}
	for _, n := range vms {
		out = append(out, n.Name)
	}
	return out
}

// converge is what the orchestrator does with a cluster's VMs on each call: one look (List), one
// plan, the surplus deleted, the missing created. It returns the VMs the cluster has afterwards.
func converge(ctx context.Context, c *Client, cl Cluster, env Environment) ([]VM, error) {
	vms, err := c.List(ctx, cl.Template.Namespace, cl.Owner)
	if err != nil {
		return nil, err
	}
	p, err := PlanVMs(cl, vms)
	if err != nil {
		return nil, err
	}
	if len(p.Surplus) > 0 {
		if err := c.DeleteNodes(ctx, cl.Template.Namespace, cl.Owner, vmNames(p.Surplus)); err != nil {
			return nil, err
		}
	}
	created, err := c.CreateNodes(ctx, cl, env, p)
	out := append(append([]VM{}, p.Keep...), created...)
	SortVMs(cl, out)
	return out, err
}
