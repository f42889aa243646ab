package provision

import (
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

// State is what the driver must remember about a cluster between calls. Each call runs in a fresh
// process, so everything Update, Remove, PostCheck and the snapshot calls need is here.
type State struct {
	// ClientKey is the SSH private key (PEM) the driver logs in with; HostKeySeed derives each node's
	// SSH host key. Both are also kept in the cluster's anchor Secret on Harvester, so a Create that
	// was killed before returning anything resumes with the same keys.
	ClientKey   []byte `json:"clientKey,omitempty"`
	HostKeySeed []byte `json:"hostKeySeed,omitempty"`
	Nodes       []Node `json:"nodes,omitempty"`
	// RKE holds RKE's cluster.rkestate and the admin kubeconfig (endpoint, CA and client
	// certificate of the built cluster) after the first successful cluster up.
	RKE rke.Files `json:"rke"`
}

// Node is one node of the cluster as last observed.
type Node struct {
	Name    string `json:"name"`
	Pool    string `json:"pool"`
	Address string `json:"address,omitempty"`
	// HostKey is a host key recorded on first use (only with SSH.TrustOnFirstUse), authorized_keys format.
	HostKey string `json:"hostKey,omitempty"`
	// Phase is the last step the node completed.
	Phase Phase `json:"phase,omitempty"`
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

// mergeVMs records the cluster's VMs, keeping what is known about nodes seen before.
func (s *State) mergeVMs(vms []harvester.Node) {
	known := make(map[string]Node, len(s.Nodes))
	for _, n := range s.Nodes {
		known[n.Name] = n
	}
	nodes := make([]Node, 0, len(vms))
	for _, vm := range vms {
		n, ok := known[vm.Name]
		if !ok {
			n = Node{Name: vm.Name, Pool: vm.Pool, Phase: PhaseVM}
		}
		if vm.Address != "" {
			n.Address = vm.Address
		}
		nodes = append(nodes, n)
	}
	s.Nodes = nodes
}

// mergeAddresses records the addresses of running VMs.
func (s *State) mergeAddresses(vms []harvester.Node) {
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
