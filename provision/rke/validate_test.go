package rke

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateAcceptsDefaultsAndCurrentVersions(t *testing.T) {
	if err := Validate(Options{}); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, v := range CurrentVersions() {
		if err := Validate(Options{KubernetesVersion: v}); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []Problem // option and a part of the message
	}{
		{"unknown version", Options{KubernetesVersion: "v1.99.0-rancher1-1"}, []Problem{
			{optKubernetesVersion, `"v1.99.0-rancher1-1" is not a version RKE v1.8.6 supports; current versions: v1.30.`}}},
		{"plain upstream version", Options{KubernetesVersion: "v1.32.7"}, []Problem{{optKubernetesVersion, "not a version"}}},
		{"bad plugin", Options{NetworkPlugin: "weave"}, []Problem{{optNetworkPlugin, `must be one of canal, calico, flannel, none, got "weave"`}}},
		{"bad ingress", Options{IngressProvider: "traefik"}, []Problem{{optIngressProvider, "must be one of nginx, none"}}},
		{"bad dns", Options{DNSProvider: "bind"}, []Problem{{optDNSProvider, "must be one of coredns, kube-dns, none"}}},
		{"bad monitoring", Options{MonitoringProvider: "prometheus"}, []Problem{{optMonitoring, "must be one of metrics-server, none"}}},
		{"bad domain", Options{ClusterDomain: "Cluster_Local"}, []Problem{{optClusterDomain, "must be a DNS domain"}}},
		{"not a CIDR", Options{ClusterCIDR: "10.42.0.0"}, []Problem{{optClusterCIDR, "must be an IPv4 network"}}},
		{"IPv6", Options{ServiceCIDR: "fd00::/108"}, []Problem{{optServiceCIDR, "must be an IPv4 network"}}},
		{"host bits set", Options{ClusterCIDR: "10.42.1.0/16"}, []Problem{{optClusterCIDR, "did you mean 10.42.0.0/16?"}}},
		{"cluster network smaller than a node's", Options{ClusterCIDR: "10.42.0.0/25"}, []Problem{{optClusterCIDR, "smaller than the /24"}}},
		{"service network too wide", Options{ServiceCIDR: "10.0.0.0/8"}, []Problem{{optServiceCIDR, "between /12 and /24"}}},
		{"overlapping networks", Options{ClusterCIDR: "10.42.0.0/16", ServiceCIDR: "10.42.128.0/20"}, []Problem{
			{optServiceCIDR, "10.42.128.0/20 overlaps cluster-cidr 10.42.0.0/16"}}},
		{"everything at once", Options{KubernetesVersion: "v0.1", NetworkPlugin: "x", ClusterCIDR: "y", ServiceCIDR: "z"}, []Problem{
			{optKubernetesVersion, "not a version"}, {optNetworkPlugin, "must be one of"},
			{optClusterCIDR, "IPv4 network"}, {optServiceCIDR, "IPv4 network"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectProblems(t, Validate(tt.opts), tt.want)
		})
	}
}

func TestValidateConfigRejects(t *testing.T) {
	good := layout(pool{"cp", 1, etcdAndCP}, pool{"w", 1, workerOnly})
	with := func(change func(nodes []Node) []Node) []Node {
		nodes := append([]Node(nil), good...)
		return change(nodes)
	}
	tests := []struct {
		name  string
		nodes []Node
		opts  Options
		want  []Problem
	}{
		{"no nodes", nil, Options{}, []Problem{{optNodes, "no nodes"}}},
		{"no etcd node", layout(pool{"cp", 1, []string{RoleControlPlane}}, pool{"w", 1, workerOnly}), Options{},
			[]Problem{{optNodes, "no node has the etcd role"}}},
		{"no worker", layout(pool{"cp", 1, etcdAndCP}), Options{}, []Problem{{optNodes, "no node has the worker role"}}},
		{"unknown role", with(func(n []Node) []Node { n[1].Roles = []string{"master"}; return n }), Options{},
			[]Problem{{optNodes, `node w-1: unknown role "master"`}, {optNodes, "no node has the worker role"}}},
		{"node without roles", with(func(n []Node) []Node { n = append(n, Node{Name: "x", Address: "192.168.10.99", User: "u"}); return n }),
			Options{}, []Problem{{optNodes, "node x: no roles"}}},
		{"duplicate name", with(func(n []Node) []Node { n[1].Name = n[0].Name; return n }), Options{},
			[]Problem{{optNodes, "name is used twice"}}},
		{"duplicate address", with(func(n []Node) []Node { n[1].Address = n[0].Address; return n }), Options{},
			[]Problem{{optNodes, "address 192.168.10.10 is used twice"}}},
		{"uppercase name", with(func(n []Node) []Node { n[0].Name = "CP-1"; return n }), Options{},
			[]Problem{{optNodes, "lowercase DNS name"}}},
		{"no address", with(func(n []Node) []Node { n[0].Address = ""; return n }), Options{},
			[]Problem{{optNodes, "node cp-1: no address"}}},
		{"no user", with(func(n []Node) []Node { n[0].User = ""; return n }), Options{},
			[]Problem{{optNodes, "node cp-1: no SSH user"}}},
		{"node inside the pod network", good, Options{ClusterCIDR: "192.168.0.0/16"},
			[]Problem{{optNodes, "node cp-1: address 192.168.10.10 lies in cluster-cidr"}, {optNodes, "node w-1: address 192.168.10.11 lies in"}}},
		{"internal address inside the service network", with(func(n []Node) []Node { n[0].InternalAddress = "10.43.0.7"; return n }),
			Options{}, []Problem{{optNodes, "node cp-1: internal address 10.43.0.7 lies in service-cidr"}}},
		{"pod network too small for the nodes", layout(pool{"all", 3, allRoles}), Options{ClusterCIDR: "10.42.0.0/23"},
			[]Problem{{optClusterCIDR, "room for 2 nodes"}}},
		{"options are checked too", good, Options{NetworkPlugin: "cilium"}, []Problem{{optNetworkPlugin, "must be one of"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectProblems(t, ValidateConfig(Config{Nodes: tt.nodes, Options: tt.opts}), tt.want)
		})
	}
}

// expectProblems checks that err is a *ValidationError with exactly the wanted problems, each
// matched by option and a part of its message.
func expectProblems(t *testing.T, err error, want []Problem) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v, want a *ValidationError", err)
	}
	if len(ve.Problems) != len(want) {
		t.Fatalf("problems = %q, want %d like %q", ve.Problems, len(want), want)
	}
	for i, w := range want {
		got := ve.Problems[i]
		if got.Option != w.Option || !strings.Contains(got.Message, w.Message) {
			t.Errorf("problem %d = %s: %s; want %s: …%s…", i, got.Option, got.Message, w.Option, w.Message)
		}
	}
	if !strings.Contains(err.Error(), want[0].Option+": ") {
		t.Errorf("message %q does not name %s", err, want[0].Option)
	}
}
