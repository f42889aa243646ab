package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/rkeimages"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

// The driver's whole job on the stand-in, with RKE's images preloaded in the hosts' Docker: Create
// ends with a Kubernetes cluster whose nodes are Ready, Rancher's token works on it, and Update,
// snapshots and Remove act on it. RKE deploys no add-on (no image for one is built): the pod network
// is the stand-in hosts' own.
func TestKubernetesOnStandIn(t *testing.T) {
	testenv.SkipShort(t, "takes minutes: RKE brings up real clusters")
	sim := harvestersim.Start(t, harvestersim.Options{RKEImages: true})
	p := driverproc.Start(t, driverproc.Binary(t))

	t.Run("one node, snapshot and restore", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		opts := simOptions(sim, "k-one", "all=1:etcd+controlplane+worker")
		opts.BoolOptions["harvester-cloud-provider"] = false // as clusters were before it
		info := createCluster(ctx, t, p, opts, 1)
		defer func() { removeCluster(t, sim, p, info, "k-one") }() // with the latest info, as Rancher would
		cs := rancherClient(ctx, t, p, info, []string{"k-one-all-1"})
		noCloudProvider(ctx, t, sim, cs, "k-one", "k-one-all-1")

		// A ConfigMap made before the snapshot comes back with the restore; one made after it goes.
		before, after := configMap("before-snapshot"), configMap("after-snapshot")
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, before, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := p.Client.ETCDSave(ctx, info, opts, "e2e-snap"); err != nil {
			t.Fatalf("etcd save: %v", err)
		}
		t.Logf("etcd save: %s", time.Since(start).Round(time.Millisecond))
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, after, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		restored, err := p.Client.ETCDRestore(ctx, info, opts, "e2e-snap")
		if err != nil {
			t.Fatalf("etcd restore: %v", err)
		}
		t.Logf("etcd restore: %s", time.Since(start).Round(time.Millisecond))
		info = restored
		cs = rancherClient(ctx, t, p, info, []string{"k-one-all-1"})
		if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, before.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("config map made before the snapshot: %v", err)
		}
		if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, after.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("config map made after the snapshot survived the restore: %v", err)
		}

		snapshots := func() string {
			out, err := sim.Exec(ctx, "default/k-one-all-1", "ls", "/opt/rke/etcd-snapshots")
			if err != nil {
				t.Fatalf("list the node's snapshots: %v", err)
			}
			return string(out)
		}
		if list := snapshots(); !strings.Contains(list, "e2e-snap") {
			t.Fatalf("the node's snapshots: %q, want e2e-snap", list)
		}
		if err := p.Client.ETCDRemoveSnapshot(ctx, info, opts, "e2e-snap"); err != nil {
			t.Fatalf("etcd remove snapshot: %v", err)
		}
		if list := snapshots(); strings.Contains(list, "e2e-snap") {
			t.Errorf("the node's snapshots after the removal: %q", list)
		}
	})

	t.Run("HA: three etcd, two control planes behind a load balancer, a worker", func(t *testing.T) { testHighlyAvailable(t, sim, p) })

	t.Run("three nodes, workers scaled 2 to 3 to 1, Kubernetes upgraded", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		opts := simOptions(sim, "k-three", "cp=1:etcd+controlplane", "w=2:worker")
		opts.StringOptions["kubernetes-version"] = rkeimages.PreviousVersion
		info := createCluster(ctx, t, p, opts, 3)
		defer func() { removeCluster(t, sim, p, info, "k-three") }() // with the latest info, as Rancher would
		rancherClient(ctx, t, p, info, []string{"k-three-cp-1", "k-three-w-1", "k-three-w-2"})

		for _, step := range []struct {
			workers string
			nodes   []string
		}{
			{"w=3:worker", []string{"k-three-cp-1", "k-three-w-1", "k-three-w-2", "k-three-w-3"}},
			{"w=1:worker", []string{"k-three-cp-1", "k-three-w-1"}},
		} {
			opts.StringSliceOptions["node-pools"] = &types.StringSlice{Value: []string{"cp=1:etcd+controlplane", step.workers}}
			start := time.Now()
			updated, err := p.Client.Update(ctx, info, opts)
			if updated != nil && updated.Metadata["state"] != "" {
				info = updated
			}
			if err != nil {
				t.Fatalf("update to %s: %v", step.workers, err)
			}
			t.Logf("update to %s: %s", step.workers, time.Since(start).Round(time.Millisecond))
			rancherClient(ctx, t, p, info, step.nodes)
			if vms := clusterVMs(t, sim, "k-three"); len(vms) != len(step.nodes) {
				t.Errorf("%d VMs after the update to %s, want %d", len(vms), step.workers, len(step.nodes))
			}
		}

		// The upgrade replaces the Kubernetes containers with those of the new version's image.
		image := func(vm, container string) string {
			out, err := sim.Exec(ctx, "default/"+vm, "docker", "inspect", "--format", "{{.Config.Image}}", container)
			if err != nil {
				t.Fatalf("inspect %s on %s: %v", container, vm, err)
			}
			return strings.TrimSpace(string(out))
		}
		if got := image("k-three-cp-1", "kube-apiserver"); got != rkeimages.PreviousKubeTag {
			t.Fatalf("kube-apiserver runs %s before the upgrade, want %s", got, rkeimages.PreviousKubeTag)
		}
		opts.StringOptions["kubernetes-version"] = "v1.32.7-rancher1-1"
		start := time.Now()
		upgraded, err := p.Client.Update(ctx, info, opts)
		if upgraded != nil && upgraded.Metadata["state"] != "" {
			info = upgraded
		}
		if err != nil {
			t.Fatalf("upgrade to v1.32.7-rancher1-1: %v", err)
		}
		t.Logf("upgrade to v1.32.7-rancher1-1: %s", time.Since(start).Round(time.Millisecond))
		rancherClient(ctx, t, p, info, []string{"k-three-cp-1", "k-three-w-1"})
		for vm, containers := range map[string][]string{"k-three-cp-1": {"kube-apiserver", "kubelet"}, "k-three-w-1": {"kubelet", "kube-proxy"}} {
			for _, c := range containers {
				if got := image(vm, c); got != rkeimages.KubeTag {
					t.Errorf("%s on %s runs %s after the upgrade, want %s", c, vm, got, rkeimages.KubeTag)
				}
			}
		}
	})
}

