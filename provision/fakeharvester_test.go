package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

// The orchestrator's unit tests run against a Harvester made of client-go's fake clientsets,
// with just enough of Harvester's behaviour: a created VM runs at once with an address, a
// service-account token Secret gets its token, access reviews allow everything, and a revoked
// credential is refused. Node work (SSH, Docker, RKE) is fakeSteps.

var (
	gvrVM  = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}
	gvrVMI = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}
)

// world is the fake Harvester and the order of what happened in it and on the nodes.
type world struct {
	t    *testing.T
	dyn  *dynamicfake.FakeDynamicClient
	core *kubefake.Clientset

	mu      sync.Mutex
	events  []string        // "create vm x", "delete vm x", "up a,b", ...
	revoked map[string]bool // tokens Harvester no longer accepts
	nextIP  int
	uids    int
	// sameAddress gives a VM made again the address its name had (static addresses, a kept lease).
	sameAddress bool
	addresses   map[string]string
	// listVMsFails makes every list of VMs fail (an API server that stopped answering).
	listVMsFails bool
	// createFails makes the create of the named VM fail after it exists (a broken connection).
	createFails string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, revoked: map[string]bool{}, nextIP: 10, addresses: map[string]string{}}
	w.dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), harvester.ListKinds)
	w.core = kubefake.NewSimpleClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vms"}})
	image := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "harvesterhci.io/v1beta1", "kind": "VirtualMachineImage",
		"metadata": map[string]interface{}{"namespace": "vms", "name": "img"},
		"status": map[string]interface{}{"progress": int64(100), "storageClassName": "longhorn-img",
			"conditions": []interface{}{map[string]interface{}{"type": "Imported", "status": "True"}}},
	}}
	if err := w.dyn.Tracker().Create(schema.GroupVersionResource{Group: "harvesterhci.io", Version: "v1beta1", Resource: "virtualmachineimages"}, image, "vms"); err != nil {
		t.Fatal(err)
	}
	w.dyn.PrependReactor("list", "virtualmachines", func(k8stesting.Action) (bool, runtime.Object, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.listVMsFails {
			return true, nil, apierrors.NewServiceUnavailable("the API server is restarting")
		}
		return false, nil, nil
	})
	w.dyn.PrependReactor("create", "virtualmachines", func(a k8stesting.Action) (bool, runtime.Object, error) {
		vm := a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured)
		w.mu.Lock()
		w.uids++
		vm.SetUID(types.UID(fmt.Sprintf("uid-%d", w.uids)))
		w.events = append(w.events, "create vm "+vm.GetName())
		fail := w.createFails == vm.GetName()
		w.mu.Unlock()
		if err := w.dyn.Tracker().Create(gvrVM, vm, vm.GetNamespace()); err != nil {
			return true, nil, err
		}
		w.runVMI(vm)
		if fail {
			return true, nil, apierrors.NewTimeoutError("the connection broke", 1)
		}
		return true, vm, nil
	})
	w.dyn.PrependReactor("delete", "virtualmachines", func(a k8stesting.Action) (bool, runtime.Object, error) {
		w.log("delete vm " + a.(k8stesting.DeleteAction).GetName())
		return false, nil, nil
	})
	w.core.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = true
		return true, r, nil
	})
	w.core.PrependReactor("create", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s := a.(k8stesting.CreateAction).GetObject().(*corev1.Secret)
		if s.Type == corev1.SecretTypeServiceAccountToken {
			w.mu.Lock()
			w.uids++
			s.Data = map[string][]byte{corev1.ServiceAccountTokenKey: []byte(fmt.Sprintf("identity-token-%d", w.uids))}
			w.mu.Unlock()
		}
		return false, nil, nil
	})
	return w
}

// runVMI plays KubeVirt: the VM's VMI runs at once with the next address.
func (w *world) runVMI(vm *unstructured.Unstructured) {
	w.mu.Lock()
	ip, kept := w.addresses[vm.GetName()]
	if !kept || !w.sameAddress {
		w.nextIP++
		ip = fmt.Sprintf("10.0.0.%d", w.nextIP)
		w.addresses[vm.GetName()] = ip
	}
	w.mu.Unlock()
	vmi := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
		"metadata": map[string]interface{}{"namespace": vm.GetNamespace(), "name": vm.GetName(), "labels": toInterfaceMap(vm.GetLabels())},
		"status": map[string]interface{}{"phase": "Running",
			"interfaces": []interface{}{map[string]interface{}{"name": "nic-0", "ipAddress": ip}}},
	}}
	_ = w.dyn.Tracker().Delete(gvrVMI, vm.GetNamespace(), vm.GetName())
	if err := w.dyn.Tracker().Create(gvrVMI, vmi, vm.GetNamespace()); err != nil {
		w.t.Errorf("create VMI: %v", err)
	}
}

func toInterfaceMap(m map[string]string) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (w *world) log(e string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, e)
}

func (w *world) eventLog() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.events...)
}

