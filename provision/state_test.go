package provision

import (
	"reflect"
	"testing"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
)

func TestMergeVMsKeepsWhatIsKnown(t *testing.T) {
	st := State{Nodes: []Node{
		{Name: "a-1", Pool: "a", Address: "10.0.0.1", HostKey: "ssh-ed25519 AAA", Phase: PhaseDocker},
		{Name: "a-2", Pool: "a", Address: "10.0.0.2", Phase: PhaseKubernetes}, // gone from Harvester
	}}
	st.mergeVMs([]harvester.Node{{Name: "a-1", Pool: "a"}, {Name: "a-3", Pool: "a", Address: "10.0.0.3"}})
	want := []Node{
		{Name: "a-1", Pool: "a", Address: "10.0.0.1", HostKey: "ssh-ed25519 AAA", Phase: PhaseDocker},
		{Name: "a-3", Pool: "a", Address: "10.0.0.3", Phase: PhaseVM},
	}
	if !reflect.DeepEqual(st.Nodes, want) {
		t.Fatalf("nodes = %+v", st.Nodes)
	}
	st.mergeAddresses([]harvester.Node{{Name: "a-1", Address: "10.0.0.9"}, {Name: "a-3", Address: "10.0.0.3"}})
	if st.Nodes[0].Address != "10.0.0.9" || st.Nodes[0].Phase != PhaseDocker || st.Nodes[1].Phase != PhaseAddress {
		t.Fatalf("after addresses: %+v", st.Nodes)
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
