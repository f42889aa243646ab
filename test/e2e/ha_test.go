package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// testHighlyAvailable: three etcd members, two control planes and a worker, the control planes
// behind a Harvester load balancer whose address comes from an IPPool. Rancher's endpoint is the load
// balancer's address; a snapshot restore brings all three etcd members back to it; an etcd VM deleted
// by hand is re-created by Update and rejoins while the API keeps answering; with a whole
// control-plane VM stopped the API and PostCheck's token still work; Remove takes the load balancer
// and frees its address. Run by TestKubernetesOnStandIn, on its stand-in.
func testHighlyAvailable(t *testing.T, sim *harvestersim.Sim, p *driverproc.Rancher) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	pool := sim.IPPoolRange
	if err := sim.CreateIPPool(ctx, "k-ha-api", pool.First, pool.First.Next()); err != nil {
		t.Fatal(err)
	}
	pools := []string{"etcd=3:etcd", "cp=2:controlplane", "w=1:worker"}
	opts := simOptions(sim, "k-ha", pools...)
	opts.StringOptions["control-plane-address"] = "load-balancer"
	opts.StringOptions["control-plane-ip-pool"] = "k-ha-api"
	info := createCluster(ctx, t, p, opts, 6)
	defer func() { removeCluster(t, sim, p, info, "k-ha") }()
	etcds := []string{"k-ha-etcd-1", "k-ha-etcd-2", "k-ha-etcd-3"}
	nodes := append(slices.Clone(etcds), "k-ha-cp-1", "k-ha-cp-2", "k-ha-w-1")
	cs := rancherClient(ctx, t, p, info, nodes)

	_, endpoint := postCheckClient(ctx, t, p, info)
	if u, err := url.Parse(endpoint); err != nil {
		t.Fatalf("endpoint %q: %v", endpoint, err)
	} else if addr, err := netip.ParseAddr(u.Hostname()); err != nil || !pool.Contains(addr) {
		t.Fatalf("Rancher's endpoint %s is not the load balancer's address from the pool %s", endpoint, pool)
	}
	etcdAgrees(ctx, t, sim, etcds)

	t.Run("snapshot restored on three etcd members", func(t *testing.T) {
		before, after := configMap("ha-before-snapshot"), configMap("ha-after-snapshot")
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, before, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := p.Client.ETCDSave(ctx, info, opts, "ha-snap"); err != nil {
			t.Fatalf("etcd save: %v", err)
		}
		t.Logf("etcd save on 3 members: %s", time.Since(start).Round(time.Millisecond))
		for _, vm := range etcds {
			if out, err := sim.Exec(ctx, "default/"+vm, "ls", "/opt/rke/etcd-snapshots"); err != nil || !strings.Contains(string(out), "ha-snap") {
				t.Errorf("%s's snapshots: %q %v, want ha-snap", vm, out, err)
			}
		}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, after, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		restored, err := p.Client.ETCDRestore(ctx, info, opts, "ha-snap")
		if err != nil {
			t.Fatalf("etcd restore: %v", err)
		}
		t.Logf("etcd restore on 3 members: %s", time.Since(start).Round(time.Millisecond))
		info = restored
		cs = rancherClient(ctx, t, p, info, nodes)
		// Read from each member's own store: every one has the snapshot's data and nothing after it.
		for _, vm := range etcds {
			keys := etcdKeys(ctx, t, sim, vm, "/registry/configmaps/default/ha-")
			if want := []string{"/registry/configmaps/default/" + before.Name}; !slices.Equal(keys, want) {
				t.Errorf("%s holds %v after the restore, want %v", vm, keys, want)
			}
		}
		etcdAgrees(ctx, t, sim, etcds)
		if err := p.Client.ETCDRemoveSnapshot(ctx, info, opts, "ha-snap"); err != nil {
			t.Fatalf("etcd remove snapshot: %v", err)
		}
		for _, vm := range etcds {
			if out, err := sim.Exec(ctx, "default/"+vm, "ls", "/opt/rke/etcd-snapshots"); err != nil || strings.Contains(string(out), "ha-snap") {
				t.Errorf("%s's snapshots after the removal: %q %v", vm, out, err)
			}
		}
	})

	t.Run("etcd VM deleted by hand, healed by Update", func(t *testing.T) {
		dyn, err := dynamic.NewForConfig(sim.Config)
		if err != nil {
			t.Fatal(err)
		}
		api := watchAPI(ctx, cs)
		if err := dyn.Resource(gvr.VirtualMachines).Namespace("default").Delete(ctx, "k-ha-etcd-2", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Minute, "the etcd VM deleted by hand to go", func() bool { return len(clusterVMs(t, sim, "k-ha")) == 5 })
		start := time.Now()
		updated, err := p.Client.Update(ctx, info, opts)
		if updated != nil && updated.Metadata["state"] != "" {
			info = updated
		}
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		t.Logf("heal of a deleted etcd VM (Update): %s", time.Since(start).Round(time.Millisecond))
		cs = rancherClient(ctx, t, p, info, nodes)
		etcdAgrees(ctx, t, sim, etcds)
		if failed, total, errs := api.stop(); failed > 0 {
			t.Errorf("the API address failed %d of %d requests while the etcd member was lost and healed:\n%s", failed, total, strings.Join(errs, "\n"))
		} else {
			t.Logf("the API address answered all %d requests while the etcd member was lost and healed", total)
		}
	})

	t.Run("control-plane VM stopped", func(t *testing.T) {
		dyn, err := dynamic.NewForConfig(sim.Config)
		if err != nil {
			t.Fatal(err)
		}
		halt := []byte(`{"spec":{"runStrategy":"Halted"}}`)
		if _, err := dyn.Resource(gvr.VirtualMachines).Namespace("default").Patch(ctx, "k-ha-cp-1", k8stypes.MergePatchType, halt, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Minute, "k-ha-cp-1's VM to stop", func() bool {
			return !objectExists(t, sim, gvr.VirtualMachineInstances, "default", "k-ha-cp-1")
		})
		// PostCheck as Rancher runs it, and a client holding only what Rancher keeps of it.
		stopped, _ := postCheckClient(ctx, t, p, info)
		for i := range 10 {
			if _, err := stopped.Discovery().ServerVersion(); err != nil {
				t.Fatalf("request %d through the load balancer with k-ha-cp-1 stopped: %v", i+1, err)
			}
		}
		if _, err := stopped.CoreV1().Nodes().Get(ctx, "k-ha-cp-2", metav1.GetOptions{}); err != nil {
			t.Errorf("PostCheck's token with k-ha-cp-1 stopped: %v", err)
		}
	})
}

