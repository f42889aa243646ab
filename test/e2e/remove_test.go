package e2e

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// sshWatch counts the SSH connections the driver opens to a subnet (the stand-in's hosts): it runs
// in another process, as the jail user, so an iptables rule matching that user counts them. It can
// also make the hosts unreachable.
type sshWatch struct {
	comment string
	subnet  string
}

func watchSSH(t *testing.T, subnet string) *sshWatch {
	t.Helper()
	w := &sshWatch{comment: fmt.Sprintf("harvesterrke-e2e-ssh-%d", time.Now().UnixNano()), subnet: subnet}
	rule := []string{"OUTPUT", "-p", "tcp", "--syn", "--dport", "22", "-d", subnet, "-m", "owner", "--uid-owner", fmt.Sprint(driverproc.JailUID),
		"-m", "comment", "--comment", w.comment} // no target: it only counts
	w.iptables(t, append([]string{"-I"}, rule...)...)
	t.Cleanup(func() { w.iptables(t, append([]string{"-D"}, rule...)...) })
	return w
}

func (w *sshWatch) iptables(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("iptables %v: %v: %s", args, err, out)
	}
	return string(out)
}

// connections is how many SSH connections were opened so far.
func (w *sshWatch) connections(t *testing.T) int {
	t.Helper()
	for _, line := range strings.Split(w.iptables(t, "-L", "OUTPUT", "-n", "-v", "-x"), "\n") {
		if strings.Contains(line, "/* "+w.comment+" */") {
			n, err := strconv.Atoi(strings.Fields(line)[0])
			if err != nil {
				t.Fatalf("iptables counter %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatal("the counting rule is gone")
	return 0
}

// unreachable makes the hosts refuse every SSH connection until the test ends.
func (w *sshWatch) unreachable(t *testing.T) {
	t.Helper()
	// Below the counting rule: the driver's attempts are still counted.
	rule := []string{"OUTPUT", "-p", "tcp", "--dport", "22", "-d", w.subnet, "-m", "comment", "--comment", w.comment + "-block", "-j", "REJECT", "--reject-with", "tcp-reset"}
	w.iptables(t, append([]string{"-A"}, rule...)...)
	t.Cleanup(func() { w.iptables(t, append([]string{"-D"}, rule...)...) })
}

// subnetOf is the /24 of a node's address.
func subnetOf(t *testing.T, info *types.ClusterInfo) string {
	t.Helper()
	for _, n := range stateOf(t, info).Cluster.Nodes {
		if ip := net.ParseIP(n.Address).To4(); ip != nil {
			return fmt.Sprintf("%d.%d.%d.0/24", ip[0], ip[1], ip[2])
		}
	}
	t.Fatal("no node has an address")
	return ""
}

// Remove deletes the cluster's objects on Harvester without connecting to any node (their disks go
// with the VMs), so it is as fast, and as complete, when no node can be reached.
func TestRemoveConnectsToNoNode(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name        string
		unreachable bool
	}{{"c-rm-reachable", false}, {"c-rm-unreachable", true}} {
		t.Run(tc.name, func(t *testing.T) {
			// Without the driver's pre-pull, Create stops at RKE's first image pull (none is
			// preloaded), leaving RKE's state of a half-built cluster: the case where a removal
			// through RKE would try every node.
			opts := simOptions(sim, tc.name, "cp=1:etcd+controlplane", "w=2:worker")
			opts.BoolOptions["prepull-images"] = false
			info, err := p.Client.Create(ctx, opts, nil)
			expectKubernetesStep(t, info, err)
			if len(stateOf(t, info).Cluster.RKE.State) == 0 {
				t.Fatal("the failed create left no RKE state")
			}
			ssh := watchSSH(t, subnetOf(t, info))
			if tc.unreachable {
				ssh.unreachable(t)
				addr := stateOf(t, info).Cluster.Nodes[0].Address
				if c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "22"), 5*time.Second); err == nil {
					c.Close()
					t.Fatalf("%s still accepts SSH connections", addr)
				}
			}
			start := time.Now()
			if err := p.Client.Remove(ctx, info); err != nil {
				t.Fatal(err)
			}
			t.Logf("remove of 3 nodes: %s (of it, the driver process's start-up as Rancher waits for it: %s)",
				time.Since(start).Round(time.Millisecond), driverproc.RancherSchedule.Wait)
			if n := ssh.connections(t); n != 0 {
				t.Errorf("Remove opened %d SSH connections", n)
			}
			noLeftovers(t, sim, tc.name)
		})
	}
}

// BenchmarkRemove times Remove of Kubernetes clusters of 1, 3 and 10 nodes beside the stand-in's
// own deletion of the same objects (deleted by label with an admin client, waiting until they are
// gone). The driver's time is measured in-process after Rancher's start-up wait.
func BenchmarkRemove(b *testing.B) {
	sim := harvestersim.Start(b, harvestersim.Options{RKEImages: true})
	j := driverproc.NewJail(b, driverproc.Binary(b), driverproc.JailOptions{})
	p := driverproc.StartInJail(j)
	dyn, err := dynamic.NewForConfig(sim.Config)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 3, 10} {
		pools := []string{"all=1:etcd+controlplane+worker"}
		if n > 1 {
			pools = []string{"cp=1:etcd+controlplane", fmt.Sprintf("w=%d:worker", n-1)}
		}
		b.Run(fmt.Sprintf("driver/N=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ctx := context.Background()
				name := fmt.Sprintf("b-rm-%d-%d", n, i)
				info, err := p.Client.Create(ctx, simOptions(sim, name, pools...), nil)
				if err != nil {
					b.Fatalf("create %s: %v", name, err)
				}
				proc, err := j.Start(ctx)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				err = proc.Client.Remove(ctx, info)
				b.StopTimer()
				proc.Kill()
				if err != nil {
					b.Fatal(err)
				}
				if err := sim.WaitNoLeftovers(ctx, "harvesterrke.io/cluster="+name); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("standin/N=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ctx := context.Background()
				name := fmt.Sprintf("b-del-%d-%d", n, i)
				info, err := p.Client.Create(ctx, simOptions(sim, name, pools...), nil)
				if err != nil {
					b.Fatalf("create %s: %v", name, err)
				}
				id := stateOf(b, info).Cluster.ID
				sel := metav1.ListOptions{LabelSelector: "harvesterrke.io/cluster-id=" + id}
				b.StartTimer()
				foreground := metav1.DeletePropagationForeground
				for _, resource := range []schema.GroupVersionResource{gvr.VirtualMachines, gvr.Secrets, gvr.PersistentVolumeClaims} {
					if err := dyn.Resource(resource).Namespace("default").DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &foreground}, sel); err != nil {
						b.Fatal(err)
					}
				}
				if err := sim.WaitNoLeftovers(ctx, "harvesterrke.io/cluster-id="+id); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				// What the stand-in's deletion left of the cluster (its identity) goes the driver's way.
				if err := p.Client.Remove(ctx, info); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
