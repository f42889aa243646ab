package rke

import (
	"fmt"
	"slices"

	"github.com/rancher/rke/cluster"
	"github.com/rancher/rke/metadata"
)

// NodeImages are the images RKE v1.8.6 runs on a node with roles for the cluster options o, named
// as RKE names them: with registryURL (its default private registry) put before each one. They
// are the node's own containers (RKE's tools, certificate deployer, sidecar, kubelet, kube-proxy,
// the control plane or its local proxy, etcd), the kubelet's pause image, and the add-on images
// that run on every node of a role as DaemonSets (the network plugin on all nodes, the ingress
// controller on workers). Deployments (DNS, metrics server, controllers of the network plugin)
// are left out: the scheduler decides where they go.
func NodeImages(o Options, registryURL string, roles []string) ([]string, error) {
	if err := loadMetadata(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	sys, ok := metadata.K8sVersionToRKESystemImages[o.KubernetesVersion]
	if !ok {
		return nil, fmt.Errorf("RKE %s has no images for Kubernetes %s", Version, o.KubernetesVersion)
	}
	images := []string{sys.Alpine, sys.CertDownloader, sys.KubernetesServicesSidecar, sys.Kubernetes, sys.PodInfraContainer}
	if !slices.Contains(roles, RoleControlPlane) {
		// Nodes without an API server reach the control planes through a local proxy.
		images = append(images, sys.NginxProxy)
	}
	if slices.Contains(roles, RoleEtcd) {
		images = append(images, sys.Etcd)
	}
	switch o.NetworkPlugin {
	case cluster.CanalNetworkPlugin:
		images = append(images, sys.CanalNode, sys.CanalCNI, sys.CanalFlannel)
	case cluster.CalicoNetworkPlugin:
		images = append(images, sys.CalicoNode, sys.CalicoCNI)
	case cluster.FlannelNetworkPlugin:
		images = append(images, sys.Flannel, sys.FlannelCNI)
	}
	// nginx is the only ingress controller RKE offers (its default).
	if o.IngressProvider == cluster.DefaultIngressController && slices.Contains(roles, RoleWorker) {
		images = append(images, sys.Ingress)
	}
	out := make([]string, 0, len(images))
	for _, img := range images {
		if img == "" {
			continue
		}
		if registryURL != "" {
			// As RKE does for its default registry: the URL before the image's full name.
			img = registryURL + "/" + img
		}
		if !slices.Contains(out, img) {
			out = append(out, img)
		}
	}
	return out, nil
}
