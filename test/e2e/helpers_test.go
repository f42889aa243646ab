package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// simOptions are driver options for a cluster on the stand-in. The Kubernetes settings need no
// images beyond RKE's core ones (no network plugin, ingress, DNS or metrics).
func simOptions(sim *harvestersim.Sim, name string, pools ...string) *types.DriverOptions {
	o := &types.DriverOptions{
		StringOptions: map[string]string{
			"name":                  name,
			"kubeconfig-content":    string(sim.Kubeconfig),
			"image":                 sim.Images[0],
			"memory":                "1Gi",
			"disk-size":             "10Gi",
			"docker-install-method": "none",
			"network-plugin":        "none",
			"ingress-provider":      "none",
			"dns-provider":          "none",
			"monitoring-provider":   "none",
		},
		IntOptions:         map[string]int64{"cpus": 1, "vm-ready-timeout": 120, "ssh-ready-timeout": 120},
		BoolOptions:        map[string]bool{},
		StringSliceOptions: map[string]*types.StringSlice{},
	}
	if len(pools) > 0 {
		o.StringSliceOptions["node-pools"] = &types.StringSlice{Value: pools}
	}
	return o
}

// testState mirrors the parts of the driver's persisted state the tests look at; decoding it here
// also pins the persisted format (base64 of gzipped JSON).
type testState struct {
	Version int `json:"version"`
	Cluster struct {
		ID          string `json:"id"`
		ClientKey   []byte `json:"clientKey"`
		HostKeySeed []byte `json:"hostKeySeed"`
		Nodes       []struct {
			Name, Pool, Address, HostKey, Phase string
		} `json:"nodes"`
		CloudConfig []byte                             `json:"cloudConfig"`
		RKE         struct{ State, Kubeconfig []byte } `json:"rke"`
	} `json:"cluster"`
}

func stateOf(t testing.TB, info *types.ClusterInfo) testState {
	t.Helper()
	var st testState
	if info == nil || info.Metadata["state"] == "" {
		t.Fatalf("cluster info carries no state: %+v", info)
	}
	packed, err := base64.StdEncoding.DecodeString(info.Metadata["state"])
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// clusterVMs returns the cluster's VMs on the stand-in, typed.
func clusterVMs(t *testing.T, sim *harvestersim.Sim, cluster string) []kubevirtv1.VirtualMachine {
	t.Helper()
	dyn, err := dynamic.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	list, err := dyn.Resource(gvr.VirtualMachines).Namespace("").List(context.Background(),
		metav1.ListOptions{LabelSelector: "harvesterrke.io/cluster=" + cluster})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]kubevirtv1.VirtualMachine, len(list.Items))
	for i := range list.Items {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(list.Items[i].Object, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// waitFor polls a cheap condition on the stand-in's API, for tests that must act at a moment of a
// Create running in another process.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func objectExists(t *testing.T, sim *harvestersim.Sim, res schema.GroupVersionResource, ns, name string) bool {
	dyn, err := dynamic.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dyn.Resource(res).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	return err == nil
}

func noLeftovers(t *testing.T, sim *harvestersim.Sim, cluster string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := sim.WaitNoLeftovers(ctx, "harvesterrke.io/cluster="+cluster); err != nil {
		left, _ := sim.Leftovers(context.Background(), "harvesterrke.io/cluster="+cluster)
		t.Fatalf("leftovers of %s: %v: %v", cluster, err, left)
	}
}
