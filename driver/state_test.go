package driver

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

func TestDecodeStateWithoutState(t *testing.T) {
	for _, info := range []*types.ClusterInfo{nil, {}, {Metadata: map[string]string{"other": "x"}}} {
		if _, err := decodeState(info); err != errNoState {
			t.Errorf("decodeState(%+v) = %v, want errNoState", info, err)
		}
	}
}

// Whatever decodes must survive another round trip unchanged: nothing the driver accepts is lost
// by the next call that writes it back.
func FuzzDecodeState(f *testing.F) {
	info := &types.ClusterInfo{}
	spec, _ := ParseOptions(validOptions())
	if err := encodeState(info, clusterState{Spec: spec}); err != nil {
		f.Fatal(err)
	}
	f.Add(info.Metadata["state"])
	f.Add("")
	f.Add("H4sIAAAAAAAA/w==")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := decodeState(&types.ClusterInfo{Metadata: map[string]string{"state": s}})
		if err != nil {
			return
		}
		again := &types.ClusterInfo{}
		if err := encodeState(again, st); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		st2, err := decodeState(again)
		if err != nil {
			t.Fatalf("decode of re-encoded state: %v", err)
		}
		if !reflect.DeepEqual(st.State, st2.State) || st.Spec.Name != st2.Spec.Name || !reflect.DeepEqual(st.Spec.Pools, st2.Spec.Pools) {
			t.Fatalf("round trip changed the state:\n%+v\n%+v", st, st2)
		}
	})
}

// The ClusterInfo round 1's driver returned for a real 3-node cluster on the stand-in (built with
// `create` on the command line, then removed) still reads as that cluster.
func TestDecodeRound1ClusterInfo(t *testing.T) {
	raw, err := os.ReadFile("testdata/clusterinfo-v1-3nodes.json")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Endpoint  string            `json:"endpoint"`
		NodeCount int64             `json:"nodeCount"`
		Metadata  map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	st, err := decodeState(&types.ClusterInfo{Metadata: info.Metadata})
	if err != nil {
		t.Fatal(err)
	}
	if st.Spec.Name != "golden3" || len(st.Spec.Pools) != 3 || st.Spec.NodeCount() != 3 || info.NodeCount != 3 {
		t.Errorf("spec %s with pools %+v", st.Spec.Name, st.Spec.Pools)
	}
	if st.State.ClusterID != "" || len(st.State.HostKeySeed) == 0 || len(st.State.ClientKey) == 0 {
		t.Errorf("keys or id: id %q, seed %d bytes, client key %d bytes", st.State.ClusterID, len(st.State.HostKeySeed), len(st.State.ClientKey))
	}
	for _, n := range st.State.Nodes {
		if n.Address == "" || n.Phase != provision.PhaseKubernetes || n.UID != "" {
			t.Errorf("node %+v", n)
		}
	}
	out := &types.ClusterInfo{}
	if err := fillInfo(out, st); err != nil {
		t.Fatal(err)
	}
	if out.Endpoint != info.Endpoint || len(st.State.Nodes) != 3 || len(st.State.RKE.State) == 0 {
		t.Errorf("endpoint %s (want %s), %d nodes, RKE state %d bytes", out.Endpoint, info.Endpoint, len(st.State.Nodes), len(st.State.RKE.State))
	}
}
