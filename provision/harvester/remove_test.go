package harvester

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	k8stesting "k8s.io/client-go/testing"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

func pvc(ns, name string, labels map[string]string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}}
}

func secret(ns, name string, labels map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}}
}

// tokenSecret is the cluster identity's token: Remove leaves it to RemoveIdentity, since it may be
// the credential Remove runs with.
func tokenSecret(ns, name string, labels map[string]string) *corev1.Secret {
	s := secret(ns, name, labels)
	s.Type = corev1.SecretTypeServiceAccountToken
	return s
}

// removeFixture is a cluster half made and half broken, next to the objects of a cluster of another
// name (other-) and of a cluster of the same name made elsewhere (twin-: another id).
func removeFixture(t *testing.T) (*fakes, Cluster) {
	cl := testCluster()
	other, twin := cl, cl
	other.Owner, other.Template.NamePrefix = otherOwner, "other"
	twin.Owner, twin.Template.NamePrefix = twinOwner, "twin"
	ours, theirs, twins := cl.Owner.labels(), other.Owner.labels(), twin.Owner.labels()

	// A VM whose disk the user swapped: its volume names a PVC only the VM knows about.
	swapped := existingVM(t, cl, "worker", 2)
	vols, _, _ := unstructured.NestedSlice(swapped.Object, "spec", "template", "spec", "volumes")
	vols[0].(map[string]interface{})["persistentVolumeClaim"].(map[string]interface{})["claimName"] = "restored-disk"
	_ = unstructured.SetNestedSlice(swapped.Object, vols, "spec", "template", "spec", "volumes")

	f := newFakes(t,
		[]runtime.Object{
			existingVM(t, cl, "cp", 1), existingVM(t, cl, "worker", 1), swapped, existingVM(t, other, "worker", 1), existingVM(t, twin, "cp", 1),
			vmiObject(t, cl.Owner, "demo-cp-1", kubevirtv1.Running, "10.0.0.1"),
			vmiObject(t, cl.Owner, "demo-orphan-1", kubevirtv1.Running, "10.0.0.9"), // its VM is gone
			vmiObject(t, other.Owner, "other-worker-1", kubevirtv1.Running, "10.0.0.2"),
			vmiObject(t, twin.Owner, "twin-cp-1", kubevirtv1.Running, "10.0.0.3"),
		},
		namespace("vms"),
		pvc("vms", "demo-cp-1-disk-0", nil), // made by Harvester without our label
		pvc("vms", "demo-worker-1-disk-0", ours),
		pvc("vms", "restored-disk", nil),
		pvc("vms", "demo-worker-9-disk-0", ours), // its VM is long gone
		pvc("vms", "other-worker-1-disk-0", theirs),
		pvc("vms", "twin-cp-1-disk-0", twins),
		pvc("vms", "unrelated", nil),
		secret("vms", "demo-ssh", ours),
		secret("vms", "demo-cp-1-cloudinit", ours),
		secret("vms", "demo-worker-1-cloudinit", ours),
		secret("vms", "other-ssh", theirs),
		secret("vms", "twin-ssh", twins),
		secret("vms", "twin-cp-1-cloudinit", twins),
		secret("vms", "unrelated", nil),
		tokenSecret("vms", IdentityName("demo")+"-token", ours),
	)
	return f, cl
}

