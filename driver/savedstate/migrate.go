package savedstate

import "time"

// migrateV1 carries a version-1 state over. What version 1 did not know stays empty: the cluster
// id (the next Create or Update finds or makes it in the anchor Secret and labels the cluster's
// objects with it), the VMs' uids (taken from Harvester on the next look) and the cluster's own
// identity on Harvester (made by the next Create or Update).
func migrateV1(in v1State) v2State {
	s := in.Spec
	out := v2State{
		Version: currentVersion,
		Spec: v2Spec{
			Name:   s.Name,
			Access: v2Credentials(s.Access),
			Template: v2Template{
				Namespace:      s.Template.Namespace,
				Image:          v2ObjectRef(s.Template.Image),
				Network:        v2ObjectRef(s.Template.Network),
				CPUs:           s.Template.CPUs,
				Memory:         s.Template.Memory,
				ReservedMemory: s.Template.ReservedMemory,
				DiskSize:       s.Template.DiskSize,
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
				Version:            s.Kubernetes.KubernetesVersion,
				NetworkPlugin:      s.Kubernetes.NetworkPlugin,
				ClusterCIDR:        s.Kubernetes.ClusterCIDR,
				ServiceCIDR:        s.Kubernetes.ServiceCIDR,
				ClusterDomain:      s.Kubernetes.ClusterDomain,
				IngressProvider:    s.Kubernetes.IngressProvider,
				DNSProvider:        s.Kubernetes.DNSProvider,
				MonitoringProvider: s.Kubernetes.MonitoringProvider,
				// Version 1 kept the option twice, for Docker and for RKE: either set means it was set.
				IgnoreDockerVersion: s.Kubernetes.IgnoreDockerVersion || s.Docker.IgnoreUnsupportedVersion,
			},
			Timeouts: v2Timeouts{
				VMReadySeconds:  int64(time.Duration(s.Timeouts.VMReady) / time.Second),
				SSHReadySeconds: int64(time.Duration(s.Timeouts.SSHReady) / time.Second),
			},
		},
		Cluster: v2Cluster{
			ClientKey:   in.Cluster.ClientKey,
			HostKeySeed: in.Cluster.HostKeySeed,
			RKE:         v2RKE(in.Cluster.RKE),
		},
	}
	for _, p := range s.Pools {
		out.Spec.Pools = append(out.Spec.Pools, v2Pool(p))
	}
	for _, n := range in.Cluster.Nodes {
		out.Cluster.Nodes = append(out.Cluster.Nodes, v2Node{Name: n.Name, Pool: n.Pool, Address: n.Address, HostKey: n.HostKey, Phase: n.Phase})
	}
	return out
}
