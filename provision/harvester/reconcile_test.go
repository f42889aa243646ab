package harvester

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
)

func nodeNames(nodes []Node) []string {
	out := []string{}
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

func TestReconcileCreatesVMsThenSecrets(t *testing.T) {
	f := newFakes(t, nil)
	cl := testCluster()
	nodes, err := f.Reconcile(context.Background(), cl, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"demo-cp-1", "demo-worker-1", "demo-worker-2"}
	if got := nodeNames(nodes); !reflect.DeepEqual(got, want) {
		t.Errorf("nodes = %v, want %v", got, want)
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

	// A second Reconcile finds everything in place and creates nothing.
	before := len(f.recorded("create"))
	if _, err := f.Reconcile(context.Background(), cl, testEnv); err != nil {
		t.Fatal(err)
	}
	if after := f.recorded("create"); len(after) != before {
		t.Errorf("second reconcile created %v", after[before:])
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
func TestReconcileResumesAKilledCreate(t *testing.T) {
	cl := testCluster()
	f := newFakes(t, []runtime.Object{existingVM(t, cl, "cp", 1)})
	nodes, err := f.Reconcile(context.Background(), cl, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeNames(nodes); !reflect.DeepEqual(got, []string{"demo-cp-1", "demo-worker-1", "demo-worker-2"}) {
		t.Errorf("nodes = %v", got)
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
func TestReconcileReattachesStaleSecret(t *testing.T) {
	cl := testCluster()
	cl.Pools = []Pool{{Name: "cp", Count: 1}}
	stale := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "demo-cp-1-cloudinit", Namespace: "vms", Labels: clusterLabels(cl.Name),
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachine", Name: "demo-cp-1", UID: "old-uid"}}}}
	f := newFakes(t, []runtime.Object{existingVM(t, cl, "cp", 1)}, stale)
	if _, err := f.Reconcile(context.Background(), cl, testEnv); err != nil {
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

// A VM that appears between the list and the create (another Create racing) is adopted.
func TestReconcileAdoptsOwnVM(t *testing.T) {
	cl := testCluster()
	f := newFakes(t, nil)
	racing := existingVM(t, cl, "worker", 1)
	f.dyn.PrependReactor("create", "virtualmachines", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured).GetName() == "demo-worker-1" {
			_ = f.dyn.Tracker().Create(gvrVM, racing.DeepCopy(), "vms")
		}
		return false, nil, nil
	})
	nodes, err := f.Reconcile(context.Background(), cl, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 {
		t.Errorf("nodes = %v, want 3 with the adopted one", nodeNames(nodes))
	}
	if _, err := f.core.CoreV1().Secrets("vms").Get(context.Background(), "demo-worker-1-cloudinit", metav1.GetOptions{}); err != nil {
		t.Errorf("adopted VM has no cloud-init secret: %v", err)
	}
}

// A same-named VM of another cluster (or of nobody) is never adopted; the other VMs are still made.
func TestReconcileRefusesForeignVM(t *testing.T) {
	cl := testCluster()
	other := cl
	other.Name = "c-other"
	foreign := existingVM(t, other, "worker", 1)
	f := newFakes(t, []runtime.Object{foreign})
	nodes, err := f.Reconcile(context.Background(), cl, testEnv)
	wantAll(t, err, `vm vms/demo-worker-1 already exists and does not belong to cluster c-abc12 (its harvesterrke.io/cluster label is "c-other")`, "vm-name-prefix")
	if got := nodeNames(nodes); !reflect.DeepEqual(got, []string{"demo-cp-1", "demo-worker-2"}) {
		t.Errorf("nodes = %v, want the two that could be created", got)
	}
	if s, err := f.core.CoreV1().Secrets("vms").Get(context.Background(), "demo-worker-1-cloudinit", metav1.GetOptions{}); err == nil {
		t.Errorf("a secret was made for the foreign VM: %v", s.Name)
	}
	if len(f.recorded("delete")) != 0 {
		t.Errorf("deleted %v", f.recorded("delete"))
	}
}

func TestPlan(t *testing.T) {
	cl := testCluster()
	vm := func(pool string, n int) *unstructured.Unstructured { return existingVM(t, cl, pool, n) }
	terminating := func(u *unstructured.Unstructured) *unstructured.Unstructured {
		now := metav1.NewTime(time.Now())
		u.SetDeletionTimestamp(&now)
		return u
	}
	for _, tc := range []struct {
		name                   string
		pools                  []Pool
		vms                    []*unstructured.Unstructured
		keep, missing, surplus []string
		err                    string
	}{
		{name: "empty", pools: []Pool{{"worker", 2}},
			missing: []string{"demo-worker-1", "demo-worker-2"}},
		{name: "fills the lowest free indexes", pools: []Pool{{"worker", 4}}, vms: []*unstructured.Unstructured{vm("worker", 1), vm("worker", 3)},
			keep: []string{"demo-worker-1", "demo-worker-3"}, missing: []string{"demo-worker-2", "demo-worker-4"}},
		{name: "a terminating VM holds its name but does not count", pools: []Pool{{"worker", 2}}, vms: []*unstructured.Unstructured{vm("worker", 1), terminating(vm("worker", 2))},
			keep: []string{"demo-worker-1"}, missing: []string{"demo-worker-3"}},
		{name: "scale down removes the highest indexes first", pools: []Pool{{"cp", 1}, {"worker", 1}},
			vms:  []*unstructured.Unstructured{vm("cp", 1), vm("worker", 1), vm("worker", 2), vm("worker", 3), vm("worker", 10)},
			keep: []string{"demo-cp-1", "demo-worker-1"}, surplus: []string{"demo-worker-10", "demo-worker-3", "demo-worker-2"}},
		{name: "a pool no longer wanted is surplus", pools: []Pool{{"cp", 1}},
			vms:  []*unstructured.Unstructured{vm("cp", 1), vm("worker", 1), vm("worker", 2)},
			keep: []string{"demo-cp-1"}, surplus: []string{"demo-worker-2", "demo-worker-1"}},
		{name: "a VM named otherwise is an error, not surplus", pools: []Pool{{"cp", 1}},
			vms: []*unstructured.Unstructured{func() *unstructured.Unstructured { u := vm("cp", 1); u.SetName("old-cp-1"); return u }()},
			err: "vm old-cp-1 of cluster c-abc12 is not named demo-cp-<n>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cl
			c.Pools = tc.pools
			var items []unstructured.Unstructured
			for _, u := range tc.vms {
				items = append(items, *u)
			}
			p, err := plan(c, items)
			if tc.err != "" {
				wantAll(t, err, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range []struct {
				what      string
				got, want []string
			}{{"keep", nodeNames(p.Keep), tc.keep}, {"missing", nodeNames(p.Missing), tc.missing}, {"surplus", nodeNames(p.Surplus), tc.surplus}} {
				if x.want == nil {
					x.want = []string{}
				}
				if !reflect.DeepEqual(x.got, x.want) {
					t.Errorf("%s = %v, want %v", x.what, x.got, x.want)
				}
			}
		})
	}
}

func TestReconcileScalesDown(t *testing.T) {
	cl := testCluster()
	objs := []runtime.Object{existingVM(t, cl, "cp", 1)}
	var secrets []runtime.Object
	for n := 1; n <= 4; n++ {
		objs = append(objs, existingVM(t, cl, "worker", n))
		secrets = append(secrets, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: CloudInitSecretName(VMName("demo", "worker", n)), Namespace: "vms",
			Labels: clusterLabels(cl.Name), OwnerReferences: []metav1.OwnerReference{{UID: types.UID("uid-" + VMName("demo", "worker", n))}}}})
	}
	f := newFakes(t, objs, secrets...)
	f.Concurrency = 1 // the order of deletes is only defined one at a time
	p, err := f.Plan(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeNames(p.Surplus); !reflect.DeepEqual(got, []string{"demo-worker-4", "demo-worker-3"}) {
		t.Fatalf("surplus = %v", got)
	}
	nodes, err := f.Reconcile(context.Background(), cl, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeNames(nodes); !reflect.DeepEqual(got, []string{"demo-cp-1", "demo-worker-1", "demo-worker-2"}) {
		t.Errorf("nodes = %v", got)
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

func TestReconcileStopsOnCancel(t *testing.T) {
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
	if _, err := f.Reconcile(ctx, cl, testEnv); err == nil {
		t.Fatal("a cancelled reconcile reported success")
	}
	if _, err := f.Reconcile(context.Background(), cl, testEnv); err != nil {
		t.Fatal(err)
	}
	vms := f.names(t, "virtualmachines", "vms")
	secrets := f.secretNames(t, "vms")
	if len(vms) != 30 || len(secrets) != 30 {
		t.Errorf("after resume: %d VMs, %d secrets; want 30 each", len(vms), len(secrets))
	}
}

func TestLoadOrCreateAnchor(t *testing.T) {
	cl := testCluster()
	f := newFakes(t, nil)
	calls := 0
	gen := func() (map[string][]byte, error) {
		calls++
		return map[string][]byte{"seed": []byte{byte(calls)}}, nil
	}
	first, err := f.LoadOrCreateAnchor(context.Background(), cl, gen)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.LoadOrCreateAnchor(context.Background(), cl, gen)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || !reflect.DeepEqual(first, again) {
		t.Errorf("generate called %d times, data %v then %v; want one generation and the same data", calls, first, again)
	}
	s, err := f.core.CoreV1().Secrets("vms").Get(context.Background(), "demo-ssh", metav1.GetOptions{})
	if err != nil || s.Labels[LabelCluster] != cl.Name {
		t.Fatalf("anchor secret %v, %v; want vms/demo-ssh with the cluster label", s, err)
	}

	other := cl
	other.Name = "c-other"
	_, err = f.LoadOrCreateAnchor(context.Background(), other, gen)
	wantAll(t, err, `anchor secret vms/demo-ssh belongs to cluster "c-abc12", not "c-other"`)
}