func TestRemoveCollectsEverything(t *testing.T) {
	f, cl := removeFixture(t)
	var mu sync.Mutex
	var patches []string
	var propagation []metav1.DeletionPropagation
	f.dyn.PrependReactor("patch", "virtualmachines", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		patches = append(patches, a.(k8stesting.PatchAction).GetName()+" "+string(a.(k8stesting.PatchAction).GetPatch()))
		return false, nil, nil
	})
	// dynamic/fake drops DeleteOptions: record them on the way in.
	f.Dynamic = deleteRecorder{f.dyn, func(gvr schema.GroupVersionResource, opts metav1.DeleteOptions) {
		mu.Lock()
		defer mu.Unlock()
		if gvr == gvrVM && opts.PropagationPolicy != nil {
			propagation = append(propagation, *opts.PropagationPolicy)
		}
	}}

	if err := f.Remove(context.Background(), "vms", cl.Owner); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		what      string
		got, want []string
	}{
		{"VMs", f.names(t, "virtualmachines", "vms"), []string{"other-worker-1", "twin-cp-1"}},
		{"VMIs", f.names(t, "virtualmachineinstances", "vms"), []string{"other-worker-1", "twin-cp-1"}},
		{"PVCs", f.pvcNames(t, "vms"), []string{"other-worker-1-disk-0", "twin-cp-1-disk-0", "unrelated"}},
		{"secrets", f.secretNames(t, "vms"), []string{"demo-harvesterrke-token", "other-ssh", "twin-cp-1-cloudinit", "twin-ssh", "unrelated"}},
	} {
		sort.Strings(x.got)
		if !reflect.DeepEqual(x.got, x.want) {
			t.Errorf("%s left: %v, want only %v", x.what, x.got, x.want)
		}
	}
	sort.Strings(patches)
	wantPatches := []string{
		`demo-cp-1 {"metadata":{"annotations":{"harvesterhci.io/removedPersistentVolumeClaims":"demo-cp-1-disk-0"}}}`,
		`demo-worker-1 {"metadata":{"annotations":{"harvesterhci.io/removedPersistentVolumeClaims":"demo-worker-1-disk-0"}}}`,
		`demo-worker-2 {"metadata":{"annotations":{"harvesterhci.io/removedPersistentVolumeClaims":"demo-worker-2-disk-0,restored-disk"}}}`,
	}
	if !reflect.DeepEqual(patches, wantPatches) {
		t.Errorf("removedPersistentVolumeClaims patches:\n%v\nwant\n%v", patches, wantPatches)
	}
	if !reflect.DeepEqual(propagation, []metav1.DeletionPropagation{"Foreground", "Foreground", "Foreground"}) {
		t.Errorf("VM deletes used propagation %v, want foreground for each", propagation)
	}
	// The VMs go before their volumes (Harvester refuses to delete a PVC a VM uses).
	actions := f.recorded("delete")
	lastVM, firstPVC := -1, len(actions)
	for i, a := range actions {
		switch {
		case strings.HasPrefix(a, "delete virtualmachines "):
			lastVM = i
		case strings.HasPrefix(a, "delete persistentvolumeclaims ") && i < firstPVC:
			firstPVC = i
		}
	}
	if lastVM > firstPVC {
		t.Errorf("a PVC was deleted before the VMs: %v", actions)
	}

	// Idempotent: nothing left is success.
	if err := f.Remove(context.Background(), "vms", cl.Owner); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

// Without state the namespace may be unknown: all namespaces are searched.
func TestRemoveAllNamespaces(t *testing.T) {
	f, cl := removeFixture(t)
	if err := f.Remove(context.Background(), "", cl.Owner); err != nil {
		t.Fatal(err)
	}
	vms := f.names(t, "virtualmachines", "")
	sort.Strings(vms)
	if !reflect.DeepEqual(vms, []string{"other-worker-1", "twin-cp-1"}) {
		t.Errorf("VMs left: %v", vms)
	}
	got := f.secretNames(t, "")
	sort.Strings(got)
	if !reflect.DeepEqual(got, []string{"demo-harvesterrke-token", "other-ssh", "twin-cp-1-cloudinit", "twin-ssh", "unrelated"}) {
		t.Errorf("secrets left: %v", got)
	}
}

func TestRemoveNothing(t *testing.T) {
	f := newFakes(t, nil)
	if err := f.Remove(context.Background(), "vms", Owner{Name: "c-never-made", ID: "id-never-made"}); err != nil {
		t.Errorf("Remove of a cluster with no objects: %v", err)
	}
	// An empty name or id would select objects labelled with an empty value: refused.
	for _, o := range []Owner{{}, {Name: "c-abc12"}, {ID: "id-abc12"}} {
		if err := f.Remove(context.Background(), "vms", o); err == nil {
			t.Errorf("Remove with owner %+v succeeded", o)
		}
	}
}