// etcdAgrees checks that every listed etcd VM's member sees the same three started members, each
// of them healthy.
func etcdAgrees(ctx context.Context, t *testing.T, sim *harvestersim.Sim, vms []string) {
	t.Helper()
	var first string
	for _, vm := range vms {
		out, err := etcdctl(ctx, t, sim, vm, "member", "list")
		if err != nil {
			t.Fatalf("%s: etcdctl member list: %v: %s", vm, err, out)
		}
		members := strings.Split(strings.TrimSpace(string(out)), "\n")
		slices.Sort(members)
		list := strings.Join(members, "\n")
		if len(members) != len(vms) || strings.Contains(list, "unstarted") {
			t.Errorf("%s's member list, want %d started members:\n%s", vm, len(vms), list)
		}
		if first == "" {
			first = list
		} else if list != first {
			t.Errorf("%s's member list differs from %s's:\n%s\n---\n%s", vm, vms[0], list, first)
		}
		if out, err := etcdctl(ctx, t, sim, vm, "endpoint", "health", "--cluster"); err != nil {
			t.Errorf("%s: etcdctl endpoint health --cluster: %v: %s", vm, err, out)
		}
	}
}

// etcdKeys lists the keys under prefix in vm's own etcd member (a serializable read, answered from
// that member's store).
func etcdKeys(ctx context.Context, t *testing.T, sim *harvestersim.Sim, vm, prefix string) []string {
	t.Helper()
	out, err := etcdctl(ctx, t, sim, vm, "get", "--prefix", "--keys-only", "--consistency=s", prefix)
	if err != nil {
		t.Fatalf("%s: etcdctl get: %v: %s", vm, err, out)
	}
	return strings.Fields(string(out))
}

// etcdctl runs etcdctl against vm's etcd member as RKE's own tools do: in a new container of the
// etcd image with the member's client settings (docker exec cannot enter containers of the
// stand-in's hosts).
func etcdctl(ctx context.Context, t *testing.T, sim *harvestersim.Sim, vm string, args ...string) ([]byte, error) {
	t.Helper()
	out, err := sim.Exec(ctx, "default/"+vm, "docker", "inspect", "--format", "{{.Config.Image}}{{range .Config.Env}} {{.}}{{end}}", "etcd")
	if err != nil {
		t.Fatalf("%s: inspect the etcd container: %v", vm, err)
	}
	fields := strings.Fields(string(out))
	argv := []string{"docker", "run", "--rm", "--net=host", "-v", "/etc/kubernetes:/etc/kubernetes:ro", "--entrypoint", "/usr/local/bin/etcdctl"}
	for _, env := range fields[1:] {
		if strings.HasPrefix(env, "ETCDCTL_") {
			argv = append(argv, "-e", env)
		}
	}
	argv = append(append(argv, fields[0]), args...)
	return sim.Exec(ctx, "default/"+vm, argv...)
}

// apiWatch asks the API server version through the cluster's address every 250 ms until stopped;
// a request that fails is tried once more at once, as clients retry, before it counts as failed.
type apiWatch struct {
	cancel        context.CancelFunc
	wg            sync.WaitGroup
	failed, total int
	errs          []string
}

func watchAPI(ctx context.Context, cs *kubernetes.Clientset) *apiWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &apiWatch{cancel: cancel}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			w.total++
			if _, err := cs.Discovery().ServerVersion(); err == nil {
				continue
			}
			if _, err := cs.Discovery().ServerVersion(); err != nil && ctx.Err() == nil {
				w.failed++
				w.errs = append(w.errs, fmt.Sprintf("%s: %v", time.Now().Format(time.TimeOnly), err))
			}
		}
	}()
	return w
}

// stop ends the watch and returns how many requests failed of how many, and the first errors.
func (w *apiWatch) stop() (failed, total int, errs []string) {
	w.cancel()
	w.wg.Wait()
	return w.failed, w.total, w.errs[:min(len(w.errs), 5)]
}