// createCluster creates a cluster through the driver and returns its info, failing the test (after
// removing what was made) if Create does not end with Kubernetes on every node.
func createCluster(ctx context.Context, t *testing.T, p *driverproc.Rancher, opts *types.DriverOptions, nodes int) *types.ClusterInfo {
	t.Helper()
	name := opts.StringOptions["name"]
	start := time.Now()
	info, err := p.Client.Create(ctx, opts, nil)
	if err != nil {
		if info != nil && info.Metadata["state"] != "" {
			if rerr := p.Client.Remove(context.Background(), info); rerr != nil {
				t.Logf("remove after the failed create: %v", rerr)
			}
		}
		t.Fatalf("create %s: %v", name, err)
	}
	t.Logf("create of %s (%d nodes, RKE included): %s", name, nodes, time.Since(start).Round(time.Millisecond))
	st := stateOf(t, info)
	for _, n := range st.Cluster.Nodes {
		if n.Phase != "kubernetes" {
			t.Errorf("node %s is in phase %q after create, want kubernetes", n.Name, n.Phase)
		}
	}
	if len(st.Cluster.Nodes) != nodes || len(st.Cluster.RKE.State) == 0 || len(st.Cluster.RKE.Kubeconfig) == 0 {
		t.Fatalf("state after create: %d nodes, RKE state %d bytes, kubeconfig %d bytes",
			len(st.Cluster.Nodes), len(st.Cluster.RKE.State), len(st.Cluster.RKE.Kubeconfig))
	}
	return info
}

// rancherClient runs PostCheck as Rancher does after Create and Update, and returns a client holding
// nothing but what Rancher keeps: the endpoint, the CA and the token. It checks that the cluster's
// nodes are the wanted ones and Ready, and that GetVersion and GetClusterSize agree with the cluster.
func rancherClient(ctx context.Context, t *testing.T, p *driverproc.Rancher, info *types.ClusterInfo, nodes []string) *kubernetes.Clientset {
	t.Helper()
	cs, _ := postCheckClient(ctx, t, p, info)
	// RKE returns before a new node's kubelet has reported Ready, and a removed node's object may
	// linger for a moment: wait for the wanted list.
	want := make([]string, len(nodes))
	for i, n := range nodes {
		want[i] = n + " Ready"
	}
	slices.Sort(want)
	var got, why []string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("the token cannot list nodes: %v", err)
		}
		got, why = got[:0], why[:0]
		for _, n := range list.Items {
			ready, reason := readiness(n)
			got = append(got, n.Name+" "+ready)
			why = append(why, n.Name+": "+reason)
		}
		slices.Sort(got)
		if slices.Equal(got, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("cluster nodes %v, want %v\n%s", got, want, strings.Join(why, "\n"))
	}
	t.Logf("cluster nodes: %v", got)

	server, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Client.GetVersion(ctx, info); err != nil || v.Version != server.GitVersion {
		t.Errorf("get version: %+v %v, the cluster says %s", v, err, server.GitVersion)
	}
	if size, err := p.Client.GetClusterSize(ctx, info); err != nil || size.Count != int64(len(nodes)) {
		t.Errorf("get cluster size: %+v %v, want %d", size, err, len(nodes))
	}
	return cs
}

