package e2e

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

func vmNames(t *testing.T, sim *harvestersim.Sim, cluster string) []string {
	t.Helper()
	var names []string
	for _, vm := range clusterVMs(t, sim, cluster) {
		if vm.DeletionTimestamp == nil {
			names = append(names, vm.Name)
		}
	}
	sort.Strings(names)
	return names
}

// Update reconciles the pools: it scales up, scales down newest first, re-creates a VM deleted by
// hand and refuses changes that cannot be made after creation.
func TestUpdateReconcilesPools(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const name = "c-upd"
	opts := simOptions(sim, name, "m=1:etcd+controlplane", "w=2:worker")
	info, err := p.Client.Create(ctx, opts, nil)
	expectKubernetesStep(t, info, err)
	info.CreateError = ""

	update := func(pools ...string) {
		t.Helper()
		opts.StringSliceOptions["node-pools"].Value = pools
		delete(opts.StringOptions, "kubeconfig-content") // Rancher strips password fields on update
		// kontainer-engine returns no info with an Update error: Rancher keeps the info it had.
		out, err := p.Client.Update(ctx, info, opts)
		if !stoppedAtImagePull(err) {
			t.Fatalf("update did not reach the Kubernetes step: %v", err)
		}
		if out != nil {
			info = out
		}
	}
	want := func(names ...string) {
		t.Helper()
		if got := vmNames(t, sim, name); strings.Join(got, ",") != strings.Join(names, ",") {
			t.Fatalf("VMs %v, want %v", got, names)
		}
	}

	update("m=1:etcd+controlplane", "w=4:worker")
	want("c-upd-m-1", "c-upd-w-1", "c-upd-w-2", "c-upd-w-3", "c-upd-w-4")

	update("m=1:etcd+controlplane", "w=1:worker")
	want("c-upd-m-1", "c-upd-w-1")

	dyn, err := dynamic.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := dyn.Resource(gvr.VirtualMachines).Namespace("default").Delete(ctx, "c-upd-w-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A VM being deleted still holds its name; once gone, Update re-creates it under the same name.
	waitFor(t, time.Minute, "the VM deleted by hand to go", func() bool { return len(clusterVMs(t, sim, name)) == 1 })
	update("m=1:etcd+controlplane", "w=1:worker")
	want("c-upd-m-1", "c-upd-w-1")

	opts.StringOptions["cluster-cidr"] = "10.100.0.0/16"
	if _, err := p.Client.Update(ctx, info, opts); err == nil || !strings.Contains(err.Error(), "cluster-cidr: cannot change after creation") {
		t.Fatalf("immutable change: %v", err)
	}

	if err := p.Client.Remove(ctx, info); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, sim, name)
}
