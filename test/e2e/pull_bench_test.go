package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// BenchmarkCreateWithPulls measures a whole Create (RKE included) of 1 and 3 nodes whose images come
// through the stand-in's private registry, with the driver's pre-pull and with RKE pulling on its
// own, and with the images preloaded in the hosts' Docker for comparison. Each Create is timed
// alone; the removal after it is not.
//
//	go test ./test/e2e -run '^$' -bench CreateWithPulls -benchtime 1x -timeout 60m
func BenchmarkCreateWithPulls(b *testing.B) {
	bin := driverproc.Binary(b)
	for _, mode := range []struct {
		name    string
		sim     harvestersim.Options
		options func(*harvestersim.Sim, string, ...string) *types.DriverOptions
		prepull bool
	}{
		{"registry/prepull", harvestersim.Options{Registry: true}, registryOptions, true},
		{"registry/rke-pulls", harvestersim.Options{Registry: true}, registryOptions, false},
		{"preloaded", harvestersim.Options{RKEImages: true}, simOptions, true},
	} {
		b.Run(mode.name, func(b *testing.B) {
			// A stand-in of its own: its registry's log and its hosts' Docker start empty.
			sim := harvestersim.Start(b, mode.sim)
			p := driverproc.Start(b, bin)
			for _, n := range []int{1, 3} {
				b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						name := fmt.Sprintf("b-pull-%d-%d", n, i)
						pools := []string{"cp=1:etcd+controlplane+worker"}
						if n > 1 {
							pools = append(pools, fmt.Sprintf("w=%d:worker", n-1))
						}
						opts := mode.options(sim, name, pools...)
						opts.BoolOptions["prepull-images"] = mode.prepull
						benchCreate(b, sim, p, opts)
					}
				})
			}
		})
	}
}

func benchCreate(b *testing.B, sim *harvestersim.Sim, p *driverproc.Rancher, opts *types.DriverOptions) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	name := opts.StringOptions["name"]
	b.StartTimer()
	start := time.Now()
	info, err := p.Client.Create(ctx, opts, nil)
	took := time.Since(start)
	b.StopTimer()
	if info != nil && info.Metadata["state"] != "" {
		defer func() {
			if err := p.Client.Remove(context.Background(), info); err != nil {
				b.Errorf("remove %s: %v", name, err)
			}
			rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer rcancel()
			if err := sim.WaitNoLeftovers(rctx, "harvesterrke.io/cluster="+name); err != nil {
				b.Error(err)
			}
		}()
	}
	if err != nil {
		b.Fatalf("create %s: %v", name, err)
	}
	b.ReportMetric(took.Seconds(), "s/create")
}