func TestDeleteNodes(t *testing.T) {
	f, cl := removeFixture(t)
	for _, tc := range []struct{ vm, err string }{
		{"other-worker-1", `vm vms/other-worker-1 belongs to another cluster (harvesterrke.io/cluster="c-other", harvesterrke.io/cluster-id="id-other"), not to cluster c-abc12 (id id-abc12): not deleting it`},
		{"twin-cp-1", `vm vms/twin-cp-1 belongs to another cluster (harvesterrke.io/cluster="c-abc12", harvesterrke.io/cluster-id="id-twin"), not to cluster c-abc12 (id id-abc12): not deleting it`},
	} {
		err := f.DeleteNodes(context.Background(), "vms", cl.Owner, []string{"demo-worker-1", tc.vm})
		wantAll(t, err, tc.err)
		if len(f.recorded("delete")) != 0 || len(f.recorded("patch")) != 0 {
			t.Errorf("changed %v although %s is another cluster's", f.recorded(""), tc.vm)
		}
	}

	// demo-worker-9 is gone already: its labelled leftovers are cleaned up, nothing else.
	if err := f.DeleteNodes(context.Background(), "vms", cl.Owner, []string{"demo-worker-1", "demo-worker-9"}); err != nil {
		t.Fatal(err)
	}
	vms := f.names(t, "virtualmachines", "vms")
	sort.Strings(vms)
	if !reflect.DeepEqual(vms, []string{"demo-cp-1", "demo-worker-2", "other-worker-1", "twin-cp-1"}) {
		t.Errorf("VMs left: %v", vms)
	}
	pvcs := f.pvcNames(t, "vms")
	sort.Strings(pvcs)
	if !reflect.DeepEqual(pvcs, []string{"demo-cp-1-disk-0", "other-worker-1-disk-0", "restored-disk", "twin-cp-1-disk-0", "unrelated"}) {
		t.Errorf("PVCs left: %v", pvcs)
	}
	secrets := f.secretNames(t, "vms")
	sort.Strings(secrets)
	if !reflect.DeepEqual(secrets, []string{"demo-cp-1-cloudinit", "demo-harvesterrke-token", "demo-ssh", "other-ssh", "twin-cp-1-cloudinit", "twin-ssh", "unrelated"}) {
		t.Errorf("secrets left: %v", secrets)
	}
}

func TestList(t *testing.T) {
	f, cl := removeFixture(t)
	vms, err := f.List(context.Background(), "vms", cl.Owner)
	if err != nil {
		t.Fatal(err)
	}
	want := []VM{
		{Name: "demo-cp-1", Pool: "cp", Index: 1, UID: "uid-demo-cp-1", Address: "10.0.0.1"},
		{Name: "demo-worker-1", Pool: "worker", Index: 1, UID: "uid-demo-worker-1"},
		{Name: "demo-worker-2", Pool: "worker", Index: 2, UID: "uid-demo-worker-2"},
	}
	if !reflect.DeepEqual(vms, want) {
		t.Errorf("List = %+v, want %+v", vms, want)
	}
}

type deleteRecorder struct {
	dynamic.Interface
	record func(schema.GroupVersionResource, metav1.DeleteOptions)
}

func (d deleteRecorder) Resource(gvr schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	return deleteRecorderResource{d.Interface.Resource(gvr), gvr, d.record}
}

type deleteRecorderResource struct {
	dynamic.NamespaceableResourceInterface
	gvr    schema.GroupVersionResource
	record func(schema.GroupVersionResource, metav1.DeleteOptions)
}

func (r deleteRecorderResource) Namespace(ns string) dynamic.ResourceInterface {
	return deleteRecorderNamespaced{r.NamespaceableResourceInterface.Namespace(ns), r.gvr, r.record}
}

type deleteRecorderNamespaced struct {
	dynamic.ResourceInterface
	gvr    schema.GroupVersionResource
	record func(schema.GroupVersionResource, metav1.DeleteOptions)
}

func (r deleteRecorderNamespaced) Delete(ctx context.Context, name string, opts metav1.DeleteOptions, sub ...string) error {
	r.record(r.gvr, opts)
	return r.ResourceInterface.Delete(ctx, name, opts, sub...)
}
