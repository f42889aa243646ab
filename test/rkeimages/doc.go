// Package rkeimages builds the container images RKE v1.8.6 runs on a node for its default
// Kubernetes version (v1.32.7-rancher1-1), for the local Harvester stand-in's fake hosts, which
// reach no registry: RKE uses an image already in a node's Docker instead of pulling it. Test
// support only, never linked into the driver.
//
// The images carry the tags RKE looks for and are built here, from Debian packages (debootstrap)
// and from the Go module proxy:
//
//	rancher/rke-tools:v0.1.114                    Debian base, nginx (stream), this package's scripts
//	                                              (entrypoint.sh, cert-deployer, nginx-proxy) and
//	                                              tools (rke-etcd-backup, nc, docker info), etcdctl
//	rke-extended-life/hyperkube:v1.32.7-rancher1  the same base with containerd, runc, iptables,
//	                                              conntrack and Kubernetes v1.34.4 (1.32 cannot be
//	                                              built from the proxy; the entrypoint drops the
//	                                              flags 1.34 refuses)
//	rancher/mirrored-coreos-etcd:v3.5.16          etcd and etcdctl v3.5.16, nothing else
//	rancher/mirrored-pause:3.7                    a static pause
//
// The kubelet's container runtime is containerd's CRI plugin, serving on the socket RKE names for
// cri-dockerd (which the module proxy refuses), with the pause image imported from the hyperkube
// image.
//
// Build makes them into one docker-archive in the machine-wide cache,
// ~/.cache/harvesterrke/rkeimages/set-<key>/images.tar (or under $HARVESTERRKE_CACHE), keyed by a
// hash of everything they are made of; the parts (base-, etcd-, tools-<key>) are cached next to
// it and older builds pruned. Set.Load loads the archive into a node's Docker and checks the
// image IDs. The rkeimages command (cmd/rkeimages) pre-builds the cache.
//
// Running them on a fake host needs, besides Docker: the machine's CAP_SYS_RESOURCE-less sandboxes
// an OCI runtime wrapper stripping that capability (privileged containers), a shared root mount
// (the kubelet's /var/lib/kubelet bind), and a default route or /etc/hosts entry for the node's
// name. The kubelet reads extra flags from the node's /etc/rkeimages/kubelet.flags (a cgroup root
// per fake host) and gets private copies of the machine-wide sysctls it would change.
package rkeimages
