// Package harvester creates, watches and removes the virtual machines of a cluster on Harvester
// through its Kubernetes API (KubeVirt VirtualMachines, image-backed PVCs, cloud-init Secrets).
//
// The orchestrator's order: NewClient, Preflight (nothing created yet), LoadOrCreateAnchor (the
// first object of a cluster; it holds the cluster's id), AdoptLegacy, List, Plan, DeleteNodes (the
// surplus, after draining them), CreateNodes (the missing), WaitForAddresses, RecordFacts as nodes
// advance. Remove needs only the cluster's Owner. Every object carries the labels LabelCluster and
// LabelClusterID, and every call can be repeated after being cut short.
package harvester

import (
	"k8s.io/apimachinery/pkg/api/resource"
)

// Credentials say how to reach Harvester's Kubernetes API. Exactly one way is set: a kubeconfig,
// a server URL with a bearer token, or a server URL with a client certificate and key.
type Credentials struct {
	Kubeconfig []byte // kubeconfig file content
	Server     string // API URL, e.g. https://harvester.example.com:6443
	Token      string
	CAData     []byte // PEM; empty means the system roots
	CertData   []byte // PEM client certificate
	KeyData    []byte // PEM client key
	// Insecure skips TLS verification; only ever set when the user asked for it.
	Insecure bool
}

// ObjectRef names a namespaced Harvester object such as an image, a network or a key pair.
type ObjectRef struct {
	Namespace string
	Name      string
}

func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Name
	}
	return r.Namespace + "/" + r.Name
}

// IsZero reports whether no object is referenced (e.g. the pod network).
func (r ObjectRef) IsZero() bool { return r.Name == "" }

// VMTemplate is what every node VM of a cluster has in common.
type VMTemplate struct {
	Namespace      string    // where the VMs, PVCs and Secrets live
	Image          ObjectRef // a harvesterhci.io VirtualMachineImage
	Network        ObjectRef // a NetworkAttachmentDefinition; zero = the pod network
	CPUs           int
	Memory         resource.Quantity
	ReservedMemory resource.Quantity // zero = Harvester's default
	DiskSize       resource.Quantity
	DiskBus        string // virtio, scsi or sata
	NamePrefix     string // VM names are <prefix>-<pool>-<n>
	Description    string
	Labels         map[string]string // extra labels on the VMs
	UserData       string            // the user's extra #cloud-config, merged into the driver's
	KeyPair        string            // an existing harvesterhci.io KeyPair in Namespace whose key is also authorised

	// Beyond one image disk and one network (vmoptions.go).
	NICs            []NIC  // empty: one NIC on Network
	Disks           []Disk // extra disks after the root disk
	StaticAddresses []AddressPool
	NetworkData     string // the user's cloud-init network-config, merged into the driver's
	AddressNetwork  string // the network whose NIC's address SSH and RKE use; empty: the first NIC
	Hardware        Hardware
	Placement       Placement
}

// Pool is a group of identical VMs; Count is the desired number.
type Pool struct {
	Name  string
	Count int
	// ControlPlane pools' VMs carry LabelControlPlane: a load balancer for the API selects them.
	ControlPlane bool
}

// HostKey is the SSH host key a VM is given through cloud-init, so its identity is known before it boots.
type HostKey struct {
	PrivatePEM    string
	AuthorizedKey string // public half, "ssh-ed25519 AAAA..."
}

// Login is how the driver logs in to the VMs.
type Login struct {
	User           string
	AuthorizedKeys []string                         // authorized_keys lines for User
	HostKey        func(vm string) (HostKey, error) // nil: the image generates its own host keys
}

// Cluster is everything needed to create the VMs of one cluster.
type Cluster struct {
	Owner    Owner // every object carries its labels
	Template VMTemplate
	Pools    []Pool
	Login    Login
}

// VM is one VM of the cluster as observed on Harvester.
type VM struct {
	Name    string // also the Kubernetes node name
	Pool    string
	Index   int    // n in <prefix>-<pool>-<n>
	UID     string // changes when a VM is deleted and made again under the same name
	Address string // IPv4 address of the first interface, empty until known
	// StaticAddress is the static address (<ip>/<prefix>) recorded on the VM, or given to a missing VM
	// by PlanVMs; empty without static addresses.
	StaticAddress string
	// Terminating VMs still hold their names but are on their way out.
	Terminating bool
	// Facts are what the driver recorded on this VM (see RecordFacts).
	Facts Facts
}

// Facts are what the driver learned about a node, kept on its VM so that a call whose ClusterInfo
// Rancher dropped (a failed Update) still finds them. They go with the VM: a VM made again under
// the same name starts with none.
type Facts struct {
	HostKey string   // the SSH host key trusted on first use, authorized_keys format
	Phase   string   // the last step the node completed (the orchestrator's phase names)
	Roles   []string // its Kubernetes roles when it last joined
}

// Environment is what the pre-flight checks learned from Harvester that the VM specs need.
type Environment struct {
	StorageClass string // the image's status.storageClassName, for the root disk's PVC
	KeyPairKey   string // the KeyPair's spec.publicKey; empty without a key pair
	// ImageStorageClasses are the storage classes of the extra disks' images, by <namespace>/<name>.
	ImageStorageClasses map[string]string
}

// Plan compares a cluster's VMs with its pools: Keep are the VMs wanted, Missing the VMs to create
// (only Name, Pool and Index set), Surplus the VMs to delete (highest index first).
type Plan struct {
	Keep    []VM
	Missing []VM
	Surplus []VM
}
