package driver

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

func TestStateRoundTrip(t *testing.T) {
	spec, err := ParseOptions(validOptions())
	if err != nil {
		t.Fatal(err)
	}
	in := clusterState{Spec: spec, Cluster: provision.State{
		ClientKey: []byte("k"), HostKeySeed: []byte("seed"),
		Nodes: []provision.Node{{Name: "n1", Pool: "etcd", Address: "10.0.0.1", Phase: provision.PhaseDocker}},
	}}
	in.Cluster.RKE.State = []byte(`{"currentState":{}}`)
	info := &types.ClusterInfo{}
	if err := encodeState(info, in); err != nil {
		t.Fatal(err)
	}
	out, err := decodeState(info)
	if err != nil {
		t.Fatal(err)
	}
	in.Version = stateVersion
	// Quantities compare by value, not by their cached string form.
	if out.Spec.Template.Memory.Cmp(in.Spec.Template.Memory) != 0 {
		t.Fatalf("memory %v != %v", out.Spec.Template.Memory, in.Spec.Template.Memory)
	}
	out.Spec.Template.Memory, in.Spec.Template.Memory = in.Spec.Template.Memory, out.Spec.Template.Memory
	out.Spec.Template.DiskSize, in.Spec.Template.DiskSize = in.Spec.Template.DiskSize, out.Spec.Template.DiskSize
	if !reflect.DeepEqual(in.Cluster, out.Cluster) || out.Spec.Name != in.Spec.Name || !reflect.DeepEqual(in.Spec.Pools, out.Spec.Pools) {
		t.Errorf("round trip changed the state:\n%+v\n%+v", in, out)
	}
}

func TestDecodeStateErrors(t *testing.T) {
	pack := func(json string) *types.ClusterInfo {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(json))
		zw.Close()
		return &types.ClusterInfo{Metadata: map[string]string{"state": base64.StdEncoding.EncodeToString(buf.Bytes())}}
	}
	for _, tc := range []struct {
		name string
		info *types.ClusterInfo
		want string
	}{
		{"nil info", nil, "holds no driver state"},
		{"no metadata", &types.ClusterInfo{}, "holds no driver state"},
		{"not base64", &types.ClusterInfo{Metadata: map[string]string{"state": "%%"}}, "not base64"},
		{"not gzip", &types.ClusterInfo{Metadata: map[string]string{"state": "aGVsbG8="}}, "not gzip"},
		{"not json", pack("hello"), "decode state"},
		{"future version", pack(`{"version": 99}`), "newer driver (state version 99"},
		{"no version", pack(`{}`), "missing or invalid version"},
		{"wrong type", pack(`{"version": 1, "spec": {"Pools": "three"}}`), "decode state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeState(tc.info)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

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
		if err == nil && st.Version != stateVersion {
			t.Fatalf("accepted version %d", st.Version)
		}
	})
}

func FuzzParseOptions(f *testing.F) {
	f.Add("c-abc12", "default/img", "4Gi", "40Gi", "virtio", "10.42.0.0/16", "a=1:etcd+controlplane+worker", int64(2), testKubeconfig)
	f.Add("", "", "", "", "", "", "", int64(0), "")
	f.Add("x", "ns/", "1e3", "-1", "sata", "::/0", "=:", int64(-1), "YWJj")
	f.Fuzz(func(t *testing.T, name, image, memory, disk, bus, cidr, pool string, cpus int64, kubeconfig string) {
		opts := &types.DriverOptions{
			StringOptions: map[string]string{"name": name, "image": image, "memory": memory, "disk-size": disk,
				"disk-bus": bus, "cluster-cidr": cidr, "kubeconfig-content": kubeconfig},
			IntOptions:         map[string]int64{"cpus": cpus},
			StringSliceOptions: map[string]*types.StringSlice{"node-pools": {Value: []string{pool}}},
		}
		spec, err := ParseOptions(opts)
		if err == nil && (spec.Name == "" || spec.Template.CPUs < 1 || len(spec.Pools) == 0) {
			t.Fatalf("accepted invalid spec %+v", spec)
		}
	})
}
