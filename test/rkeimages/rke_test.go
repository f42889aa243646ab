package rkeimages

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/logtail"
	"github.com/rancher/rke/cluster"
	"github.com/rancher/rke/metadata"
	rketypes "github.com/rancher/rke/types"
)

var loadMetadata = sync.OnceValue(func() error {
	metadata.RKEVersion = rke.Version // as the driver does: RKE's own default is its development version
	return metadata.InitMetadata(context.Background())
})

// TestTagsAreRKEs checks the tags against the system images of RKE's default Kubernetes version,
// the one the driver uses, and of PreviousVersion.
func TestTagsAreRKEs(t *testing.T) {
	if err := loadMetadata(); err != nil {
		t.Fatal(err)
	}
	if metadata.DefaultK8sVersion != "v1.32.7-rancher1-1" {
		t.Errorf("RKE's default Kubernetes version is %s: the tags below are v1.32.7-rancher1-1's", metadata.DefaultK8sVersion)
	}
	for version, kubeTag := range map[string]string{metadata.DefaultK8sVersion: KubeTag, PreviousVersion: PreviousKubeTag} {
		imgs := metadata.K8sVersionToRKESystemImages[version]
		for name, got := range map[string]string{
			"alpine": imgs.Alpine, "certDownloader": imgs.CertDownloader, "kubernetesServicesSidecar": imgs.KubernetesServicesSidecar,
			"nginxProxy": imgs.NginxProxy, "kubernetes": imgs.Kubernetes, "etcd": imgs.Etcd, "podInfraContainer": imgs.PodInfraContainer,
		} {
			want := map[string]string{"kubernetes": kubeTag, "etcd": EtcdTag, "podInfraContainer": PauseTag}[name]
			if want == "" {
				want = ToolsTag
			}
			if got != want {
				t.Errorf("RKE's %s image of %s is %s, the set has %s", name, version, got, want)
			}
		}
	}
}

// rkePlan is what RKE runs on a cluster with one node per role combination the driver makes,
// some with an internal address of their own.
func rkePlan(t *testing.T) rketypes.RKEPlan {
	t.Helper()
	if err := loadMetadata(); err != nil {
		t.Fatal(err)
	}
	cfg := &rketypes.RancherKubernetesEngineConfig{
		Version:    metadata.DefaultK8sVersion,
		Network:    rketypes.NetworkConfig{Plugin: "none"},
		Ingress:    rketypes.IngressConfig{Provider: "none"},
		DNS:        &rketypes.DNSConfig{Provider: "none"},
		Monitoring: rketypes.MonitoringConfig{Provider: "none"},
		// The driver's clusters run Harvester's cloud provider: RKE then passes cloud flags too.
		CloudProvider: rketypes.CloudProvider{Name: "harvester", HarvesterCloudProvider: &rketypes.HarvesterCloudProvider{CloudConfig: "apiVersion: v1\nkind: Config\n"}},
		Nodes: []rketypes.RKEConfigNode{
			{Address: "10.0.0.1", InternalAddress: "192.168.0.1", HostnameOverride: "cp", User: "u", Role: []string{"controlplane"}},
			{Address: "10.0.0.2", HostnameOverride: "etcd", User: "u", Role: []string{"etcd"}},
			{Address: "10.0.0.3", InternalAddress: "192.168.0.3", HostnameOverride: "worker", User: "u", Role: []string{"worker"}},
			{Address: "10.0.0.4", HostnameOverride: "all", User: "u", Role: []string{"etcd", "controlplane", "worker"}},
		},
	}
	info := map[string]types.Info{}
	for _, n := range cfg.Nodes {
		info[n.Address] = types.Info{DockerRootDir: "/var/lib/docker", OSType: "linux", Architecture: "x86_64"}
	}
	plan, err := cluster.GeneratePlan(context.Background(), cfg, info, map[string]interface{}{})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestKubernetesFlags checks that the v1.34 binaries accept every flag RKE passes for v1.32 once
// the entrypoint has dropped the ones it lists, and that each dropped flag is one they refuse.
func TestKubernetesFlags(t *testing.T) {
	cache, err := diskcache.Root()
	if err != nil {
		t.Fatal(err)
	}
	kube, err := ensureKubeBinaries(context.Background(), cache, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	ep := script(t, "opt/rke-tools/entrypoint.sh")
	seen := map[string]bool{}
	for _, node := range rkePlan(t).Nodes {
		for name, p := range node.Processes {
			if len(p.Command) < 2 || p.Command[0] != "/opt/rke-tools/entrypoint.sh" {
				continue
			}
			component := p.Command[1]
			seen[component] = true
			t.Run(node.Address+"/"+name, func(t *testing.T) {
				out, err := bash(t, ep, nil, `keep_flags "$@"; printf '%s\0' "${ARGS[@]}"`, append(p.Command[1:], p.Args...)...)
				if err != nil {
					t.Fatal(err)
				}
				args := append(splitNUL(out), "--help")
				if out, err := exec.Command(filepath.Join(kube, component), args...).CombinedOutput(); err != nil {
					t.Errorf("%s v%s refuses RKE's flags %q: %v\n%s", component, kubeVersion, args, err, logtail.Last(string(out), 5))
				}
			})
		}
	}
	for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"} {
		if !seen[c] {
			t.Errorf("RKE's plan runs no %s through the entrypoint", c)
		}
		removed, err := bash(t, ep, nil, `removed_flags "$1"`, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range strings.Fields(removed) {
			out, err := exec.Command(filepath.Join(kube, c), "--"+f+"=", "--help").CombinedOutput()
			if err == nil || !strings.Contains(string(out), "unknown flag") {
				t.Errorf("the entrypoint drops --%s, but %s v%s accepts it: %s", f, c, kubeVersion, logtail.Last(string(out), 2))
			}
		}
	}
	if _, err := os.Stat(filepath.Join(kube, "kubectl")); err != nil {
		t.Errorf("kubectl (RKE reads its state with it in the kubelet image): %v", err)
	}
}
