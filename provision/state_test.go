package provision

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
)

func TestObserve(t *testing.T) {
	for _, tc := range []struct {
		name  string
		known []Node
		vms   []harvester.VM
		want  []Node
	}{
		{
			name: "records follow their VMs; gone VMs are dropped; new VMs start at the VM phase",
			known: []Node{
				{Name: "a-1", Pool: "a", UID: "u1", Address: "10.0.0.1", HostKey: "ssh-ed25519 AAA", Phase: PhaseDocker},
				{Name: "a-2", Pool: "a", UID: "u2", Address: "10.0.0.2", Phase: PhaseKubernetes},
			},
			vms: []harvester.VM{{Name: "a-1", Pool: "a", UID: "u1"}, {Name: "a-3", Pool: "a", UID: "u3", Address: "10.0.0.3"}},
			want: []Node{
				{Name: "a-1", Pool: "a", UID: "u1", Address: "10.0.0.1", HostKey: "ssh-ed25519 AAA", Phase: PhaseDocker},
				{Name: "a-3", Pool: "a", UID: "u3", Address: "10.0.0.3", Phase: PhaseVM},
			},
		},
		{
			// A VM made again under the same name is another machine: another host key, nothing installed.
			name:  "a re-created VM starts afresh",
			known: []Node{{Name: "a-1", Pool: "a", UID: "old", Address: "10.0.0.1", HostKey: "ssh-ed25519 OLD", Phase: PhaseKubernetes}},
			vms:   []harvester.VM{{Name: "a-1", Pool: "a", UID: "new"}},
			want:  []Node{{Name: "a-1", Pool: "a", UID: "new", Phase: PhaseVM}},
		},
		{
			// The records come from a ClusterInfo older than the VM (Rancher dropped a failed Update's).
			name:  "facts recorded on a VM fill in what the records lack",
			known: nil,
			vms: []harvester.VM{{Name: "a-1", Pool: "a", UID: "u1", Address: "10.0.0.1",
				Facts: harvester.Facts{HostKey: "ssh-ed25519 REC", Phase: string(PhaseKubernetes)}}},
			want: []Node{{Name: "a-1", Pool: "a", UID: "u1", Address: "10.0.0.1", HostKey: "ssh-ed25519 REC", Phase: PhaseKubernetes}},
		},
		{
			name:  "a record without a uid (version 1 state) takes its VM's",
			known: []Node{{Name: "a-1", Pool: "a", HostKey: "ssh-ed25519 AAA", Phase: PhaseDocker}},
			vms:   []harvester.VM{{Name: "a-1", Pool: "a", UID: "u1"}},
			want:  []Node{{Name: "a-1", Pool: "a", UID: "u1", HostKey: "ssh-ed25519 AAA", Phase: PhaseDocker}},
		},
		{
			name:  "terminating VMs are not nodes",
			known: []Node{{Name: "a-1", Pool: "a", UID: "u1", Phase: PhaseKubernetes}},
			vms:   []harvester.VM{{Name: "a-1", Pool: "a", UID: "u1", Terminating: true}},
			want:  []Node{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := State{Nodes: tc.known}
			st.observe(tc.vms)
			if !reflect.DeepEqual(st.Nodes, tc.want) {
				t.Fatalf("nodes = %+v\nwant    %+v", st.Nodes, tc.want)
			}
		})
	}
}

func TestAddCreatedAndAddresses(t *testing.T) {
	st := State{Nodes: []Node{{Name: "a-1", Pool: "a", UID: "u1", Phase: PhaseDocker}}}
	st.addCreated([]harvester.VM{{Name: "a-2", Pool: "a", UID: "u2"}})
	st.mergeAddresses([]harvester.VM{{Name: "a-1", Address: "10.0.0.9"}, {Name: "a-2", Address: "10.0.0.2"}})
	want := []Node{
		{Name: "a-1", Pool: "a", UID: "u1", Address: "10.0.0.9", Phase: PhaseDocker},
		{Name: "a-2", Pool: "a", UID: "u2", Address: "10.0.0.2", Phase: PhaseAddress},
	}
	if !reflect.DeepEqual(st.Nodes, want) {
		t.Fatalf("nodes = %+v", st.Nodes)
	}
}

func TestPhases(t *testing.T) {
	st := State{Nodes: []Node{{Name: "a", Phase: PhaseSSH}, {Name: "b", Phase: PhaseKubernetes}, {Name: "c"}}}
	st.setPhase([]string{"a", "b", "c"}, PhaseDocker)
	got := []Phase{st.Nodes[0].Phase, st.Nodes[1].Phase, st.Nodes[2].Phase}
	if !reflect.DeepEqual(got, []Phase{PhaseDocker, PhaseKubernetes, PhaseDocker}) {
		t.Fatalf("phases = %v: a phase must never go back", got)
	}
	for _, tc := range []struct {
		names []string
		want  bool
	}{{[]string{"a"}, false}, {[]string{"a", "b"}, true}, {[]string{"x"}, false}} {
		if got := st.anyReached(tc.names, PhaseKubernetes); got != tc.want {
			t.Errorf("anyReached(%v) = %v", tc.names, got)
		}
	}
	if left := st.without([]string{"b"}); len(left) != 2 || left[0].Name != "a" || left[1].Name != "c" {
		t.Errorf("without = %+v", left)
	}
	if (State{}).CreatedAnything() || !(State{HostKeySeed: []byte{1}}).CreatedAnything() {
		t.Error("CreatedAnything")
	}
}

// A resumed create lists the VMs in another order (the Harvester listing sorts pools by name) than
// the first call created them in; the records must come out in the same order both times.
func TestSortNodes(t *testing.T) {
	pools := []string{"etcd", "control-plane", "worker"}
	want := []string{"c-etcd-1", "c-etcd-2", "c-etcd-10", "c-control-plane-1", "c-worker-1"}
	for _, tc := range []struct {
		name  string
		nodes []string
	}{
		{"listed by pool name", []string{"c-control-plane-1", "c-etcd-1", "c-etcd-10", "c-etcd-2", "c-worker-1"}},
		{"created in plan order after the kept ones", []string{"c-etcd-1", "c-etcd-10", "c-worker-1", "c-etcd-2", "c-control-plane-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st State
			for _, n := range tc.nodes {
				st.Nodes = append(st.Nodes, Node{Name: n, Pool: n[2:strings.LastIndex(n, "-")]})
			}
			st.sortNodes(pools)
			var got []string
			for _, n := range st.Nodes {
				got = append(got, n.Name)
			}
			if !slices.Equal(got, want) {
				t.Errorf("order = %v, want %v", got, want)
			}
		})
	}
}