// client is the Harvester client for credentials: a revoked token gets nothing but 401s.
func (w *world) client(c harvester.Credentials) (*harvester.Client, error) {
	w.mu.Lock()
	revoked := w.revoked[c.Token]
	w.mu.Unlock()
	if revoked {
		dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), harvester.ListKinds)
		core := kubefake.NewSimpleClientset()
		deny := func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewUnauthorized("token revoked")
		}
		dyn.PrependReactor("*", "*", deny)
		core.PrependReactor("*", "*", deny)
		return &harvester.Client{Dynamic: dyn, Core: core, Server: "https://harvester.test:6443", AuthOption: "token"}, nil
	}
	return &harvester.Client{Dynamic: w.dyn, Core: w.core, Server: "https://harvester.test:6443", AuthOption: "token"}, nil
}

// vms lists the cluster's VMs on the fake Harvester.
func (w *world) vms(t *testing.T) []unstructured.Unstructured {
	t.Helper()
	l, err := w.dyn.Tracker().List(gvrVM, schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine"}, "vms")
	if err != nil {
		t.Fatal(err)
	}
	return l.(*unstructured.UnstructuredList).Items
}

// deleteVMByHand deletes a VM and its VMI, as a user in Harvester's UI would.
func (w *world) deleteVMByHand(t *testing.T, name string) {
	t.Helper()
	for _, gvr := range []schema.GroupVersionResource{gvrVM, gvrVMI} {
		if err := w.dyn.Tracker().Delete(gvr, "vms", name); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeSteps plays SSH, Docker and RKE on the nodes.
type fakeSteps struct {
	w *world
	// hostKeys are the keys the nodes present on first use, by name.
	hostKeys map[string]string
	// opened are the node sets sessions were opened for, with what they knew of each node.
	opened [][]Node
	upErr  error
}

func (f *fakeSteps) open(_ Spec, _ clusterKeys, nodes []Node) (nodeSession, error) {
	f.opened = append(f.opened, append([]Node(nil), nodes...))
	return &fakeSession{f: f, nodes: nodes}, nil
}

type fakeSession struct {
	f     *fakeSteps
	nodes []Node
}

func (s *fakeSession) prepare(context.Context) ([]prepared, error) {
	out := make([]prepared, len(s.nodes))
	for i, n := range s.nodes {
		out[i] = prepared{Phase: PhaseDocker, HostKey: s.f.hostKeys[n.Name]}
	}
	s.f.w.log("prepare " + names(s.nodes))
	return out, nil
}

func (s *fakeSession) up(_ context.Context, cfg rke.Config, files rke.Files) (rke.Result, error) {
	var hosts []string
	for _, n := range cfg.Nodes {
		hosts = append(hosts, n.Name)
	}
	s.f.w.log("up " + strings.Join(hosts, ","))
	if s.f.upErr != nil {
		return rke.Result{Files: files}, s.f.upErr
	}
	return rke.Result{Endpoint: "https://" + cfg.Nodes[0].Address + ":6443",
		Files: rke.Files{State: rkeState(s.f.w.t, cfg.Nodes), Kubeconfig: []byte("kubeconfig")}}, nil
}

// rkeState is the part of RKE's state file the driver reads: the nodes of the current state.
func rkeState(t *testing.T, nodes []rke.Node) []byte {
	type node struct {
		Address string   `json:"address"`
		Role    []string `json:"role"`
	}
	var current []node
	for _, n := range nodes {
		current = append(current, node{n.Address, n.Roles})
	}
	state := map[string]any{"currentState": map[string]any{"rkeConfig": map[string]any{"nodes": current}}}
	data, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (s *fakeSession) snapshot(context.Context, snapshotOp, rke.Config, rke.Files, string) (rke.Result, error) {
	return rke.Result{}, nil
}

func (s *fakeSession) close() {}

func names(nodes []Node) string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return strings.Join(out, ",")
}

// testSpec is a cluster of one etcd+controlplane node and workers.
func testSpec(workers int) Spec {
	return Spec{
		Name:   "c-test",
		Access: harvester.Credentials{Server: "https://harvester.test:6443", Token: "user-token"},
		Template: harvester.VMTemplate{Namespace: "vms", Image: harvester.ObjectRef{Namespace: "vms", Name: "img"},
			CPUs: 1, Memory: resource.MustParse("1Gi"), DiskSize: resource.MustParse("10Gi"), DiskBus: "virtio", NamePrefix: "c"},
		Pools: []Pool{
			{Name: "cp", Count: 1, Roles: []string{rke.RoleEtcd, rke.RoleControlPlane}},
			{Name: "w", Count: workers, Roles: []string{rke.RoleWorker}},
		},
		SSH:      SSH{User: "ubuntu"},
		Timeouts: Timeouts{VMReady: timeoutForTests, SSHReady: timeoutForTests},
	}
}

func (w *world) provisioner(steps *fakeSteps) *Provisioner {
	steps.w = w
	return &Provisioner{harvesterClient: w.client, steps: steps}
}
