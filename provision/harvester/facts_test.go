package harvester

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// RecordFacts sends one merge patch with the VM's uid (the API server's precondition; see
// TestIntegrationRecordFacts for the refusal) and only the facts that are set.
func TestRecordFacts(t *testing.T) {
	vm := VM{Name: "demo-cp-1", Pool: "cp", Index: 1, UID: "uid-demo-cp-1"}
	for _, tc := range []struct {
		name      string
		before    map[string]string // annotations on the VM before
		facts     Facts
		wantPatch string // "": no request at all
		wantFacts Facts  // as List reads them afterwards
	}{
		{name: "all facts", facts: Facts{HostKey: "ssh-ed25519 AAAAhost", Phase: "kubernetes", Roles: []string{"controlplane", "etcd"}},
			wantPatch: `{"metadata":{"annotations":{"harvesterrke.io/host-key":"ssh-ed25519 AAAAhost","harvesterrke.io/phase":"kubernetes","harvesterrke.io/roles":"controlplane,etcd"},"uid":"uid-demo-cp-1"}}`,
			wantFacts: Facts{HostKey: "ssh-ed25519 AAAAhost", Phase: "kubernetes", Roles: []string{"controlplane", "etcd"}}},
		{name: "a later phase keeps the host key", before: map[string]string{annotationHostKey: "ssh-ed25519 AAAAhost", annotationPhase: "ssh"},
			facts:     Facts{Phase: "docker"},
			wantPatch: `{"metadata":{"annotations":{"harvesterrke.io/phase":"docker"},"uid":"uid-demo-cp-1"}}`,
			wantFacts: Facts{HostKey: "ssh-ed25519 AAAAhost", Phase: "docker"}},
		{name: "nothing to record: no request", before: map[string]string{annotationPhase: "ssh"},
			wantFacts: Facts{Phase: "ssh"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := existingVM(t, testCluster(), "cp", 1)
			a := u.GetAnnotations()
			for k, v := range tc.before {
				a[k] = v
			}
			u.SetAnnotations(a)
			f := newFakes(t, []runtime.Object{u})
			var mu sync.Mutex
			var sent []string
			f.dyn.PrependReactor("patch", "virtualmachines", func(a k8stesting.Action) (bool, runtime.Object, error) {
				mu.Lock()
				defer mu.Unlock()
				sent = append(sent, string(a.(k8stesting.PatchAction).GetPatch()))
				return false, nil, nil
			})
			if err := f.RecordFacts(context.Background(), "vms", vm, tc.facts); err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.wantPatch == "" && len(sent) > 0:
				t.Errorf("sent %v, want no request", sent)
			case tc.wantPatch != "" && !reflect.DeepEqual(sent, []string{tc.wantPatch}):
				t.Errorf("sent %v, want one patch %s", sent, tc.wantPatch)
			}
			vms, err := f.List(context.Background(), "vms", testOwner)
			if err != nil || len(vms) != 1 {
				t.Fatalf("List = %+v, %v", vms, err)
			}
			if !reflect.DeepEqual(vms[0].Facts, tc.wantFacts) {
				t.Errorf("facts read back %+v, want %+v", vms[0].Facts, tc.wantFacts)
			}
		})
	}
}

func TestRecordFactsVMGone(t *testing.T) {
	f := newFakes(t, nil)
	err := f.RecordFacts(context.Background(), "vms", VM{Name: "demo-cp-1", UID: "uid-demo-cp-1"}, Facts{Phase: "ssh"})
	wantAll(t, err, "record facts on vm vms/demo-cp-1")
}

// List reads each VM's uid, pool, index, state and the facts recorded on it, and nothing of VMs
// that are not the cluster's.
func TestListReadsFactsAndUID(t *testing.T) {
	cl := testCluster()
	twin := cl
	twin.Owner, twin.Template.NamePrefix = twinOwner, "twin"
	withFacts := existingVM(t, cl, "cp", 1)
	a := withFacts.GetAnnotations()
	a[annotationHostKey], a[annotationPhase], a[annotationRoles] = "ssh-ed25519 AAAAhost", "kubernetes", "controlplane,etcd,worker"
	withFacts.SetAnnotations(a)
	going := existingVM(t, cl, "worker", 2)
	now := metav1.NewTime(time.Now())
	going.SetDeletionTimestamp(&now)
	going.SetFinalizers([]string{"kubevirt.io/virtualMachineControllerFinalize"})
	notes := existingVM(t, cl, "worker", 1)
	notes.SetAnnotations(map[string]string{annotationRoles: ""}) // an empty roles annotation: no roles
	f := newFakes(t, []runtime.Object{withFacts, going, notes, existingVM(t, twin, "cp", 1),
		vmiObject(t, cl.Owner, "demo-worker-1", kubevirtv1.Running, "10.0.0.5"),
		vmiObject(t, twin.Owner, "twin-cp-1", kubevirtv1.Running, "10.0.0.6"),
	})
	vms, err := f.List(context.Background(), "vms", cl.Owner)
	if err != nil {
		t.Fatal(err)
	}
	want := []VM{
		{Name: "demo-cp-1", Pool: "cp", Index: 1, UID: "uid-demo-cp-1",
			Facts: Facts{HostKey: "ssh-ed25519 AAAAhost", Phase: "kubernetes", Roles: []string{"controlplane", "etcd", "worker"}}},
		{Name: "demo-worker-1", Pool: "worker", Index: 1, UID: "uid-demo-worker-1", Address: "10.0.0.5"},
		{Name: "demo-worker-2", Pool: "worker", Index: 2, UID: "uid-demo-worker-2", Terminating: true},
	}
	if !reflect.DeepEqual(vms, want) {
		got, _ := json.MarshalIndent(vms, "", " ")
		t.Errorf("List =\n%s\nwant %+v", got, want)
	}
}

// A failed look is an error, never an empty cluster.
func TestListFails(t *testing.T) {
	for _, res := range []string{"virtualmachines", "virtualmachineinstances"} {
		f := newFakes(t, []runtime.Object{existingVM(t, testCluster(), "cp", 1)})
		f.dyn.PrependReactor("list", res, func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("the API server is unavailable (test)")
		})
		vms, err := f.List(context.Background(), "vms", testOwner)
		if err == nil || vms != nil {
			t.Errorf("List with failing %s = %+v, %v; want an error and nothing", res, vms, err)
		}
	}
	f := newFakes(t, nil)
	if _, err := f.List(context.Background(), "vms", Owner{Name: "c-abc12"}); err == nil {
		t.Error("List without an id succeeded")
	}
}

// Without a uid the patch has no precondition (an empty uid in a merge patch is ignored by the API
// server): facts could land on another VM of the same name.
func TestRecordFactsNeedsUID(t *testing.T) {
	f := newFakes(t, []runtime.Object{existingVM(t, testCluster(), "cp", 1)})
	err := f.RecordFacts(context.Background(), "vms", VM{Name: "demo-cp-1"}, Facts{Phase: "ssh"})
	wantAll(t, err, "demo-cp-1")
	if got := f.recorded("patch"); len(got) != 0 {
		t.Errorf("sent %v", got)
	}
}
