package rke

import (
	"slices"
	"testing"
)

func TestNodeImages(t *testing.T) {
	// RKE v1.8.6's images for its default Kubernetes version, v1.32.7-rancher1-1.
	const (
		tools   = "rancher/rke-tools:v0.1.114"
		kube    = "rke-extended-life/hyperkube:v1.32.7-rancher1"
		pause   = "rancher/mirrored-pause:3.7"
		etcd    = "rancher/mirrored-coreos-etcd:v3.5.16"
		canal   = "rancher/mirrored-calico-node:v3.30.2"
		cni     = "rancher/calico-cni:v3.30.2-rancher1"
		flannel = "rancher/mirrored-flannel-flannel:v0.26.4"
		ingress = "rancher/nginx-ingress-controller:nginx-1.12.1-rancher4"
	)
	tests := []struct {
		name     string
		opts     Options
		registry string
		roles    []string
		want     []string
	}{
		{"worker", Options{}, "", []string{RoleWorker},
			[]string{tools, kube, pause, canal, cni, flannel, ingress}},
		{"etcd", Options{}, "", []string{RoleEtcd},
			[]string{tools, kube, pause, etcd, canal, cni, flannel}},
		{"control plane", Options{}, "", []string{RoleControlPlane},
			[]string{tools, kube, pause, canal, cni, flannel}},
		{"all roles, no add-ons", Options{NetworkPlugin: "none", IngressProvider: "none"}, "",
			[]string{RoleEtcd, RoleControlPlane, RoleWorker},
			[]string{tools, kube, pause, etcd}},
		{"flannel", Options{NetworkPlugin: "flannel", IngressProvider: "none"}, "", []string{RoleControlPlane},
			[]string{tools, kube, pause, "rancher/mirrored-flannel-flannel:v0.26.4", "rancher/flannel-cni:v1.4.1-rancher1"}},
		{"registry", Options{NetworkPlugin: "none"}, "registry.example:5000", []string{RoleEtcd, RoleWorker},
			[]string{"registry.example:5000/" + tools, "registry.example:5000/" + kube, "registry.example:5000/" + pause,
				"registry.example:5000/" + etcd, "registry.example:5000/" + ingress}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NodeImages(tt.opts, tt.registry, tt.roles)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("images =\n  %v\nwant\n  %v", got, tt.want)
			}
		})
	}
}

func TestNodeImagesUnknownVersion(t *testing.T) {
	if _, err := NodeImages(Options{KubernetesVersion: "v1.0.0-nope"}, "", []string{RoleWorker}); err == nil {
		t.Error("no error for an unknown Kubernetes version")
	}
}
