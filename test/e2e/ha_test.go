package e2e

import (
	"context"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// testHighlyAvailable: three control planes behind a Harvester load balancer whose address comes
// from an IPPool. Rancher's endpoint is the load balancer's address; the API still answers through
// it with the first control plane's API server stopped; Remove takes the load balancer and frees its
// address. Run by TestKubernetesOnStandIn, on its stand-in.
func testHighlyAvailable(t *testing.T, sim *harvestersim.Sim, p *driverproc.Rancher) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	pool := sim.IPPoolRange
	if err := sim.CreateIPPool(ctx, "k-ha-api", pool.First, pool.First.Next()); err != nil {
		t.Fatal(err)
	}
	opts := simOptions(sim, "k-ha", "cp=3:etcd+controlplane+worker")
	opts.StringOptions["control-plane-address"] = "load-balancer"
	opts.StringOptions["control-plane-ip-pool"] = "k-ha-api"
	info := createCluster(ctx, t, p, opts, 3)
	defer func() { removeCluster(t, sim, p, info, "k-ha") }()
	nodes := []string{"k-ha-cp-1", "k-ha-cp-2", "k-ha-cp-3"}
	rancherClient(ctx, t, p, info, nodes)

	cs, endpoint := postCheckClient(ctx, t, p, info)
	if u, err := url.Parse(endpoint); err != nil {
		t.Fatalf("endpoint %q: %v", endpoint, err)
	} else if addr, err := netip.ParseAddr(u.Hostname()); err != nil || !pool.Contains(addr) {
		t.Fatalf("Rancher's endpoint %s is not the load balancer's address from the pool %s", endpoint, pool)
	}

	// The load balancer passes a refused connection on to another control plane and its health
	// check takes the stopped one out: every request still finds an API server.
	if _, err := sim.Exec(ctx, "default/k-ha-cp-1", "docker", "stop", "kube-apiserver"); err != nil {
		t.Fatalf("stop k-ha-cp-1's API server: %v", err)
	}
	for i := 0; i < 10; i++ {
		if _, err := cs.Discovery().ServerVersion(); err != nil {
			t.Fatalf("request %d through the load balancer with k-ha-cp-1's API server stopped: %v", i+1, err)
		}
	}
}
