// Package rke turns a set of prepared nodes into a Kubernetes cluster with RKE (used as a
// library): it builds the RKE configuration, runs cluster up/remove and etcd snapshots, and keeps
// RKE's on-disk files (state, kubeconfig) as bytes the caller persists.
package rke

import "fmt"

// Roles a node can carry.
const (
	RoleEtcd         = "etcd"
	RoleControlPlane = "controlplane"
	RoleWorker       = "worker"
)

// Options are the Kubernetes settings of a cluster. Empty fields take RKE's defaults.
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

// Config is everything RKE needs to build or change a cluster. It holds no SSH key: the caller's
// dialers reach the nodes, and RKE keeps its configuration in the built cluster
// (kube-system/full-cluster-state) and in every etcd snapshot.
type Config struct {
	Nodes   []Node
	Options Options
	// CloudConfig, when set, is the kubeconfig of Harvester's cloud provider: RKE writes it to
	// /etc/kubernetes/cloud-config on every node and runs Kubernetes with an external cloud provider.
	CloudConfig string
	// SANs are extra names and addresses of the API server's certificate (its load balancer's).
	SANs []string
	// Registry, when its URL is set, is RKE's default registry: every system image is pulled from it.
	Registry Registry
}

// Registry is a private registry for RKE's system images.
type Registry struct {
	URL      string // host[:port], the prefix RKE puts before every system image
	User     string // empty: pulls without credentials
	Password string
}

// String keeps the password out of logs and errors.
func (r Registry) String() string {
	pw := ""
	if r.Password != "" {
		pw = ", Password: ***"
	}
	return fmt.Sprintf("rke.Registry{URL: %s, User: %s%s}", r.URL, r.User, pw)
}

// Files are RKE's on-disk artefacts, kept by the caller between calls.
type Files struct {
	State      []byte // cluster.rkestate
	Kubeconfig []byte // kube_config_cluster.yml
}

// String keeps the files' secrets (CA keys, admin credentials) out of logs and errors.
func (f Files) String() string {
	return fmt.Sprintf("rke.Files{State: %d bytes, Kubeconfig: %d bytes}", len(f.State), len(f.Kubeconfig))
}

// Result is a built cluster: where its API is and the admin credentials RKE issued.
type Result struct {
	Endpoint   string // https://<first control-plane address>:6443
	CACert     string // PEM
	ClientCert string // PEM
	ClientKey  string // PEM
	Files      Files
}

// String keeps the client key out of logs and errors.
func (r Result) String() string {
	return fmt.Sprintf("rke.Result{Endpoint: %s, %s}", r.Endpoint, r.Files)
}
