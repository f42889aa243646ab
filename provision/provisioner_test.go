package provision

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

const timeoutForTests = 30 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// create builds the test cluster with workers on w and returns its state.
func create(t *testing.T, w *world, steps *fakeSteps, workers int) State {
	t.Helper()
	var st State
	if err := w.provisioner(steps).Create(testContext(t), testSpec(workers), &st, nil); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCreateFromNothing(t *testing.T) {
	w := newWorld(t)
	steps := &fakeSteps{}
	var saves int
	var st State
	err := w.provisioner(steps).Create(testContext(t), testSpec(2), &st, func(State) { saves++ })
	if err != nil {
		t.Fatal(err)
	}
	if st.ClusterID == "" || len(st.HostKeySeed) == 0 || len(st.ClientKey) == 0 {
		t.Errorf("no id or keys: %+v", st)
	}
	if st.Identity.Token == "" || st.Identity.Token == "user-token" {
		t.Errorf("the cluster got no identity of its own: token %q", st.Identity.Token)
	}
	if len(st.Nodes) != 3 {
		t.Fatalf("nodes %+v", st.Nodes)
	}
	for _, n := range st.Nodes {
		if n.UID == "" || n.Address == "" || n.Phase != PhaseKubernetes {
			t.Errorf("node %+v", n)
		}
	}
	if got := w.eventLog(); !reflect.DeepEqual(got, []string{
		"create vm c-cp-1", "create vm c-w-1", "create vm c-w-2", "prepare c-cp-1,c-w-1,c-w-2", "up c-cp-1,c-w-1,c-w-2",
	}) && !sameSet(got[:3], []string{"create vm c-cp-1", "create vm c-w-1", "create vm c-w-2"}) {
		t.Errorf("events %v", got)
	}
	for _, vm := range w.vms(t) {
		a, l := vm.GetAnnotations(), vm.GetLabels()
		if a["harvesterrke.io/phase"] != "kubernetes" || l["harvesterrke.io/cluster-id"] != st.ClusterID {
			t.Errorf("vm %s: phase annotation %q, id label %q", vm.GetName(), a["harvesterrke.io/phase"], l["harvesterrke.io/cluster-id"])
		}
	}
	if saves < 5 {
		t.Errorf("state saved %d times; every step must save it", saves)
	}
}

// A scale-down takes the surplus nodes out of Kubernetes (RKE up over the nodes kept) before their
// VMs are deleted, highest index first.
func TestScaleDownDrainsBeforeDeleting(t *testing.T) {
	w := newWorld(t)
	steps := &fakeSteps{}
	st := create(t, w, steps, 3)
	w.events = nil
	if err := w.provisioner(steps).Update(testContext(t), testSpec(1), &st, nil); err != nil {
		t.Fatal(err)
	}
	got := w.eventLog()
	up := slices.Index(got, "up c-cp-1,c-w-1")
	del2, del3 := slices.Index(got, "delete vm c-w-2"), slices.Index(got, "delete vm c-w-3")
	if up < 0 || del2 < 0 || del3 < 0 || up > del2 || up > del3 {
		t.Fatalf("the surplus was not drained before its VMs went: %v", got)
	}
	if len(st.Nodes) != 2 || len(w.vms(t)) != 2 {
		t.Errorf("%d nodes in the state, %d VMs, want 2 and 2", len(st.Nodes), len(w.vms(t)))
	}
}

// Create resumes from wherever an earlier attempt stopped: nothing is made twice, and every node
// ends in Kubernetes.
func TestCreateResumesFromEachPhase(t *testing.T) {
	for _, phase := range []Phase{PhaseVM, PhaseAddress, PhaseSSH, PhaseDocker} {
		t.Run(string(phase), func(t *testing.T) {
			w := newWorld(t)
			steps := &fakeSteps{}
			st := create(t, w, steps, 1)
			for i := range st.Nodes {
				st.Nodes[i].Phase = phase
			}
			st.RKE.State = nil
			w.events = nil
			if err := w.provisioner(steps).Create(testContext(t), testSpec(1), &st, nil); err != nil {
				t.Fatal(err)
			}
			for _, e := range w.eventLog() {
				if strings.HasPrefix(e, "create vm") || strings.HasPrefix(e, "delete vm") {
					t.Errorf("resumed create made or deleted a VM: %v", w.eventLog())
				}
			}
			for _, n := range st.Nodes {
				if n.Phase != PhaseKubernetes {
					t.Errorf("node %s ended at %s", n.Name, n.Phase)
				}
			}
		})
	}
}

// A look at Harvester that fails must not make the state forget its nodes: their host keys and
// phases decide whether a later scale-down drains them through RKE.
func TestFailedListKeepsEveryNode(t *testing.T) {
	w := newWorld(t)
	steps := &fakeSteps{}
	st := create(t, w, steps, 2)
	before := append([]Node(nil), st.Nodes...)
	w.listVMsFails = true
	err := w.provisioner(steps).Update(testContext(t), testSpec(1), &st, nil)
	if err == nil {
		t.Fatal("update succeeded while Harvester could not list the VMs")
	}
	if !reflect.DeepEqual(st.Nodes, before) {
		t.Fatalf("the failed update changed the nodes:\n%+v\nwas\n%+v", st.Nodes, before)
	}
	w.listVMsFails = false
	w.events = nil
	if err := w.provisioner(steps).Update(testContext(t), testSpec(1), &st, nil); err != nil {
		t.Fatal(err)
	}
	if got := w.eventLog(); slices.Index(got, "up c-cp-1,c-w-1") < 0 || slices.Index(got, "up c-cp-1,c-w-1") > slices.Index(got, "delete vm c-w-2") {
		t.Errorf("the next scale-down did not drain first: %v", got)
	}
}

// A VM deleted by hand is made again; the new machine's node starts afresh: the old machine's
// host key is never trusted for it, also when the state that knows the old one comes back (a
// ClusterInfo Rancher kept from before).
func TestRecreatedVMStartsAfresh(t *testing.T) {
	w := newWorld(t)
	steps := &fakeSteps{hostKeys: map[string]string{"c-cp-1": "ssh-ed25519 CP", "c-w-1": "ssh-ed25519 OLD"}}
	spec := testSpec(1)
	spec.SSH.TrustOnFirstUse = true
	var st State
	if err := w.provisioner(steps).Create(testContext(t), spec, &st, nil); err != nil {
		t.Fatal(err)
	}
	stale := st
	stale.Nodes = append([]Node(nil), st.Nodes...)

	w.deleteVMByHand(t, "c-w-1")
	steps.hostKeys["c-w-1"] = "ssh-ed25519 NEW"
	steps.opened = nil
	if err := w.provisioner(steps).Update(testContext(t), spec, &st, nil); err != nil {
		t.Fatal(err)
	}
	if n := nodeNamed(steps.opened[0], "c-w-1"); n.HostKey != "" {
		t.Errorf("the re-created VM's node was opened trusting %q", n.HostKey)
	}
	if n := nodeNamed(st.Nodes, "c-w-1"); n.HostKey != "ssh-ed25519 NEW" || n.Phase != PhaseKubernetes {
		t.Errorf("re-created node %+v", n)
	}

	// The ClusterInfo of that Update is lost; the next call starts from the one before it.
	steps.opened = nil
	if err := w.provisioner(steps).Update(testContext(t), spec, &stale, nil); err != nil {
		t.Fatal(err)
	}
	if n := nodeNamed(steps.opened[0], "c-w-1"); n.HostKey != "ssh-ed25519 NEW" {
		t.Errorf("with the old state, c-w-1 was opened trusting %q, want the key recorded on its new VM", n.HostKey)
	}
}

func nodeNamed(nodes []Node, name string) Node {
	for _, n := range nodes {
		if n.Name == name {
			return n
		}
	}
	return Node{}
}

// Rancher drops the ClusterInfo of a failed Update: the next Update starts from the state before
// it. A VM the failed Update made is found with what was recorded on it, and is not made twice.
func TestUpdateAfterALostClusterInfo(t *testing.T) {
	w := newWorld(t)
	steps := &fakeSteps{hostKeys: map[string]string{"c-cp-1": "ssh-ed25519 CP", "c-w-1": "ssh-ed25519 W1", "c-w-2": "ssh-ed25519 W2"}}
	spec := testSpec(1)
	spec.SSH.TrustOnFirstUse = true
	var st State
	if err := w.provisioner(steps).Create(testContext(t), spec, &st, nil); err != nil {
		t.Fatal(err)
	}
	old := st
	old.Nodes = append([]Node(nil), st.Nodes...)

	// The Update to 2 workers fails after its VM is up and trusted: its ClusterInfo is lost.
	spec2 := testSpec(2)
	spec2.SSH.TrustOnFirstUse = true
	steps.upErr = errors.New("rke up: etcd unhealthy")
	if err := w.provisioner(steps).Update(testContext(t), spec2, &st, nil); err == nil {
		t.Fatal("update succeeded")
	}
	// The node now presents another key (a man in the middle): it must not be trusted anew.
	steps.hostKeys["c-w-2"] = "ssh-ed25519 IMPOSTOR"
	steps.upErr = nil
	steps.opened = nil
	st = old
	if err := w.provisioner(steps).Update(testContext(t), spec2, &st, nil); err != nil {
		t.Fatal(err)
	}
	creates := 0
	for _, e := range w.eventLog() {
		if e == "create vm c-w-2" {
			creates++
		}
	}
	if creates != 1 || len(w.vms(t)) != 3 {
		t.Errorf("c-w-2 created %d times, %d VMs", creates, len(w.vms(t)))
	}
	for _, n := range steps.opened[0] {
		if n.Name == "c-w-2" && n.HostKey != "ssh-ed25519 W2" {
			t.Errorf("c-w-2 opened with host key %q, want the one recorded on its VM", n.HostKey)
		}
	}
}

// Remove deletes everything on Harvester and never reaches the nodes.
func TestRemoveTouchesNoNode(t *testing.T) {
	w := newWorld(t)
	steps := &fakeSteps{}
	st := create(t, w, steps, 2)
	steps.opened = nil
	if err := w.provisioner(steps).Remove(testContext(t), testSpec(2), st); err != nil {
		t.Fatal(err)
	}
	if len(steps.opened) != 0 {
		t.Errorf("Remove opened sessions to nodes: %v", steps.opened)
	}
	if vms := w.vms(t); len(vms) != 0 {
		t.Errorf("%d VMs left", len(vms))
	}
	sas, _ := w.core.CoreV1().ServiceAccounts("vms").List(testContext(t), listAll)
	if len(sas.Items) != 0 {
		t.Errorf("the cluster's identity is left: %v", sas.Items)
	}
}

// With the user's token revoked after Create, Update and Remove work with the cluster's identity.
func TestRevokedUserTokenStrandsNothing(t *testing.T) {
	w := newWorld(t)
	steps := &fakeSteps{}
	st := create(t, w, steps, 1)
	w.revoked["user-token"] = true
	if err := w.provisioner(steps).Update(testContext(t), testSpec(2), &st, nil); err != nil {
		t.Fatalf("update with the user's token revoked: %v", err)
	}
	if len(w.vms(t)) != 3 {
		t.Errorf("%d VMs after scaling to 2 workers", len(w.vms(t)))
	}
	if err := w.provisioner(steps).Remove(testContext(t), testSpec(2), st); err != nil {
		t.Fatalf("remove with the user's token revoked: %v", err)
	}
	if len(w.vms(t)) != 0 {
		t.Error("VMs left")
	}
	// And the other way round: the identity's token deleted on Harvester, the user's credential
	// makes it again.
	w2 := newWorld(t)
	st2 := create(t, w2, steps, 1)
	revoked := st2.Identity.Token
	w2.revoked[revoked] = true
	if err := w2.core.CoreV1().Secrets("vms").Delete(testContext(t), harvester.IdentityName("c")+"-token", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w2.provisioner(steps).Update(testContext(t), testSpec(1), &st2, nil); err != nil {
		t.Fatalf("update with the identity revoked: %v", err)
	}
	if st2.Identity.Token == "" || st2.Identity.Token == revoked {
		t.Errorf("the identity's token was not made again: %q", st2.Identity.Token)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

var listAll = metav1.ListOptions{}

// An etcd VM deleted by hand and made again at its old address is left out of one RKE run, which
// removes the lost member, before it joins as a new one; at a new address RKE does both in one run.
// With the only member lost there is nothing to remove it from.
func TestLostEtcdMemberLeavesBeforeItsMachineJoins(t *testing.T) {
	haSpec := testSpec(1)
	haSpec.Pools = []Pool{
		{Name: "etcd", Count: 3, Roles: []string{rke.RoleEtcd}},
		{Name: "cp", Count: 1, Roles: []string{rke.RoleControlPlane}},
		{Name: "w", Count: 1, Roles: []string{rke.RoleWorker}},
	}
	tests := []struct {
		name        string
		spec        Spec
		lost        string
		sameAddress bool
		want        []string
	}{
		{"same address", haSpec, "c-etcd-2", true,
			[]string{"up c-etcd-1,c-etcd-3,c-cp-1,c-w-1", "up c-etcd-1,c-etcd-2,c-etcd-3,c-cp-1,c-w-1"}},
		{"new address", haSpec, "c-etcd-2", false, []string{"up c-etcd-1,c-etcd-2,c-etcd-3,c-cp-1,c-w-1"}},
		{"the only member", testSpec(1), "c-cp-1", true, []string{"up c-cp-1,c-w-1"}},
		{"a worker", haSpec, "c-w-1", true, []string{"up c-etcd-1,c-etcd-2,c-etcd-3,c-cp-1,c-w-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.sameAddress = tt.sameAddress
			steps := &fakeSteps{}
			var st State
			if err := w.provisioner(steps).Create(testContext(t), tt.spec, &st, nil); err != nil {
				t.Fatal(err)
			}
			before := nodeNamed(st.Nodes, tt.lost).Address
			w.deleteVMByHand(t, tt.lost)
			w.events = nil
			if err := w.provisioner(steps).Update(testContext(t), tt.spec, &st, nil); err != nil {
				t.Fatal(err)
			}
			if after := nodeNamed(st.Nodes, tt.lost).Address; (after == before) != tt.sameAddress {
				t.Fatalf("address %s before, %s after", before, after)
			}
			var ups []string
			for _, e := range w.eventLog() {
				if strings.HasPrefix(e, "up ") {
					ups = append(ups, e)
				}
			}
			if !slices.Equal(ups, tt.want) {
				t.Errorf("RKE runs %q, want %q", ups, tt.want)
			}
			for _, n := range st.Nodes {
				if n.Phase != PhaseKubernetes {
					t.Errorf("node %s ended at %s", n.Name, n.Phase)
				}
			}
		})
	}
}
