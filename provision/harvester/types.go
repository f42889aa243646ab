// Package harvester creates, watches and removes the virtual machines of a cluster on Harvester
// through its Kubernetes API (KubeVirt VirtualMachines, image-backed PVCs, cloud-init Secrets).
//
// The orchestrator's order: NewClient, Preflight (nothing created yet), LoadOrCreateAnchor (the
// first object of a cluster), Reconcile, WaitForAddresses. To scale down: Plan, drain Plan.Surplus,
// DeleteNodes, then Reconcile. Remove needs only the cluster name. Every object carries the label
// LabelCluster, and every call can be repeated after being cut short.
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
}

// Pool is a group of identical VMs; Count is the desired number.
type Pool struct {
	Name  string
	Count int
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

// Cluster is everything needed to reconcile the VMs of one cluster.
type Cluster struct {
	Name     string // the cluster's identity; every object carries it as a label
	Template VMTemplate
	Pools    []Pool
	Login    Login
}

// Node is one VM of the cluster as observed on Harvester.
type Node struct {
	Name    string // VM name, also the Kubernetes node name
	Pool    string
	Index   int    // n in <prefix>-<pool>-<n>
	Address string // IPv4 address of the first interface, empty until known
}

// Environment is what the pre-flight checks learned from Harvester that the VM specs need.
type Environment struct {
	StorageClass string // the image's status.storageClassName, for the root disk's PVC
	KeyPairKey   string // the KeyPair's spec.publicKey; empty without a key pair
}

// Plan is what a Reconcile would do: Surplus are the VMs it would delete (highest index first),
// Missing the VMs it would create (their Address is empty).
type Plan struct {
	Keep    []Node
	Missing []Node
	Surplus []Node
}
