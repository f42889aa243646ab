package harvester

import (
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
)

func TestConvergeCreatesVMsThenSecrets(t *testing.T) {
	f := newFakes(t, nil)
	cl := testCluster()
	vms, err := converge(context.Background(), f.Client, cl, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"demo-cp-1", "demo-worker-1", "demo-worker-2"}
	if got := vmNames(vms); !reflect.DeepEqual(got, want) {
		t.Errorf("VMs = %v, want %v", got, want)
	}
	for _, vm := range vms {
		if vm.UID != "uid-"+vm.Name {
			t.Errorf("%s: uid %q, want the created VM's", vm.Name, vm.UID)
		}
	}
	if got := f.names(t, "virtualmachines", "vms"); len(got) != 3 {
		t.Errorf("VMs = %v, want 3", got)
	}
	for _, name := range want {
		s, err := f.core.CoreV1().Secrets("vms").Get(context.Background(), CloudInitSecretName(name), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("cloud-init secret of %s: %v", name, err)
		}
		if len(s.OwnerReferences) != 1 || string(s.OwnerReferences[0].UID) != "uid-"+name {
			t.Errorf("secret of %s is owned by %+v, want the created VM's UID", name, s.OwnerReferences)
		}
		if s.Labels[LabelClusterID] != cl.Owner.ID || s.Labels[LabelCluster] != cl.Owner.Name {
			t.Errorf("secret of %s has labels %v, want the cluster's name and id", name, s.Labels)
		}
	}
	// Each VM is created before its Secret (the Secret needs the VM's UID).
	order := f.recorded("create")
	for _, name := range want {
		vm, secret := indexOf(order, "create virtualmachines "+name), indexOf(order, "create secrets "+CloudInitSecretName(name))
		if vm < 0 || secret < 0 || vm > secret {
			t.Errorf("create order %v: VM %s must come before its secret", order, name)
		}
	}
	// dynamic/fake drops CreateOptions; the integration tests cover VMs against a real API server.
	for _, a := range f.core.Actions() {
		if c, ok := a.(k8stesting.CreateActionImpl); ok && c.GetResource().Resource != "selfsubjectaccessreviews" && c.CreateOptions.FieldValidation != "Strict" {
			t.Errorf("%s created without strict field validation", c.GetResource().Resource)
		}
	}

	// A second call finds everything in place and creates nothing.
	before := len(f.recorded("create"))
	again, err := converge(context.Background(), f.Client, cl, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if after := f.recorded("create"); len(after) != before {
		t.Errorf("second call created %v", after[before:])
	}
	if !reflect.DeepEqual(again, vms) {
		t.Errorf("second call: VMs %+v, want %+v", again, vms)
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// A Create killed between a VM and its Secret, or before the other VMs, is completed.
func TestConvergeResumesAKilledCreate(t *testing.T) {
	cl := testCluster()
	f := newFakes(t, []runtime.Object{existingVM(t, cl, "cp", 1)})
	vms, err := converge(context.Background(), f.Client, cl, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := vmNames(vms); !reflect.DeepEqual(got, []string{"demo-cp-1", "demo-worker-1", "demo-worker-2"}) {
		t.Errorf("VMs = %v", got)
	}
	if got := f.recorded("create virtualmachines"); !reflect.DeepEqual(got, []string{"create virtualmachines demo-worker-1", "create virtualmachines demo-worker-2"}) &&
		!reflect.DeepEqual(got, []string{"create virtualmachines demo-worker-2", "create virtualmachines demo-worker-1"}) {
		t.Errorf("VM creates = %v, want only the two workers", got)
	}
	if indexOf(f.recorded("create secrets"), "create secrets demo-cp-1-cloudinit") < 0 {
		t.Errorf("the existing VM's missing cloud-init secret was not healed: %v", f.recorded("create"))
	}
}

// A cloud-init Secret left over from an earlier VM of the same name is re-attached to the new VM.
func TestConvergeReattachesStaleSecret(t *testing.T) {
	cl := testCluster()
	cl.Pools = []Pool{{Name: "cp", Count: 1}}
	stale := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "demo-cp-1-cloudinit", Namespace: "vms", Labels: cl.Owner.labels(),
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachine", Name: "demo-cp-1", UID: "old-uid"}}}}
	f := newFakes(t, []runtime.Object{existingVM(t, cl, "cp", 1)}, stale)
	if _, err := converge(context.Background(), f.Client, cl, testEnv); err != nil {
		t.Fatal(err)
	}
	s, err := f.core.CoreV1().Secrets("vms").Get(context.Background(), "demo-cp-1-cloudinit", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.OwnerReferences[0].UID != "uid-demo-cp-1" || len(s.Data["userdata"]) == 0 {
		t.Errorf("secret owner %s with %d bytes of user data, want the live VM and the user data", s.OwnerReferences[0].UID, len(s.Data["userdata"]))
	}
}

// CreateNodes meets a VM under a name the plan said was free: one that appeared between the List
// and the create (a racing call of the same cluster), one an older driver made (no id label yet),
// or one of another cluster. Only the last is refused, with an error naming it and whose it is.
func TestCreateNodesNameTaken(t *testing.T) {
	// withLabels gives our VM other owner labels; nil: none at all.
	withLabels := func(u *unstructured.Unstructured, owner map[string]string) *unstructured.Unstructured {
		l := u.GetLabels()
		delete(l, LabelCluster)
		delete(l, LabelClusterID)
		for k, v := range owner {
			l[k] = v
		}
		if owner == nil {
			l = nil
		}
		u.SetLabels(l)
		return u
	}
	ours := func(t *testing.T) *unstructured.Unstructured { return existingVM(t, testCluster(), "worker", 1) }
	for _, tc := range []struct {
		name string
		vm   func(t *testing.T) *unstructured.Unstructured // demo-worker-1, in place before the create
		// refused is a part of the error; empty: the VM is adopted.
		refused []string
	}{
		{name: "same cluster id: adopted", vm: ours},
		{name: "legacy VM of the same name, no id: adopted", vm: func(t *testing.T) *unstructured.Unstructured {
			return withLabels(ours(t), legacyLabels(testOwner.Name))
		}},
		{name: "same name, another id: refused", vm: func(t *testing.T) *unstructured.Unstructured {
			return withLabels(ours(t), twinOwner.labels())
		}, refused: []string{`vm vms/demo-worker-1 belongs to another cluster (harvesterrke.io/cluster="c-abc12", harvesterrke.io/cluster-id="id-twin"), not to cluster c-abc12 (id id-abc12)`, "choose another vm-name-prefix"}},
		{name: "another cluster: refused", vm: func(t *testing.T) *unstructured.Unstructured {
			return withLabels(ours(t), otherOwner.labels())
		}, refused: []string{`vm vms/demo-worker-1 belongs to another cluster (harvesterrke.io/cluster="c-other", harvesterrke.io/cluster-id="id-other")`}},
		{name: "nobody's VM: refused", vm: func(t *testing.T) *unstructured.Unstructured {
			return withLabels(ours(t), nil)
		}, refused: []string{`vm vms/demo-worker-1 belongs to another cluster (harvesterrke.io/cluster="", harvesterrke.io/cluster-id="")`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := testCluster()
			f := newFakes(t, nil)
			taken := tc.vm(t)
			// The plan is made before the VM appears, as when another call creates it in between.
			p, err := PlanVMs(cl, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.dyn.Tracker().Create(gvrVM, taken, "vms"); err != nil {
				t.Fatal(err)
			}
			created, err := f.CreateNodes(context.Background(), cl, testEnv, p)
			_, secretErr := f.core.CoreV1().Secrets("vms").Get(context.Background(), "demo-worker-1-cloudinit", metav1.GetOptions{})
			if tc.refused != nil {
				wantAll(t, err, tc.refused...)
				if got := vmNames(created); !reflect.DeepEqual(got, []string{"demo-cp-1", "demo-worker-2"}) {
					t.Errorf("created %v, want the two that were free", got)
				}
				if secretErr == nil {
					t.Error("a cloud-init secret was made for a VM that is not the cluster's")
				}
				if got, _ := f.dyn.Resource(gvrVM).Namespace("vms").Get(context.Background(), "demo-worker-1", metav1.GetOptions{}); !reflect.DeepEqual(got.GetLabels(), taken.GetLabels()) {
					t.Errorf("the refused VM was changed: labels %v", got.GetLabels())
				}
				if len(f.recorded("delete")) != 0 || len(f.recorded("patch")) != 0 {
					t.Errorf("changed objects: %v", f.recorded(""))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := vmNames(created); !reflect.DeepEqual(got, []string{"demo-cp-1", "demo-worker-1", "demo-worker-2"}) {
				t.Errorf("created %v, want all three with the adopted one", got)
			}
			if created[1].UID != "uid-demo-worker-1" {
				t.Errorf("adopted VM has uid %q, want the existing VM's", created[1].UID)
			}
			if secretErr != nil {
				t.Errorf("the adopted VM has no cloud-init secret: %v", secretErr)
			}
		})
	}
}

// A VM that appears between the List and the create (another Create racing) is adopted.
func TestConvergeAdoptsOwnVM(t *testing.T) {
	cl := testCluster()
	f := newFakes(t, nil)
	racing := existingVM(t, cl, "worker", 1)
	f.dyn.PrependReactor("create", "virtualmachines", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured).GetName() == "demo-worker-1" {
			_ = f.dyn.Tracker().Create(gvrVM, racing.DeepCopy(), "vms")
		}
		return false, nil, nil
	})
	vms, err := converge(context.Background(), f.Client, cl, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(vms) != 3 {
		t.Errorf("VMs = %v, want 3 with the adopted one", vmNames(vms))
	}
	if _, err := f.core.CoreV1().Secrets("vms").Get(context.Background(), "demo-worker-1-cloudinit", metav1.GetOptions{}); err != nil {
		t.Errorf("adopted VM has no cloud-init secret: %v", err)
	}
}

// A same-named VM of another cluster (or of nobody) is never adopted; the other VMs are still made.
func TestConvergeRefusesForeignVM(t *testing.T) {
	cl := testCluster()
	other := cl
	other.Owner = otherOwner
	foreign := existingVM(t, other, "worker", 1)
	f := newFakes(t, []runtime.Object{foreign})
	vms, err := converge(context.Background(), f.Client, cl, testEnv)
	wantAll(t, err, `vm vms/demo-worker-1 belongs to another cluster (harvesterrke.io/cluster="c-other", harvesterrke.io/cluster-id="id-other"), not to cluster c-abc12 (id id-abc12)`, "vm-name-prefix")
	if got := vmNames(vms); !reflect.DeepEqual(got, []string{"demo-cp-1", "demo-worker-2"}) {
		t.Errorf("VMs = %v, want the two that could be created", got)
	}
	if s, err := f.core.CoreV1().Secrets("vms").Get(context.Background(), "demo-worker-1-cloudinit", metav1.GetOptions{}); err == nil {
		t.Errorf("a secret was made for the foreign VM: %v", s.Name)
	}
	if len(f.recorded("delete")) != 0 {
		t.Errorf("deleted %v", f.recorded("delete"))
	}
}

// A cloud-init Secret of another cluster under a kept VM's Secret name is not taken over.
func TestCreateNodesRefusesForeignSecret(t *testing.T) {
	cl := testCluster()
	cl.Pools = []Pool{{Name: "cp", Count: 1}}
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "demo-cp-1-cloudinit", Namespace: "vms", Labels: twinOwner.labels()},
		Data: map[string][]byte{"userdata": []byte("theirs")}}
	f := newFakes(t, []runtime.Object{existingVM(t, cl, "cp", 1)}, foreign)
	_, err := converge(context.Background(), f.Client, cl, testEnv)
	wantAll(t, err, `secret vms/demo-cp-1-cloudinit belongs to another cluster (harvesterrke.io/cluster="c-abc12", harvesterrke.io/cluster-id="id-twin")`)
	s, err := f.core.CoreV1().Secrets("vms").Get(context.Background(), "demo-cp-1-cloudinit", metav1.GetOptions{})
	if err != nil || string(s.Data["userdata"]) != "theirs" || len(s.OwnerReferences) != 0 {
		t.Errorf("the other cluster's secret was changed: %+v, %v", s, err)
	}
}

func TestConvergeScalesDown(t *testing.T) {
	cl := testCluster()
	objs := []runtime.Object{existingVM(t, cl, "cp", 1)}
	var secrets []runtime.Object
	for n := 1; n <= 4; n++ {
		objs = append(objs, existingVM(t, cl, "worker", n))
		secrets = append(secrets, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: CloudInitSecretName(VMName("demo", "worker", n)), Namespace: "vms",
			Labels: cl.Owner.labels(), OwnerReferences: []metav1.OwnerReference{{UID: types.UID("uid-" + VMName("demo", "worker", n))}}}})
	}
	f := newFakes(t, objs, secrets...)
	f.Concurrency = 1 // the order of deletes is only defined one at a time
	listed, err := f.List(context.Background(), "vms", cl.Owner)
	if err != nil {
		t.Fatal(err)
	}
	p, err := PlanVMs(cl, listed)
	if err != nil {
		t.Fatal(err)
	}
	if got := vmNames(p.Surplus); !reflect.DeepEqual(got, []string{"demo-worker-4", "demo-worker-3"}) {
		t.Fatalf("surplus = %v", got)
	}
	vms, err := converge(context.Background(), f.Client, cl, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := vmNames(vms); !reflect.DeepEqual(got, []string{"demo-cp-1", "demo-worker-1", "demo-worker-2"}) {
		t.Errorf("VMs = %v", got)
	}
	if got := f.recorded("delete virtualmachines"); !reflect.DeepEqual(got, []string{"delete virtualmachines demo-worker-4", "delete virtualmachines demo-worker-3"}) {
		t.Errorf("VM deletes = %v, want highest index first", got)
	}
	if got := f.secretNames(t, "vms"); strings.Contains(strings.Join(got, ","), "worker-3") || strings.Contains(strings.Join(got, ","), "worker-4") {
		t.Errorf("secrets of deleted VMs remain: %v", got)
	}
	if len(f.recorded("create virtualmachines")) != 0 {
		t.Errorf("scale-down created %v", f.recorded("create virtualmachines"))
	}
}

// CreateNodes never deletes: the surplus of its plan is the orchestrator's to drain and delete.
func TestCreateNodesDeletesNothing(t *testing.T) {
	cl := testCluster()
	f := newFakes(t, []runtime.Object{existingVM(t, cl, "cp", 1), existingVM(t, cl, "worker", 1), existingVM(t, cl, "worker", 2), existingVM(t, cl, "worker", 3)})
	listed, err := f.List(context.Background(), "vms", cl.Owner)
	if err != nil {
		t.Fatal(err)
	}
	p, err := PlanVMs(cl, listed)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Surplus) != 1 {
		t.Fatalf("surplus = %v, want demo-worker-3", vmNames(p.Surplus))
	}
	created, err := f.CreateNodes(context.Background(), cl, testEnv, p)
	if err != nil || len(created) != 0 {
		t.Fatalf("CreateNodes = %v, %v; want nothing created", vmNames(created), err)
	}
	if got := f.recorded("delete"); len(got) != 0 {
		t.Errorf("CreateNodes deleted %v", got)
	}
}

func TestConvergeStopsOnCancel(t *testing.T) {
	cl := testCluster()
	cl.Pools = []Pool{{Name: "worker", Count: 30}}
	f := newFakes(t, nil)
	f.Concurrency = 2
	ctx, cancel := context.WithCancel(context.Background())
	created := 0
	f.dyn.PrependReactor("create", "virtualmachines", func(k8stesting.Action) (bool, runtime.Object, error) {
		if created++; created == 3 {
			cancel() // the process is killed mid-create
		}
		return false, nil, nil
	})
	if _, err := converge(ctx, f.Client, cl, testEnv); err == nil {
		t.Fatal("a cancelled call reported success")
	}
	if _, err := converge(context.Background(), f.Client, cl, testEnv); err != nil {
		t.Fatal(err)
	}
	vms := f.names(t, "virtualmachines", "vms")
	secrets := f.secretNames(t, "vms")
	if len(vms) != 30 || len(secrets) != 30 {
		t.Errorf("after resume: %d VMs, %d secrets; want 30 each", len(vms), len(secrets))
	}
}

// An owner that is not a valid label value would select other clusters' objects: refused.
func TestCreateNodesChecksOwner(t *testing.T) {
	for _, o := range []Owner{{Name: "c-abc12"}, {ID: "id-abc12"}, {Name: "c-abc12", ID: "not a label"}} {
		cl := testCluster()
		cl.Owner = o
		f := newFakes(t, nil)
		// A kept VM too: healing its Secret would not check the owner again.
		p := Plan{Keep: []VM{{Name: "demo-cp-1", Pool: "cp", Index: 1, UID: "uid-demo-cp-1"}}, Missing: []VM{{Name: "demo-worker-1", Pool: "worker", Index: 1}}}
		if _, err := f.CreateNodes(context.Background(), cl, testEnv, p); err == nil {
			t.Errorf("CreateNodes with owner %+v succeeded", o)
		}
		if got := f.recorded("create"); len(got) != 0 {
			t.Errorf("owner %+v: created %v", o, got)
		}
	}
}
