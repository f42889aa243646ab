// Package provision turns a cluster Spec into running VMs on Harvester with Docker and Kubernetes
// on them, and takes them down again. It composes the harvester, ssh, docker, rke and kubeaccess
// packages; the driver package translates Rancher's options into a Spec.
package provision

import (
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/addons"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/docker"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

// Spec is the desired cluster.
type Spec struct {
	// Name identifies the cluster (Rancher's cluster ID or the CLI's name); every object on Harvester
	// carries it as a label.
	Name       string
	Access     harvester.Credentials
	Template   harvester.VMTemplate
	Pools      []Pool
	SSH        SSH
	Docker     docker.Config
	Kubernetes rke.Options
	// Registry is where RKE pulls its system images from; its zero value means their public registries.
	Registry Registry
	// PrepullImages pulls the images RKE needs on each node as soon as its Docker is ready, while
	// the other nodes may still be booting.
	PrepullImages bool
	// CloudProvider is Harvester's cloud provider and CSI driver in the built cluster.
	CloudProvider CloudProvider
	// APIEndpoint is the address the cluster's API is reached at.
	APIEndpoint APIEndpoint
	Timeouts    Timeouts
}

// API endpoint modes.
const (
	EndpointNode         = ""              // the first control-plane node's address, as RKE gives it
	EndpointLoadBalancer = "load-balancer" // a Harvester load balancer in front of the control planes
	EndpointExternal     = "external"      // an address the user manages
)

// APIEndpoint is the one address of the cluster's API, which survives the loss of a control plane
// when it is a load balancer's.
type APIEndpoint struct {
	Mode    string
	Address string // EndpointExternal: an IP address or DNS name in front of the control planes' port 6443
	IPPool  string // EndpointLoadBalancer: the IPPool its address comes from; empty means DHCP
}

// CloudProvider gives the built cluster LoadBalancer services backed by Harvester load balancers
// and persistent volumes backed by Harvester volumes.
type CloudProvider struct {
	Enabled bool
	// APIURL is Harvester's API as the cluster's nodes reach it; empty means the server of the
	// Harvester access, or Harvester's VIP when that server is Rancher's proxy.
	APIURL string
	// Images override the images of the pinned charts; empty fields keep them.
	Images addons.Images
}

// Registry is a private registry made RKE's default: every system image is pulled from it, and
// Docker on every node trusts its CA.
type Registry struct {
	URL      string // host[:port]
	Username string // with Password; both empty: pulls without credentials
	Password string
	CACert   []byte // PEM; empty: the nodes' trusted CAs
}

// Pool is a group of identical nodes with the same Kubernetes roles.
type Pool struct {
	Name  string
	Count int
	Roles []string // rke.RoleEtcd, rke.RoleControlPlane, rke.RoleWorker
}

// SSH is how the driver logs in to the nodes.
type SSH struct {
	User string
	// PrivateKey is the user's own key (PEM); empty means the driver generates one per cluster.
	PrivateKey []byte
	// TrustOnFirstUse records host keys on first connection instead of injecting them.
	TrustOnFirstUse bool
}

// Timeouts bound the waits of Create and Update.
type Timeouts struct {
	VMReady  time.Duration
	SSHReady time.Duration
}

// NodeCount is the number of nodes the spec asks for.
func (s Spec) NodeCount() int {
	n := 0
	for _, p := range s.Pools {
		n += p.Count
	}
	return n
}
