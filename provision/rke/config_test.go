package rke

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rancher/rke/cluster"
	"github.com/rancher/rke/types"
)

// rkeAccepts runs RKE's own defaulting and validation (cluster.InitClusterObject ends in
// ValidateCluster); it needs no reachable node.
func rkeAccepts(t *testing.T, cfg *types.RancherKubernetesEngineConfig) *cluster.Cluster {
	t.Helper()
	flags := cluster.GetExternalFlags(false, false, false, false, "", filepath.Join(t.TempDir(), clusterFileName))
	c, err := cluster.InitClusterObject(testContext(t), cfg.DeepCopy(), flags, "")
	if err != nil {
		t.Fatalf("RKE rejects the generated configuration: %v", err)
	}
	return c
}

func TestBuildConfigLayouts(t *testing.T) {
	tests := []struct {
		name                     string
		nodes                    []Node
		etcd, controlPlane, work int
	}{
		{"one node with all roles", layout(pool{"all", 1, allRoles}), 1, 1, 1},
		{"three etcd+controlplane, two workers", layout(pool{"cp", 3, etcdAndCP}, pool{"w", 2, workerOnly}), 3, 3, 2},
		{"a node per role and worker-only nodes", layout(
			pool{"etcd", 1, []string{RoleEtcd}}, pool{"cp", 1, []string{RoleControlPlane}}, pool{"w", 3, workerOnly}), 1, 1, 3},
		{"thirty nodes", layout(pool{"cp", 3, etcdAndCP}, pool{"w", 27, workerOnly}), 3, 3, 27},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := buildConfig(Config{Nodes: tt.nodes})
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range cfg.Nodes {
				want := tt.nodes[i]
				if n.HostnameOverride != want.Name || n.Address != want.Address || n.User != want.User ||
					!slices.Equal(n.Role, want.Roles) || n.SSHKey != "" {
					t.Errorf("node %d = %+v, want it from %+v without any SSH key", i, n, want)
				}
			}
			c := rkeAccepts(t, cfg)
			if len(c.EtcdHosts) != tt.etcd || len(c.ControlPlaneHosts) != tt.controlPlane || len(c.WorkerHosts) != tt.work {
				t.Errorf("RKE sees %d etcd, %d controlplane, %d worker hosts, want %d, %d, %d",
					len(c.EtcdHosts), len(c.ControlPlaneHosts), len(c.WorkerHosts), tt.etcd, tt.controlPlane, tt.work)
			}
		})
	}
}

