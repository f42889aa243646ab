package harvester

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// benchBootDelay is the stand-in's fixed time from a VM's start to its address, so the benchmark
// measures what the driver adds to it.
const benchBootDelay = 5 * time.Second

// BenchmarkIntegrationProvision measures on the stand-in the wall time from the start of a converging
// call (List, PlanVMs, CreateNodes) until every VM has its address, for 1, 10 and 30 VMs, the part of
// it creating takes, and the API requests per VM (converging plus WaitForAddresses). Run with -bench IntegrationProvision
// -benchtime 1x. (The stand-in's NoHosts mode reports loopback addresses, which the driver rightly
// refuses, so fake hosts are needed.)
func BenchmarkIntegrationProvision(b *testing.B) {
	s := harvestersim.Start(b, harvestersim.Options{BootDelay: benchBootDelay})
	ctx := context.Background()
	for _, n := range []int{1, 10, 30} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var total, create time.Duration
			var requests int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cl := simCluster(b, fmt.Sprintf("bench-n%d-%d", n, i), n-1)
				c, counter := simClient(b, s)
				env, err := c.Preflight(ctx, cl.Template)
				if err != nil {
					b.Fatal(err)
				}
				counter.n.Store(0)
				b.StartTimer()
				start := time.Now()
				nodes, err := converge(ctx, c, cl, env)
				if err != nil {
					b.Fatal(err)
				}
				create += time.Since(start)
				if _, err := c.WaitForAddresses(ctx, simNS, cl.Owner, nodes, 5*time.Minute); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				requests += counter.n.Load()
				b.StopTimer()
				if err := c.Remove(ctx, simNS, cl.Owner); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/cluster")
			b.ReportMetric(create.Seconds()/float64(b.N), "s-create/cluster")
			b.ReportMetric(float64(requests)/float64(b.N*n), "requests/VM")
		})
	}
}
