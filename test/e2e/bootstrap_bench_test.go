package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/docker"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/ssh"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// BenchmarkBootstrap measures the Docker step alone: N fake hosts already accept SSH, and the
// driver's bootstrap makes Docker run on all of them, either starting the preinstalled engine or
// installing Debian's packages through the stand-in's proxy to the mirror (N=30 installs would
// download some 2 GB from the public mirror, so that case stops at 10).
//
//	go test ./test/e2e -run '^$' -bench Bootstrap -benchtime 1x
func BenchmarkBootstrap(b *testing.B) {
	logrus.SetOutput(io.Discard) // every node's progress, including apt's, goes through logrus
	b.Cleanup(func() { logrus.SetOutput(os.Stderr) })
	sim := harvestersim.Start(b, harvestersim.Options{})
	for _, tc := range []struct {
		image  string
		method string
		sizes  []int
	}{
		{"default/debian-12", docker.InstallNone, []int{1, 10, 30}},
		{"default/debian-12-nodocker", docker.InstallDistro, []int{1, 10}},
	} {
		for _, n := range tc.sizes {
			b.Run(fmt.Sprintf("%s/N=%d", tc.method, n), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					benchBootstrap(b, sim, tc.image, tc.method, n, fmt.Sprintf("b-%s-%d-%d", tc.method, n, i))
				}
			})
		}
	}
}

func benchBootstrap(b *testing.B, sim *harvestersim.Sim, image, method string, n int, cluster string) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	hv, err := harvester.NewClient(harvester.Credentials{Kubeconfig: sim.Kubeconfig})
	if err != nil {
		b.Fatal(err)
	}
	key, _ := ssh.GenerateClientKey("bench")
	seed, _ := ssh.NewHostKeySeed()
	signer, _ := ssh.ParsePrivateKey(key.PrivatePEM)
	ns, name, _ := strings.Cut(image, "/")
	cl := harvester.Cluster{
		Owner: harvester.Owner{Name: cluster, ID: cluster},
		Template: harvester.VMTemplate{Namespace: "default", Image: harvester.ObjectRef{Namespace: ns, Name: name},
			CPUs: 1, Memory: resource.MustParse("1Gi"), DiskSize: resource.MustParse("10Gi"), DiskBus: "virtio", NamePrefix: cluster},
		Pools: []harvester.Pool{{Name: "n", Count: n}},
		Login: harvester.Login{User: "ubuntu", AuthorizedKeys: []string{key.AuthorizedKey},
			HostKey: func(vm string) (harvester.HostKey, error) {
				hk, err := ssh.DeriveHostKey(seed, vm)
				return harvester.HostKey{PrivatePEM: string(hk.PrivatePEM), AuthorizedKey: ssh.MarshalPublicKey(hk.Public)}, err
			}},
	}
	env, err := hv.Preflight(ctx, cl.Template)
	if err != nil {
		b.Fatal(err)
	}
	plan, err := harvester.PlanVMs(cl, nil)
	if err != nil {
		b.Fatal(err)
	}
	vms, err := hv.CreateNodes(ctx, cl, env, plan)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := hv.Remove(context.Background(), "default", cl.Owner); err != nil {
			b.Error(err)
		}
	}()
	if vms, err = hv.WaitForAddresses(ctx, "default", cl.Owner, vms, 5*time.Minute); err != nil {
		b.Fatal(err)
	}
	dialer, err := ssh.NewDialer(ssh.Config{Signer: signer})
	if err != nil {
		b.Fatal(err)
	}
	defer dialer.Close()
	nodes := make([]docker.Node, len(vms))
	for i, vm := range vms {
		hk, _ := ssh.DeriveHostKey(seed, vm.Name)
		c, err := dialer.WaitReady(ctx, ssh.Endpoint{Name: vm.Name, Address: vm.Address, User: "ubuntu", HostKey: hk.Public})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		nodes[i] = docker.Node{Name: vm.Name, User: "ubuntu", Runner: c}
	}

	b.StartTimer()
	start := time.Now()
	results, err := docker.Bootstrap(ctx, docker.Config{InstallMethod: method}, nodes, docker.Options{})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "s/bootstrap")
	for _, r := range results {
		if r.Version == "" || !r.Changed {
			b.Fatalf("node %s: %+v", r.Node, r)
		}
	}
}
