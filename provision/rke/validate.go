package rke

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Driver option names, used to name what is wrong in validation errors.
const (
	optKubernetesVersion = "kubernetes-version"
	optNetworkPlugin     = "network-plugin"
	optClusterCIDR       = "cluster-cidr"
	optServiceCIDR       = "service-cidr"
	optClusterDomain     = "cluster-domain"
	optIngressProvider   = "ingress-provider"
	optDNSProvider       = "dns-provider"
	optMonitoring        = "monitoring-provider"
	optNodes             = "nodes"
)

// nodeCIDRBits is the size of the pod subnet the controller manager gives each node (its
// --node-cidr-mask-size default for IPv4).
const nodeCIDRBits = 24

// Problem is one invalid setting, named by the driver option that sets it.
type Problem struct {
	Option  string
	Message string
}

// ValidationError lists every problem found, so that all can be fixed at once.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Option + ": " + p.Message
	}
	return "invalid kubernetes settings: " + strings.Join(parts, "; ")
}

type problems []Problem

func (ps *problems) add(option, format string, args ...any) {
	*ps = append(*ps, Problem{Option: option, Message: fmt.Sprintf(format, args...)})
}

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

// Validate checks the Kubernetes options on their own, before any node exists. The error is a
// *ValidationError.
func Validate(o Options) error {
	var ps problems
	validateOptions(&ps, o)
	return ps.err()
}

// ValidateConfig checks the options and the nodes together: roles, names, addresses and that the
// networks leave room for the nodes. The error is a *ValidationError.
func ValidateConfig(c Config) error {
	var ps problems
	pods, services := validateOptions(&ps, c.Options)
	validateNodes(&ps, c.Nodes, pods, services)
	return ps.err()
}

// validateOptions reports the options' problems and returns the valid networks.
func validateOptions(ps *problems, o Options) (pods, services netip.Prefix) {
	o = o.withDefaults()
	if err := loadMetadata(); err != nil {
		ps.add(optKubernetesVersion, "%v", err)
	} else if !IsSupportedVersion(o.KubernetesVersion) {
		ps.add(optKubernetesVersion, "%q is not a version RKE %s supports; current versions: %s",
			o.KubernetesVersion, Version, strings.Join(CurrentVersions(), ", "))
	}
	oneOf(ps, optNetworkPlugin, o.NetworkPlugin, "canal", "calico", "flannel", "none")
	oneOf(ps, optIngressProvider, o.IngressProvider, "nginx", "none")
	oneOf(ps, optDNSProvider, o.DNSProvider, "coredns", "kube-dns", "none")
	oneOf(ps, optMonitoring, o.MonitoringProvider, "metrics-server", "none")
	if errs := validation.IsDNS1123Subdomain(o.ClusterDomain); len(errs) > 0 {
		ps.add(optClusterDomain, "must be a DNS domain such as cluster.local, got %q", o.ClusterDomain)
	}

	pods, podsOK := prefix(ps, optClusterCIDR, o.ClusterCIDR)
	if podsOK && pods.Bits() > nodeCIDRBits {
		ps.add(optClusterCIDR, "%s is smaller than the /%d each node gets", pods, nodeCIDRBits)
		podsOK = false
	}
	services, servicesOK := prefix(ps, optServiceCIDR, o.ServiceCIDR)
	// kube-apiserver refuses service ranges wider than /12; the DNS service takes the 10th address.
	if servicesOK && (services.Bits() < 12 || services.Bits() > 24) {
		ps.add(optServiceCIDR, "%s must be between /12 and /24", services)
		servicesOK = false
	}
	if podsOK && servicesOK && pods.Overlaps(services) {
		ps.add(optServiceCIDR, "%s overlaps %s %s", services, optClusterCIDR, pods)
		servicesOK = false
	}
	if !podsOK {
		pods = netip.Prefix{}
	}
	if !servicesOK {
		services = netip.Prefix{}
	}
	return pods, services
}

