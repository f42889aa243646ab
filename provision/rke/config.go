package rke

import (
	"fmt"
	"net/netip"

	"github.com/rancher/rke/cluster"
	"github.com/rancher/rke/types"
)

// clusterDNSHost is the offset of the cluster DNS service in the service network, as in RKE's
// default 10.43.0.10 for 10.43.0.0/16.
const clusterDNSHost = 10

// withDefaults fills the empty options with RKE's defaults, so the configuration and the state
// name them explicitly.
func (o Options) withDefaults() Options {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&o.KubernetesVersion, DefaultVersion())
	def(&o.NetworkPlugin, cluster.DefaultNetworkPlugin)
	def(&o.ClusterCIDR, cluster.DefaultClusterCIDR)
	def(&o.ServiceCIDR, cluster.DefaultServiceClusterIPRange)
	def(&o.ClusterDomain, cluster.DefaultClusterDomain)
	def(&o.IngressProvider, cluster.DefaultIngressController)
	def(&o.DNSProvider, cluster.CoreDNSProvider)
	def(&o.MonitoringProvider, cluster.DefaultMonitoringProvider)
	return o
}

// buildConfig validates c and turns it into RKE's cluster configuration.
func buildConfig(c Config) (*types.RancherKubernetesEngineConfig, error) {
	if err := ValidateConfig(c); err != nil {
		return nil, err
	}
	o := c.Options.withDefaults()
	dns, err := clusterDNSServer(o.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	ignoreDocker := o.IgnoreDockerVersion
	cfg := &types.RancherKubernetesEngineConfig{
		Version:             o.KubernetesVersion,
		IgnoreDockerVersion: &ignoreDocker,
		Network:             types.NetworkConfig{Plugin: o.NetworkPlugin},
		Ingress:             types.IngressConfig{Provider: o.IngressProvider},
		DNS:                 &types.DNSConfig{Provider: o.DNSProvider},
		Monitoring:          types.MonitoringConfig{Provider: o.MonitoringProvider},
		Services: types.RKEConfigServices{
			KubeAPI: types.KubeAPIService{ServiceClusterIPRange: o.ServiceCIDR},
			KubeController: types.KubeControllerService{
				ClusterCIDR:           o.ClusterCIDR,
				ServiceClusterIPRange: o.ServiceCIDR,
			},
			Kubelet: types.KubeletService{ClusterDomain: o.ClusterDomain, ClusterDNSServer: dns},
		},
		Nodes: make([]types.RKEConfigNode, len(c.Nodes)),
	}
	cfg.Authentication.SANs = append([]string(nil), c.SANs...)
	if c.CloudConfig != "" {
		cfg.CloudProvider = types.CloudProvider{Name: "harvester", HarvesterCloudProvider: &types.HarvesterCloudProvider{CloudConfig: c.CloudConfig}}
	}
	if c.Registry.URL != "" {
		// As the default registry, RKE prefixes every system image with its URL and pulls with
		// its credentials; it also hands them to the kubelet for the images the kubelet pulls.
		cfg.PrivateRegistries = []types.PrivateRegistry{{
			URL: c.Registry.URL, User: c.Registry.User, Password: c.Registry.Password, IsDefault: true,
		}}
	}
	for i, n := range c.Nodes {
		cfg.Nodes[i] = types.RKEConfigNode{
			HostnameOverride: n.Name,
			Address:          n.Address,
			InternalAddress:  n.InternalAddress,
			User:             n.User,
			Role:             append([]string(nil), n.Roles...),
		}
	}
	return cfg, nil
}

// clusterDNSServer is the address of the cluster DNS service in the service network; RKE derives
// the kubernetes service address (the first one) itself.
func clusterDNSServer(serviceCIDR string) (string, error) {
	p, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return "", fmt.Errorf("service network %q: %w", serviceCIDR, err)
	}
	a := p.Masked().Addr()
	for range clusterDNSHost {
		a = a.Next()
	}
	return a.String(), nil
}
