package provision

import (
	"cmp"
	"net"
	"slices"
	"strconv"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

// State is what the driver must remember about a cluster between calls. Each call runs in a fresh
// process, so everything Update, Remove, PostCheck and the snapshot calls need is here.
type State struct {
	// ClusterID tells this cluster's objects on Harvester from those of another cluster of the same
	// name: it is made at the first Create, kept in the anchor Secret and set as a label on every object.
	ClusterID string
	// ClientKey is the SSH private key (PEM) the driver logs in with; HostKeySeed derives each node's
	// SSH host key. Both are also kept in the cluster's anchor Secret on Harvester, so a Create that
	// was killed before returning anything resumes with the same keys.
	ClientKey   []byte
	HostKeySeed []byte
	// Identity is the cluster's own least-privilege credential on Harvester (a service account's
	// token), made at Create so that later calls do not depend on the user's token staying valid.
	Identity harvester.Credentials
	Nodes    []Node
	// APIAddress is the cluster's API address when it has one of its own (a load balancer's, or the
	// user's): in the API server's certificate and the endpoint of the kubeconfig handed out.
	APIAddress string
	// CloudConfig is the kubeconfig of the built cluster's cloud provider (its own account on
	// Harvester): every RKE run needs it, snapshot restores too, which do not reach Harvester.
	CloudConfig []byte
	// RKE holds RKE's cluster.rkestate and the admin kubeconfig (endpoint, CA and client
	// certificate of the built cluster) after the first successful cluster up.
	RKE rke.Files
}

// Node is one node of the cluster as last observed.
type Node struct {
	Name string
	Pool string
	// UID is the VM's uid on Harvester: a VM re-created under the same name is another machine,
	// with another host key and nothing installed.
	UID     string
	Address string
	// HostKey is a host key recorded on first use (only with SSH.TrustOnFirstUse), authorized_keys format.
	HostKey string
	// Phase is the last step the node completed.
	Phase Phase
}

// Phase is how far a node has come.
type Phase string

// Phases in order.
const (
	PhaseVM         Phase = "vm"         // VM exists
	PhaseAddress    Phase = "address"    // VM runs and has an IPv4 address
	PhaseSSH        Phase = "ssh"        // accepts SSH logins
	PhaseDocker     Phase = "docker"     // Docker runs
	PhaseKubernetes Phase = "kubernetes" // member of the Kubernetes cluster
)

// observe merges a complete listing of the cluster's VMs into the node records. A record follows
// its VM by uid: a VM made again under the same name is another machine and starts afresh. What
// was recorded on a VM (host key, phase) fills in what the records lack, since the records may
// come from a ClusterInfo older than the VM (Rancher drops the ClusterInfo of a failed Update).
// Records of VMs no longer there are dropped. Never call it with the result of a failed listing.
func (s *State) observe(vms []harvester.VM) {
	known := make(map[string]Node, len(s.Nodes))
	for _, n := range s.Nodes {
		known[n.Name] = n
	}
	nodes := make([]Node, 0, len(vms))
	for _, vm := range vms {
		if vm.Terminating {
			continue
		}
		nodes = append(nodes, merged(known[vm.Name], vm))
	}
	s.Nodes = nodes
}

// addCreated records VMs just created or adopted, keeping the other records.
func (s *State) addCreated(vms []harvester.VM) {
	for _, vm := range vms {
		i := s.index(vm.Name)
		if i < 0 {
			s.Nodes = append(s.Nodes, merged(Node{}, vm))
			continue
		}
		s.Nodes[i] = merged(s.Nodes[i], vm)
	}
}

// sortNodes orders the records by the cluster's pool order, then by index, whatever order the
// VMs were listed or created in: a resumed call then reports the nodes as the first call did.
func (s *State) sortNodes(pools []string) {
	order := make(map[string]int, len(pools))
	for i, p := range pools {
		order[p] = i
	}
	slices.SortStableFunc(s.Nodes, func(a, b Node) int {
		if c := cmp.Compare(order[a.Pool], order[b.Pool]); c != 0 {
			return c
		}
		i, _ := harvester.NodeIndex(a.Name, a.Pool)
		j, _ := harvester.NodeIndex(b.Name, b.Pool)
		return cmp.Compare(i, j)
	})
}

// merged is the record of vm, given the record known under its name (zero if none).
func merged(known Node, vm harvester.VM) Node {
	n := known
	if n.Name == "" || (n.UID != "" && n.UID != vm.UID) {
		n = Node{Name: vm.Name, Pool: vm.Pool, Phase: PhaseVM}
	}
	n.UID, n.Pool = vm.UID, vm.Pool
	if n.HostKey == "" {
		n.HostKey = vm.Facts.HostKey
	}
	if p := Phase(vm.Facts.Phase); phaseOrder[p] > 0 {
		n.advance(p)
	}
	if vm.Address != "" {
		n.Address = vm.Address
	}
	return n
}

func (s *State) index(name string) int {
	for i, n := range s.Nodes {
		if n.Name == name {
			return i
		}
	}
	return -1
}

// vms are the nodes as VMs, for the Harvester client.
func (s *State) vms() []harvester.VM {
	out := make([]harvester.VM, len(s.Nodes))
	for i, n := range s.Nodes {
		out[i] = harvester.VM{Name: n.Name, Pool: n.Pool, UID: n.UID, Address: n.Address}
	}
	return out
}

// mergeAddresses records the addresses of running VMs.
func (s *State) mergeAddresses(vms []harvester.VM) {
	addr := make(map[string]string, len(vms))
	for _, vm := range vms {
		addr[vm.Name] = vm.Address
	}
	for i, n := range s.Nodes {
		if a := addr[n.Name]; a != "" {
			s.Nodes[i].Address = a
			s.Nodes[i].advance(PhaseAddress)
		}
	}
}

// setPhase marks the named nodes as having completed phase.
func (s *State) setPhase(names []string, phase Phase) {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	for i := range s.Nodes {
		if set[s.Nodes[i].Name] {
			s.Nodes[i].advance(phase)
		}
	}
}

// anyReached reports whether any of the named nodes completed phase.
func (s *State) anyReached(names []string, phase Phase) bool {
	for _, n := range s.Nodes {
		for _, name := range names {
			if n.Name == name && phaseOrder[n.Phase] >= phaseOrder[phase] {
				return true
			}
		}
	}
	return false
}

// without returns the nodes not named.
func (s *State) without(names []string) []Node {
	drop := make(map[string]bool, len(names))
	for _, n := range names {
		drop[n] = true
	}
	var out []Node
	for _, n := range s.Nodes {
		if !drop[n.Name] {
			out = append(out, n)
		}
	}
	return out
}

// CreatedAnything reports whether the driver may have created objects for the cluster: the
// anchor Secret with the keys is always the first.
func (s State) CreatedAnything() bool {
	return len(s.HostKeySeed) > 0 || len(s.Nodes) > 0
}

var phaseOrder = map[Phase]int{PhaseVM: 1, PhaseAddress: 2, PhaseSSH: 3, PhaseDocker: 4, PhaseKubernetes: 5}

// advance moves the node to phase unless it is already further.
func (n *Node) advance(phase Phase) {
	if phaseOrder[phase] > phaseOrder[n.Phase] {
		n.Phase = phase
	}
}

// Kubeconfig is the admin kubeconfig of the built cluster as the driver hands it out: RKE's, whose
// endpoint is the first control plane's address, with the cluster's own API address instead when
// it has one. Empty until Kubernetes first came up.
func (s State) Kubeconfig() []byte {
	if s.APIAddress == "" || len(s.RKE.Kubeconfig) == 0 {
		return s.RKE.Kubeconfig
	}
	cfg, err := clientcmd.Load(s.RKE.Kubeconfig)
	if err != nil {
		return s.RKE.Kubeconfig
	}
	server := "https://" + net.JoinHostPort(s.APIAddress, strconv.Itoa(harvester.APIPort))
	for _, c := range cfg.Clusters {
		c.Server = server
	}
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return s.RKE.Kubeconfig
	}
	return out
}