func oneOf(ps *problems, option, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		ps.add(option, "must be one of %s, got %q", strings.Join(allowed, ", "), value)
	}
}

// prefix parses an IPv4 network such as 10.42.0.0/16.
func prefix(ps *problems, option, value string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(value)
	if err != nil || !p.Addr().Is4() {
		ps.add(option, "must be an IPv4 network such as 10.42.0.0/16, got %q", value)
		return netip.Prefix{}, false
	}
	if p != p.Masked() {
		ps.add(option, "%s is not a network address; did you mean %s?", value, p.Masked())
		return netip.Prefix{}, false
	}
	return p, true
}

// validateNodes checks what RKE needs of the node list; pods and services are the valid networks
// (invalid ones are zero and skipped).
func validateNodes(ps *problems, nodes []Node, pods, services netip.Prefix) {
	if len(nodes) == 0 {
		ps.add(optNodes, "the cluster has no nodes")
		return
	}
	names := map[string]bool{}
	addresses := map[string]bool{}
	roleCount := map[string]int{}
	for i, n := range nodes {
		label := n.Name
		if label == "" {
			label = fmt.Sprintf("#%d", i+1)
		}
		if errs := validation.IsDNS1123Subdomain(n.Name); len(errs) > 0 {
			ps.add(optNodes, "node %s: name must be a lowercase DNS name", label)
		} else if names[n.Name] {
			ps.add(optNodes, "node %s: name is used twice", label)
		}
		names[n.Name] = true
		if n.User == "" {
			ps.add(optNodes, "node %s: no SSH user", label)
		}
		validateAddress(ps, label, "address", n.Address, pods, services)
		if n.InternalAddress != "" {
			validateAddress(ps, label, "internal address", n.InternalAddress, pods, services)
		}
		if n.Address != "" && addresses[n.Address] {
			ps.add(optNodes, "node %s: address %s is used twice", label, n.Address)
		}
		addresses[n.Address] = true
		if len(n.Roles) == 0 {
			ps.add(optNodes, "node %s: no roles", label)
		}
		for _, r := range n.Roles {
			if r != RoleEtcd && r != RoleControlPlane && r != RoleWorker {
				ps.add(optNodes, "node %s: unknown role %q (etcd, controlplane or worker)", label, r)
			}
			roleCount[r]++
		}
	}
	for _, r := range []string{RoleEtcd, RoleControlPlane, RoleWorker} {
		if roleCount[r] == 0 {
			ps.add(optNodes, "no node has the %s role", r)
		}
	}
	if pods.IsValid() && len(nodes) > 1<<(nodeCIDRBits-pods.Bits()) {
		ps.add(optClusterCIDR, "%s has room for %d nodes (a /%d each), the cluster has %d",
			pods, 1<<(nodeCIDRBits-pods.Bits()), nodeCIDRBits, len(nodes))
	}
}

// validateAddress accepts an IPv4 address or a DNS name; an IP must lie outside the cluster's
// pod and service networks, or its traffic would be routed into them.
func validateAddress(ps *problems, node, what, value string, pods, services netip.Prefix) {
	if value == "" {
		ps.add(optNodes, "node %s: no %s", node, what)
		return
	}
	ip, err := netip.ParseAddr(value)
	if err != nil {
		if errs := validation.IsDNS1123Subdomain(value); len(errs) > 0 {
			ps.add(optNodes, "node %s: %s %q is neither an IP address nor a DNS name", node, what, value)
		}
		return
	}
	if pods.IsValid() && pods.Contains(ip) {
		ps.add(optNodes, "node %s: %s %s lies in %s %s", node, what, value, optClusterCIDR, pods)
	}
	if services.IsValid() && services.Contains(ip) {
		ps.add(optNodes, "node %s: %s %s lies in %s %s", node, what, value, optServiceCIDR, services)
	}
}