func TestBuildConfigInternalAddress(t *testing.T) {
	nodes := layout(pool{"all", 1, allRoles})
	nodes[0].InternalAddress = "10.0.0.5"
	cfg, err := buildConfig(Config{Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	c := rkeAccepts(t, cfg)
	if got := c.EtcdHosts[0].InternalAddress; got != "10.0.0.5" {
		t.Errorf("internal address = %q, want 10.0.0.5", got)
	}
}

func TestBuildConfigOptions(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		check func(t *testing.T, c *cluster.Cluster)
	}{
		{"defaults", Options{}, func(t *testing.T, c *cluster.Cluster) {
			want := Options{
				KubernetesVersion: DefaultVersion(), NetworkPlugin: "canal", ClusterCIDR: "10.42.0.0/16",
				ServiceCIDR: "10.43.0.0/16", ClusterDomain: "cluster.local", IngressProvider: "nginx",
				DNSProvider: "coredns", MonitoringProvider: "metrics-server",
			}
			if got := options(c); got != want {
				t.Errorf("RKE cluster has %+v, want %+v", got, want)
			}
			if c.ClusterDNSServer != "10.43.0.10" {
				t.Errorf("cluster DNS server = %s, want RKE's default 10.43.0.10", c.ClusterDNSServer)
			}
		}},
		{"calico", Options{NetworkPlugin: "calico"}, plugin("calico")},
		{"flannel", Options{NetworkPlugin: "flannel"}, plugin("flannel")},
		{"no network plugin", Options{NetworkPlugin: "none"}, plugin("none")},
		{"custom networks", Options{ClusterCIDR: "172.16.0.0/16", ServiceCIDR: "172.17.0.0/20"}, func(t *testing.T, c *cluster.Cluster) {
			if c.ClusterCIDR != "172.16.0.0/16" || c.Services.KubeAPI.ServiceClusterIPRange != "172.17.0.0/20" ||
				c.Services.KubeController.ServiceClusterIPRange != "172.17.0.0/20" {
				t.Errorf("networks = pods %s, services %s/%s", c.ClusterCIDR,
					c.Services.KubeAPI.ServiceClusterIPRange, c.Services.KubeController.ServiceClusterIPRange)
			}
			if c.ClusterDNSServer != "172.17.0.10" {
				t.Errorf("cluster DNS server = %s, want 172.17.0.10", c.ClusterDNSServer)
			}
			if got := c.KubernetesServiceIP[0].String(); got != "172.17.0.1" {
				t.Errorf("kubernetes service IP = %s, want 172.17.0.1", got)
			}
		}},
		{"cluster domain", Options{ClusterDomain: "k8s.example.internal"}, func(t *testing.T, c *cluster.Cluster) {
			if c.ClusterDomain != "k8s.example.internal" {
				t.Errorf("cluster domain = %s", c.ClusterDomain)
			}
		}},
		{"no add-ons", Options{IngressProvider: "none", DNSProvider: "none", MonitoringProvider: "none"}, func(t *testing.T, c *cluster.Cluster) {
			if c.Ingress.Provider != "none" || c.DNS.Provider != "none" || c.Monitoring.Provider != "none" {
				t.Errorf("add-ons = ingress %s, dns %s, monitoring %s", c.Ingress.Provider, c.DNS.Provider, c.Monitoring.Provider)
			}
		}},
		{"kube-dns", Options{DNSProvider: "kube-dns"}, func(t *testing.T, c *cluster.Cluster) {
			if c.DNS.Provider != "kube-dns" {
				t.Errorf("dns = %s", c.DNS.Provider)
			}
		}},
		{"ignore docker version", Options{IgnoreDockerVersion: true}, func(t *testing.T, c *cluster.Cluster) {
			if !*c.IgnoreDockerVersion || !c.EtcdHosts[0].IgnoreDockerVersion {
				t.Error("docker version check still on")
			}
		}},
	}
	for _, v := range CurrentVersions() {
		tests = append(tests, struct {
			name  string
			opts  Options
			check func(t *testing.T, c *cluster.Cluster)
		}{"version " + v, Options{KubernetesVersion: v}, func(t *testing.T, c *cluster.Cluster) {
			if c.Version != v || c.SystemImages.Kubernetes == "" {
				t.Errorf("version %s with kubernetes image %q", c.Version, c.SystemImages.Kubernetes)
			}
		}})
	}
	nodes := layout(pool{"cp", 1, etcdAndCP}, pool{"w", 2, workerOnly})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := buildConfig(Config{Nodes: nodes, Options: tt.opts})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, rkeAccepts(t, cfg))
		})
	}
}

func plugin(name string) func(*testing.T, *cluster.Cluster) {
	return func(t *testing.T, c *cluster.Cluster) {
		if c.Network.Plugin != name {
			t.Errorf("network plugin = %s, want %s", c.Network.Plugin, name)
		}
	}
}

// options reads the settings back from what RKE made of the configuration.
func options(c *cluster.Cluster) Options {
	return Options{
		KubernetesVersion:  c.Version,
		NetworkPlugin:      c.Network.Plugin,
		ClusterCIDR:        c.ClusterCIDR,
		ServiceCIDR:        c.Services.KubeAPI.ServiceClusterIPRange,
		ClusterDomain:      c.ClusterDomain,
		IngressProvider:    c.Ingress.Provider,
		DNSProvider:        c.DNS.Provider,
		MonitoringProvider: c.Monitoring.Provider,
	}
}

