package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// vmNamesByID lists the VMs of the cluster with this id.
func vmNamesByID(t *testing.T, sim *harvestersim.Sim, cluster, id string) []string {
	t.Helper()
	var names []string
	for _, vm := range clusterVMs(t, sim, cluster) {
		if vm.DeletionTimestamp == nil && vm.Labels["harvesterrke.io/cluster-id"] == id {
			names = append(names, vm.Name)
		}
	}
	return names
}

// Two clusters of the same name in one namespace (two Rancher installations, or a cluster made
// again from the command line) are two clusters: scaling or removing one never touches the other.
func TestSameNamedClustersAreIndependent(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const name = "c-twin"
	create := func(prefix string) (*types.ClusterInfo, *types.DriverOptions, string) {
		opts := simOptions(sim, name, "m=1:etcd+controlplane+worker", "w=1:worker")
		opts.StringOptions["vm-name-prefix"] = prefix
		info, err := p.Client.Create(ctx, opts, nil)
		expectKubernetesStep(t, info, err)
		info.CreateError = ""
		return info, opts, stateOf(t, info).Cluster.ID
	}
	a, aOpts, aID := create("twin-a")
	b, _, bID := create("twin-b")
	if aID == "" || aID == bID {
		t.Fatalf("cluster ids %q and %q", aID, bID)
	}
	want := func(id string, names ...string) {
		t.Helper()
		if got := strings.Join(vmNamesByID(t, sim, name, id), ","); got != strings.Join(names, ",") {
			t.Fatalf("cluster %s has VMs %s, want %v", id, got, names)
		}
	}
	want(aID, "twin-a-m-1", "twin-a-w-1")
	want(bID, "twin-b-m-1", "twin-b-w-1")

	// Scaling a's workers to 2 and back to 0 leaves b's VMs alone.
	delete(aOpts.StringOptions, "kubeconfig-content")
	for _, pools := range [][]string{{"m=1:etcd+controlplane+worker", "w=2:worker"}, {"m=1:etcd+controlplane+worker"}} {
		aOpts.StringSliceOptions["node-pools"] = &types.StringSlice{Value: pools}
		if _, err := p.Client.Update(ctx, a, aOpts); !stoppedAtImagePull(err) {
			t.Fatalf("update of twin-a did not reach the Kubernetes step: %v", err)
		}
		want(bID, "twin-b-m-1", "twin-b-w-1")
	}
	want(aID, "twin-a-m-1")

	if err := p.Client.Remove(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := sim.WaitNoLeftovers(ctx, "harvesterrke.io/cluster-id="+aID); err != nil {
		left, _ := sim.Leftovers(ctx, "harvesterrke.io/cluster-id="+aID)
		t.Fatalf("leftovers of twin-a: %v: %v", err, left)
	}
	want(bID, "twin-b-m-1", "twin-b-w-1")
	if left, _ := sim.Leftovers(ctx, "harvesterrke.io/cluster-id="+bID); len(left) == 0 {
		t.Fatal("removing twin-a took twin-b's objects")
	}
	if err := p.Client.Remove(ctx, b); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, sim, name)
}

// Five clusters of four nodes made, scaled and removed at once, each by its own driver processes
// as Rancher runs them, against one Harvester: each ends with exactly its own nodes, and nothing
// is left afterwards.
func TestConcurrentClusters(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{})
	bin := driverproc.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		p := driverproc.Start(t, bin)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = oneClusterLife(ctx, t, sim, p, fmt.Sprintf("c-par-%d", i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("cluster c-par-%d: %v", i, err)
		}
	}
	for i := range errs {
		noLeftovers(t, sim, fmt.Sprintf("c-par-%d", i))
	}
}

// oneClusterLife creates a 4-node cluster, scales its workers 3 -> 1, checks its VMs after each
// step and removes it. It reports instead of failing: it runs beside others.
func oneClusterLife(ctx context.Context, t *testing.T, sim *harvestersim.Sim, p *driverproc.Rancher, name string) error {
	opts := simOptions(sim, name, "m=1:etcd+controlplane", "w=3:worker")
	info, err := p.Client.Create(ctx, opts, nil)
	if !stoppedAtImagePull(err) || info == nil {
		return fmt.Errorf("create did not reach the Kubernetes step: %v", err)
	}
	info.CreateError = ""
	check := func(want ...string) error {
		got := vmNames(t, sim, name)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("VMs %v, want %v", got, want)
		}
		return nil
	}
	if err := check(name+"-m-1", name+"-w-1", name+"-w-2", name+"-w-3"); err != nil {
		return fmt.Errorf("after create: %w", err)
	}
	delete(opts.StringOptions, "kubeconfig-content")
	opts.StringSliceOptions["node-pools"] = &types.StringSlice{Value: []string{"m=1:etcd+controlplane", "w=1:worker"}}
	if _, err := p.Client.Update(ctx, info, opts); !stoppedAtImagePull(err) {
		return fmt.Errorf("update did not reach the Kubernetes step: %v", err)
	}
	if err := check(name+"-m-1", name+"-w-1"); err != nil {
		return fmt.Errorf("after scaling down: %w", err)
	}
	if err := p.Client.Remove(ctx, info); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	return nil
}