// postCheckClient runs PostCheck and returns a client holding only what Rancher keeps of it, and the
// endpoint.
func postCheckClient(ctx context.Context, t *testing.T, p *driverproc.Rancher, info *types.ClusterInfo) (*kubernetes.Clientset, string) {
	t.Helper()
	checked, err := p.Client.PostCheck(ctx, info)
	if err != nil {
		t.Fatalf("post-check: %v", err)
	}
	ca, err := base64.StdEncoding.DecodeString(checked.RootCaCertificate)
	if err != nil || checked.ServiceAccountToken == "" || !strings.HasPrefix(checked.Endpoint, "https://") {
		t.Fatalf("post-check info: endpoint %q, token set %v, CA %v", checked.Endpoint, checked.ServiceAccountToken != "", err)
	}
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: checked.Endpoint, BearerToken: checked.ServiceAccountToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca}})
	if err != nil {
		t.Fatal(err)
	}
	return cs, checked.Endpoint
}

// cloudFlags are the kubelet's arguments (docker inspect's JSON) that give it a cloud provider: RKE
// passes an empty --cloud-provider= to every kubelet, which means none.
func cloudFlags(argsJSON []byte) string {
	var args, cloud []string
	if err := json.Unmarshal(argsJSON, &args); err != nil {
		return "unreadable arguments: " + err.Error()
	}
	for _, a := range args {
		if (strings.HasPrefix(a, "--cloud-provider=") && a != "--cloud-provider=") || strings.HasPrefix(a, "--cloud-config") {
			cloud = append(cloud, a)
		}
	}
	return strings.Join(cloud, " ")
}

// readiness is a node's Ready condition and what the kubelet says of it.
func readiness(n corev1.Node) (string, string) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return "Ready", c.Message
			}
			return "NotReady", c.Reason + ": " + c.Message
		}
	}
	return "Unknown", "no Ready condition"
}

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"made-by": "e2e"}}
}

// removeCluster removes the cluster through the driver and checks that it connected to no node and
// that nothing of the cluster is left: no object, host, cgroup or changed sysctl.
func removeCluster(t *testing.T, sim *harvestersim.Sim, p *driverproc.Rancher, info *types.ClusterInfo, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ssh := watchSSH(t, subnetOf(t, info))
	start := time.Now()
	if err := p.Client.Remove(ctx, info); err != nil {
		t.Fatalf("remove %s: %v", name, err)
	}
	t.Logf("remove of %s: %s", name, time.Since(start).Round(time.Millisecond))
	if n := ssh.connections(t); n != 0 {
		t.Errorf("remove of %s opened %d SSH connections", name, n)
	}
	noLeftovers(t, sim, name)
}

// noCloudProvider checks that a cluster built without Harvester's cloud provider is as clusters
// were before it: no cloud config on the node, a kubelet without cloud flags, no account on
// Harvester, none of its objects in the cluster.
func noCloudProvider(ctx context.Context, t *testing.T, sim *harvestersim.Sim, cs *kubernetes.Clientset, cluster, vm string) {
	t.Helper()
	if out, err := sim.Exec(ctx, "default/"+vm, "test", "-e", "/etc/kubernetes/cloud-config"); err == nil {
		t.Errorf("%s has a cloud config (%s)", vm, out)
	}
	if args, err := sim.Exec(ctx, "default/"+vm, "docker", "inspect", "--format", "{{json .Args}}", "kubelet"); err != nil || cloudFlags(args) != "" {
		t.Errorf("%s: kubelet runs with %s (%v)", vm, cloudFlags(args), err)
	}
	admin, err := kubernetes.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().ServiceAccounts("default").Get(ctx, cluster+"-cloud-provider", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the cloud provider's account on Harvester: %v", err)
	}
	if _, err := cs.AppsV1().Deployments("kube-system").Get(ctx, "harvester-cloud-provider", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the cloud provider's Deployment in the cluster: %v", err)
	}
}
