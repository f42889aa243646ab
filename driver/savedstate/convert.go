package savedstate

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/docker"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

// fromCluster is the persisted form of c.
func fromCluster(c Cluster) v2State {
	s, st := c.Spec, c.State
	out := v2State{
		Version: currentVersion,
		Spec: v2Spec{
			Name:   s.Name,
			Access: fromCredentials(s.Access),
			Template: v2Template{
				Namespace:      s.Template.Namespace,
				Image:          v2ObjectRef(s.Template.Image),
				Network:        v2ObjectRef(s.Template.Network),
				CPUs:           s.Template.CPUs,
				Memory:         quantityString(s.Template.Memory),
				ReservedMemory: quantityString(s.Template.ReservedMemory),
				DiskSize:       quantityString(s.Template.DiskSize),
				DiskBus:        s.Template.DiskBus,
				NamePrefix:     s.Template.NamePrefix,
				Description:    s.Template.Description,
				Labels:         s.Template.Labels,
				UserData:       s.Template.UserData,
				KeyPair:        s.Template.KeyPair,
			},
			SSH: v2SSH(s.SSH),
			Docker: v2Docker{
				InstallMethod:      s.Docker.InstallMethod,
				InstallURL:         s.Docker.InstallURL,
				RegistryMirrors:    s.Docker.RegistryMirrors,
				InsecureRegistries: s.Docker.InsecureRegistries,
				StorageDriver:      s.Docker.StorageDriver,
				Labels:             s.Docker.Labels,
				Options:            s.Docker.Options,
			},
			Kubernetes: v2Kubernetes{
				Version:             s.Kubernetes.KubernetesVersion,
				NetworkPlugin:       s.Kubernetes.NetworkPlugin,
				ClusterCIDR:         s.Kubernetes.ClusterCIDR,
				ServiceCIDR:         s.Kubernetes.ServiceCIDR,
				ClusterDomain:       s.Kubernetes.ClusterDomain,
				IngressProvider:     s.Kubernetes.IngressProvider,
				DNSProvider:         s.Kubernetes.DNSProvider,
				MonitoringProvider:  s.Kubernetes.MonitoringProvider,
				IgnoreDockerVersion: s.Kubernetes.IgnoreDockerVersion,
			},
			APIEndpoint: v2APIEndpoint(s.APIEndpoint),
			CloudProvider: v2CloudProvider{
				Enabled: s.CloudProvider.Enabled,
				APIURL:  s.CloudProvider.APIURL,
				Images:  s.CloudProvider.Images.ByComponent(),
			},
			Timeouts: v2Timeouts{
				VMReadySeconds:  int64(s.Timeouts.VMReady / time.Second),
				SSHReadySeconds: int64(s.Timeouts.SSHReady / time.Second),
			},
		},
		Cluster: v2Cluster{
			ID:          st.ClusterID,
			ClientKey:   st.ClientKey,
			HostKeySeed: st.HostKeySeed,
			Identity:    fromCredentials(st.Identity),
			CloudConfig: st.CloudConfig,
			APIAddress:  st.APIAddress,
			RKE:         v2RKE{State: st.RKE.State, Kubeconfig: st.RKE.Kubeconfig},
		},
	}
	out.Spec.NoImagePrepull = !s.PrepullImages
	if s.Registry.URL != "" {
		out.Spec.Registry = &v2Registry{URL: s.Registry.URL, Username: s.Registry.Username, Password: s.Registry.Password, CACert: s.Registry.CACert}
	}
	fromVMOptions(s.Template, &out.Spec.Template)
	for _, p := range s.Pools {
		out.Spec.Pools = append(out.Spec.Pools, v2Pool(p))
	}
	for _, n := range st.Nodes {
		out.Cluster.Nodes = append(out.Cluster.Nodes, v2Node{Name: n.Name, Pool: n.Pool, UID: n.UID, Address: n.Address, HostKey: n.HostKey, Phase: string(n.Phase)})
	}
	return out
}

