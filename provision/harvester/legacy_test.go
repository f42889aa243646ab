package harvester

import (
	"context"
	"reflect"
	"sort"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// legacy makes an object look as a driver from before cluster ids left it: the same labels but the id.
func legacy(u *unstructured.Unstructured) *unstructured.Unstructured {
	l := u.GetLabels()
	delete(l, LabelClusterID)
	u.SetLabels(l)
	tl, _, _ := unstructured.NestedStringMap(u.Object, "spec", "template", "metadata", "labels")
	if tl != nil {
		delete(tl, LabelClusterID)
		_ = unstructured.SetNestedStringMap(u.Object, tl, "spec", "template", "metadata", "labels")
	}
	return u
}

func withoutID(l map[string]string) map[string]string {
	delete(l, LabelClusterID)
	return l
}

func TestAdoptLegacy(t *testing.T) {
	cl := testCluster()
	// twin: a cluster of the same name elsewhere, made by an older driver too; another prefix.
	twin := cl
	twin.Owner, twin.Template.NamePrefix = twinOwner, "twin"
	other := cl
	other.Owner = otherOwner

	f := newFakes(t,
		[]runtime.Object{
			legacy(existingVM(t, cl, "cp", 1)),
			legacy(existingVM(t, cl, "old", 1)), // a pool dropped since: its own pool label names it
			existingVM(t, cl, "worker", 1),      // made since: has the id already
			legacy(vmiObject(t, cl.Owner, "demo-cp-1", kubevirtv1.Running, "10.0.0.1")),
			legacy(existingVM(t, twin, "cp", 1)),
			legacy(vmiObject(t, twin.Owner, "twin-cp-1", kubevirtv1.Running, "10.0.0.2")),
			existingVM(t, twin, "worker", 1), // the twin's, with its id
		},
		pvc("vms", "demo-cp-1-disk-0", legacyLabels("c-abc12")),
		pvc("vms", "twin-cp-1-disk-0", legacyLabels("c-abc12")),
		pvc("vms", "demo-unlabelled-disk", nil), // our prefix, no label: not provably ours
		secret("vms", "demo-ssh", legacyLabels("c-abc12")),
		secret("vms", "demo-cp-1-cloudinit", withoutID(vmLabels(cl, "cp"))),
		secret("vms", "demo-worker-1-cloudinit", cl.Owner.labels()),
		secret("vms", "twin-ssh", legacyLabels("c-abc12")),
		secret("vms", "twin-worker-1-cloudinit", twin.Owner.labels()),
		secret("vms", "demo-foreign", legacyLabels("c-other")), // our prefix, another cluster's name
		secret("vms", "ssh", legacyLabels("c-abc12")),          // our name, no prefix at all
	)
	if err := f.AdoptLegacy(context.Background(), "vms", "demo", poolNamesOf(cl), cl.Owner); err != nil {
		t.Fatal(err)
	}
	wantPatched := []string{
		"patch persistentvolumeclaims demo-cp-1-disk-0",
		"patch secrets demo-cp-1-cloudinit",
		"patch secrets demo-ssh",
		"patch virtualmachineinstances demo-cp-1",
		"patch virtualmachines demo-cp-1",
		"patch virtualmachines demo-old-1",
	}
	patched := patches(f)
	if !reflect.DeepEqual(patched, wantPatched) {
		t.Errorf("patched %v, want only the cluster's legacy objects %v", patched, wantPatched)
	}

	ctx := context.Background()
	idOf := func(l map[string]string) string { return l[LabelClusterID] }
	for _, x := range []struct {
		what   string
		labels func() (map[string]string, error)
		wantID string
	}{
		{"VM demo-cp-1", func() (map[string]string, error) { return dynLabels(ctx, f, gvrVM, "demo-cp-1") }, "id-abc12"},
		{"VMI demo-cp-1", func() (map[string]string, error) { return dynLabels(ctx, f, gvrVMI, "demo-cp-1") }, "id-abc12"},
		{"PVC demo-cp-1-disk-0", func() (map[string]string, error) {
			p, err := f.core.CoreV1().PersistentVolumeClaims("vms").Get(ctx, "demo-cp-1-disk-0", metav1.GetOptions{})
			return labelsOf(p, err)
		}, "id-abc12"},
		{"secret demo-ssh", func() (map[string]string, error) { return secretLabels(ctx, f, "demo-ssh") }, "id-abc12"},
		{"secret demo-cp-1-cloudinit", func() (map[string]string, error) { return secretLabels(ctx, f, "demo-cp-1-cloudinit") }, "id-abc12"},
		{"the twin's VM twin-cp-1", func() (map[string]string, error) { return dynLabels(ctx, f, gvrVM, "twin-cp-1") }, ""},
		{"the twin's VMI twin-cp-1", func() (map[string]string, error) { return dynLabels(ctx, f, gvrVMI, "twin-cp-1") }, ""},
		{"the twin's VM twin-worker-1", func() (map[string]string, error) { return dynLabels(ctx, f, gvrVM, "twin-worker-1") }, "id-twin"},
		{"the twin's PVC", func() (map[string]string, error) {
			p, err := f.core.CoreV1().PersistentVolumeClaims("vms").Get(ctx, "twin-cp-1-disk-0", metav1.GetOptions{})
			return labelsOf(p, err)
		}, ""},
		{"the twin's anchor", func() (map[string]string, error) { return secretLabels(ctx, f, "twin-ssh") }, ""},
		{"another cluster's secret with our prefix", func() (map[string]string, error) { return secretLabels(ctx, f, "demo-foreign") }, ""},
		{"our name without our prefix", func() (map[string]string, error) { return secretLabels(ctx, f, "ssh") }, ""},
	} {
		l, err := x.labels()
		if err != nil {
			t.Fatalf("%s: %v", x.what, err)
		}
		if idOf(l) != x.wantID {
			t.Errorf("%s: id label %q, want %q", x.what, idOf(l), x.wantID)
		}
	}
	// The VM's template carries the id too, so its next VMI is selected with the cluster's.
	vm, err := f.dyn.Resource(gvrVM).Namespace("vms").Get(ctx, "demo-cp-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tl, _, _ := unstructured.NestedStringMap(vm.Object, "spec", "template", "metadata", "labels")
	if tl[LabelClusterID] != "id-abc12" || tl[LabelPool] != "cp" || tl[labelVMName] != "demo-cp-1" {
		t.Errorf("template labels %v, want the id added to the others", tl)
	}
	// Adopted, the legacy VM is listed with the cluster's.
	vms, err := f.List(ctx, "vms", cl.Owner)
	if err != nil {
		t.Fatal(err)
	}
	if got := vmNames(vms); !reflect.DeepEqual(got, []string{"demo-cp-1", "demo-old-1", "demo-worker-1"}) {
		t.Errorf("List after AdoptLegacy = %v", got)
	}

	// Nothing left to adopt: a second call changes nothing.
	if err := f.AdoptLegacy(ctx, "vms", "demo", poolNamesOf(cl), cl.Owner); err != nil {
		t.Fatal(err)
	}
	if again := patches(f); !reflect.DeepEqual(again, wantPatched) {
		t.Errorf("a second AdoptLegacy patched %v", again[len(wantPatched):])
	}
}

// patches lists the patches sent through both fake clients, sorted.
func patches(f *fakes) []string {
	out := f.recorded("patch")
	for _, a := range f.core.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok {
			out = append(out, "patch "+a.GetResource().Resource+" "+p.GetName())
		}
	}
	sort.Strings(out)
	return out
}

func dynLabels(ctx context.Context, f *fakes, gvr schema.GroupVersionResource, name string) (map[string]string, error) {
	u, err := f.dyn.Resource(gvr).Namespace("vms").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return u.GetLabels(), nil
}

func secretLabels(ctx context.Context, f *fakes, name string) (map[string]string, error) {
	s, err := f.core.CoreV1().Secrets("vms").Get(ctx, name, metav1.GetOptions{})
	return labelsOf(s, err)
}

func labelsOf(o metav1.Object, err error) (map[string]string, error) {
	if err != nil {
		return nil, err
	}
	return o.GetLabels(), nil
}

func TestAdoptLegacyChecksOwner(t *testing.T) {
	f := newFakes(t, nil, secret("vms", "demo-ssh", legacyLabels("c-abc12")))
	for _, o := range []Owner{{Name: "c-abc12"}, {ID: "id-abc12"}} {
		if err := f.AdoptLegacy(context.Background(), "vms", "demo", nil, o); err == nil {
			t.Errorf("AdoptLegacy with owner %+v succeeded", o)
		}
	}
	if s, _ := f.core.CoreV1().Secrets("vms").Get(context.Background(), "demo-ssh", metav1.GetOptions{}); s.Labels[LabelClusterID] != "" {
		t.Errorf("labelled with %q", s.Labels[LabelClusterID])
	}
}

// A same-named cluster whose prefix starts with this cluster's prefix and a dash (demo-big after
// demo) made its objects with an older driver too: they are not this cluster's to adopt.
func TestAdoptLegacyLongerPrefix(t *testing.T) {
	cl := testCluster()
	big := cl
	big.Owner, big.Template.NamePrefix = twinOwner, "demo-big"
	f := newFakes(t, []runtime.Object{legacy(existingVM(t, big, "cp", 1))},
		secret("vms", "demo-big-ssh", legacyLabels("c-abc12")),
		secret("vms", "demo-big-cp-1-cloudinit", withoutID(vmLabels(big, "cp"))),
		pvc("vms", "demo-big-cp-1-disk-0", legacyLabels("c-abc12")),
	)
	if err := f.AdoptLegacy(context.Background(), "vms", "demo", poolNamesOf(cl), cl.Owner); err != nil {
		t.Fatal(err)
	}
	got := patches(f)
	if len(got) > 0 {
		t.Errorf("adopted another cluster's objects: %v", got)
	}
}

// poolNamesOf are the names of a test cluster's pools.
func poolNamesOf(cl Cluster) []string {
	var out []string
	for _, p := range cl.Pools {
		out = append(out, p.Name)
	}
	return out
}
