// Package rke turns a set of prepared nodes into a Kubernetes cluster with RKE (used as a
// library): it builds the RKE configuration, runs cluster up/remove and etcd snapshots, and keeps
// RKE's on-disk files (state, kubeconfig) as bytes the caller persists.
package rke

// Roles a node can carry.
const (
	RoleEtcd         = "etcd"
	RoleControlPlane = "controlplane"
	RoleWorker       = "worker"
)

// Options are the Kubernetes settings of a cluster.
type Options struct {
	KubernetesVersion   string // an RKE version string such as v1.32.7-rancher1-1; empty = RKE's default
	NetworkPlugin       string // canal, calico, flannel or none
	ClusterCIDR         string
	ServiceCIDR         string
	ClusterDomain       string
	IngressProvider     string // nginx or none
	DNSProvider         string // coredns, kube-dns or none
	MonitoringProvider  string // metrics-server or none
	IgnoreDockerVersion bool
}

// Node is one prepared node of the cluster.
type Node struct {
	Name            string // hostname override and node name
	Address         string // address RKE connects to
	InternalAddress string // address for cluster traffic; empty = Address
	User            string // SSH user
	Roles           []string
}

// Files are RKE's on-disk artefacts, kept by the caller between calls.
type Files struct {
	State      []byte // cluster.rkestate
	Kubeconfig []byte // kube_config_cluster.yml
}