// toCluster is the working form of s.
func toCluster(s v2State) (Cluster, error) {
	in := s.Spec
	var c Cluster
	memory, err := parseQuantity("memory", in.Template.Memory)
	if err != nil {
		return c, err
	}
	reserved, err := parseQuantity("reservedMemory", in.Template.ReservedMemory)
	if err != nil {
		return c, err
	}
	disk, err := parseQuantity("diskSize", in.Template.DiskSize)
	if err != nil {
		return c, err
	}
	c.Spec = provision.Spec{
		Name:   in.Name,
		Access: toCredentials(in.Access),
		Template: harvester.VMTemplate{
			Namespace:      in.Template.Namespace,
			Image:          harvester.ObjectRef(in.Template.Image),
			Network:        harvester.ObjectRef(in.Template.Network),
			CPUs:           in.Template.CPUs,
			Memory:         memory,
			ReservedMemory: reserved,
			DiskSize:       disk,
			DiskBus:        in.Template.DiskBus,
			NamePrefix:     in.Template.NamePrefix,
			Description:    in.Template.Description,
			Labels:         in.Template.Labels,
			UserData:       in.Template.UserData,
			KeyPair:        in.Template.KeyPair,
		},
		SSH: provision.SSH(in.SSH),
		Docker: docker.Config{
			InstallMethod:      in.Docker.InstallMethod,
			InstallURL:         in.Docker.InstallURL,
			RegistryMirrors:    in.Docker.RegistryMirrors,
			InsecureRegistries: in.Docker.InsecureRegistries,
			StorageDriver:      in.Docker.StorageDriver,
			Labels:             in.Docker.Labels,
			Options:            in.Docker.Options,
		},
		Kubernetes: rke.Options{
			KubernetesVersion:   in.Kubernetes.Version,
			NetworkPlugin:       in.Kubernetes.NetworkPlugin,
			ClusterCIDR:         in.Kubernetes.ClusterCIDR,
			ServiceCIDR:         in.Kubernetes.ServiceCIDR,
			ClusterDomain:       in.Kubernetes.ClusterDomain,
			IngressProvider:     in.Kubernetes.IngressProvider,
			DNSProvider:         in.Kubernetes.DNSProvider,
			MonitoringProvider:  in.Kubernetes.MonitoringProvider,
			IgnoreDockerVersion: in.Kubernetes.IgnoreDockerVersion,
		},
		CloudProvider: provision.CloudProvider{Enabled: in.CloudProvider.Enabled, APIURL: in.CloudProvider.APIURL},
		APIEndpoint:   provision.APIEndpoint(in.APIEndpoint),
		Timeouts: provision.Timeouts{
			VMReady:  time.Duration(in.Timeouts.VMReadySeconds) * time.Second,
			SSHReady: time.Duration(in.Timeouts.SSHReadySeconds) * time.Second,
		},
	}
	c.Spec.PrepullImages = !in.NoImagePrepull
	if r := in.Registry; r != nil {
		c.Spec.Registry = provision.Registry{URL: r.URL, Username: r.Username, Password: r.Password, CACert: orNil(r.CACert)}
	}
	for component, image := range in.CloudProvider.Images {
		field := c.Spec.CloudProvider.Images.Component(component)
		if field == nil {
			return c, fmt.Errorf("decode state: spec.cloudProvider.images: unknown component %q", component)
		}
		*field = image
	}
	if err := toVMOptions(in.Template, &c.Spec.Template); err != nil {
		return c, err
	}
	for _, p := range in.Pools {
		c.Spec.Pools = append(c.Spec.Pools, provision.Pool(p))
	}
	cl := s.Cluster
	c.State = provision.State{
		ClusterID:   cl.ID,
		ClientKey:   cl.ClientKey,
		HostKeySeed: cl.HostKeySeed,
		Identity:    toCredentials(cl.Identity),
		CloudConfig: orNil(cl.CloudConfig),
		APIAddress:  cl.APIAddress,
		RKE:         rke.Files{State: cl.RKE.State, Kubeconfig: cl.RKE.Kubeconfig},
	}
	for _, n := range cl.Nodes {
		c.State.Nodes = append(c.State.Nodes, provision.Node{Name: n.Name, Pool: n.Pool, UID: n.UID, Address: n.Address, HostKey: n.HostKey, Phase: provision.Phase(n.Phase)})
	}
	return c, nil
}

func fromCredentials(c harvester.Credentials) v2Credentials {
	return v2Credentials{Kubeconfig: c.Kubeconfig, Server: c.Server, Token: c.Token, CAData: c.CAData, CertData: c.CertData, KeyData: c.KeyData, Insecure: c.Insecure}
}

func toCredentials(c v2Credentials) harvester.Credentials {
	return harvester.Credentials{Kubeconfig: orNil(c.Kubeconfig), Server: c.Server, Token: c.Token,
		CAData: orNil(c.CAData), CertData: orNil(c.CertData), KeyData: orNil(c.KeyData), Insecure: c.Insecure}
}

// orNil reads an empty value (version 1 wrote some as "") as absent.
func orNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// quantityString is the canonical form of q; the zero quantity (unset) is empty.
func quantityString(q resource.Quantity) string {
	if q.IsZero() {
		return ""
	}
	return q.String()
}

// parseQuantity reads a quantity of the state; empty and version 1's "0" are the zero quantity.
func parseQuantity(field, s string) (resource.Quantity, error) {
	if s == "" || s == "0" {
		return resource.Quantity{}, nil
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return q, fmt.Errorf("decode state: spec.template.%s: %w", field, err)
	}
	return q, nil
}