func TestClusterDNSServer(t *testing.T) {
	for cidr, want := range map[string]string{
		"10.43.0.0/16":   "10.43.0.10",
		"172.17.0.0/20":  "172.17.0.10",
		"10.96.0.0/12":   "10.96.0.10",
		"192.168.5.0/24": "192.168.5.10",
	} {
		got, err := clusterDNSServer(cidr)
		if err != nil || got != want {
			t.Errorf("clusterDNSServer(%s) = %s, %v; want %s", cidr, got, err, want)
		}
		if !netip.MustParsePrefix(cidr).Contains(netip.MustParseAddr(got)) {
			t.Errorf("%s outside %s", got, cidr)
		}
	}
}

// With a cloud config, RKE runs Kubernetes with an external cloud provider and writes the config
// to every node.
func TestBuildConfigCloudProvider(t *testing.T) {
	const kubeconfig = "apiVersion: v1\nkind: Config\n"
	cfg, err := buildConfig(Config{Nodes: layout(pool{"all", 1, allRoles}), CloudConfig: kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	c := rkeAccepts(t, cfg)
	if c.CloudProvider.Name != "external" || c.CloudConfigFile != kubeconfig {
		t.Errorf("cloud provider %q with config %q", c.CloudProvider.Name, c.CloudConfigFile)
	}
	plain, err := buildConfig(Config{Nodes: layout(pool{"all", 1, allRoles})})
	if err != nil {
		t.Fatal(err)
	}
	if c := rkeAccepts(t, plain); c.CloudProvider.Name != "" || c.CloudConfigFile != "" {
		t.Errorf("without a cloud config: provider %q", c.CloudProvider.Name)
	}
}

// A registry becomes RKE's default one: every system image RKE derives is pulled from it.
func TestBuildConfigRegistry(t *testing.T) {
	tests := []struct {
		name     string
		registry Registry
		prefix   string
	}{
		{"none", Registry{}, ""},
		{"with credentials", Registry{URL: "registry.example.com:5000", User: "puller", Password: "s3cret"}, "registry.example.com:5000/"},
		{"anonymous", Registry{URL: "registry.example.com"}, "registry.example.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := buildConfig(Config{Nodes: layout(pool{"all", 1, allRoles}), Registry: tt.registry})
			if err != nil {
				t.Fatal(err)
			}
			c := rkeAccepts(t, cfg)
			if tt.registry.URL == "" {
				if len(cfg.PrivateRegistries) != 0 || strings.Contains(c.SystemImages.Kubernetes, "registry.example.com") {
					t.Errorf("registries %v, kubernetes image %s", len(cfg.PrivateRegistries), c.SystemImages.Kubernetes)
				}
				return
			}
			want := types.PrivateRegistry{URL: tt.registry.URL, User: tt.registry.User, Password: tt.registry.Password, IsDefault: true}
			if len(cfg.PrivateRegistries) != 1 || cfg.PrivateRegistries[0] != want {
				t.Errorf("private registries = %+v, want only %+v", cfg.PrivateRegistries, want)
			}
			for name, image := range map[string]string{"kubernetes": c.SystemImages.Kubernetes, "etcd": c.SystemImages.Etcd, "alpine": c.SystemImages.Alpine, "pause": c.SystemImages.PodInfraContainer} {
				if !strings.HasPrefix(image, tt.prefix) {
					t.Errorf("%s image %s does not come from %s", name, image, tt.registry.URL)
				}
			}
		})
	}
}

func TestRegistryStringHidesPassword(t *testing.T) {
	r := Registry{URL: "registry.example.com", User: "puller", Password: "s3cret"}
	for _, s := range []string{r.String(), fmt.Sprint(r), fmt.Sprintf("%v", Config{Registry: r})} {
		if strings.Contains(s, "s3cret") || !strings.Contains(s, "registry.example.com") {
			t.Errorf("%q", s)
		}
	}
}
