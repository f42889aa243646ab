package harvestersim

import (
	"fmt"
	"strings"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/controller"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hostimage"
)

// Options configure a stand-in. The zero value gives a Harvester with DefaultImages and DefaultNetworks
// whose VMs boot fake hosts with Docker installed.
type Options struct {
	// Images to register as VirtualMachineImages (default DefaultImages).
	Images []Image
	// Networks to create as VLAN NetworkAttachmentDefinitions, "<namespace>/<name>" (default DefaultNetworks).
	Networks []string
	// BootDelay is how long a VM takes from its start until its VMI runs with an address (default 0:
	// as fast as the fake host boots, well under a second).
	BootDelay time.Duration
	// DefaultUser is cloud-init's default user of the images (default "debian", as Debian cloud images).
	DefaultUser string
	// Rootfs is what VMs whose image does not say boot (default RootfsDocker).
	Rootfs Rootfs
	// RKEImages makes fake hosts ready for RKE (see package hosts): RKE's images, built by
	// test/rkeimages, are in the Docker storage of hosts of the RootfsDocker image before dockerd
	// starts, and every host gets the per-host runtime, cgroup and mount settings the kubelet needs
	// on a machine shared with other hosts. The first use builds the images (minutes, then cached).
	RKEImages bool
	// Registry makes fake hosts ready for RKE as RKEImages does, but with RKE's images in a private
	// registry instead of the hosts' Docker storage (which starts empty unless RKEImages is set too):
	// Debian's docker-registry, over TLS with a CA of its own and with basic auth, on the machine's
	// address on the hosts' network, started and stopped with the stand-in. Sim.Registry says how to
	// reach it. The images are pushed once per image set, then cached.
	Registry bool
	// NoHosts runs VMs without fake hosts: VMIs still run and report addresses (loopback ones where
	// nothing listens). Needs no root.
	NoHosts bool
	// KubernetesOnly starts just etcd, kube-apiserver and kube-controller-manager, without CRDs or the
	// simulator: a plain cluster API (e.g. to play the built guest cluster). Needs no root.
	KubernetesOnly bool
	// Mirror is the Debian mirror the root filesystems are built from and the hosts' apt proxy allows
	// (default deb.debian.org).
	Mirror string
	// KubeBinDir holds kube-apiserver and kube-controller-manager (default: built and cached by
	// hack/build-k8s.sh, found above the working directory).
	KubeBinDir string
	// EtcdBinary is the etcd server (default: etcd from PATH, Debian's etcd-server).
	EtcdBinary string
	// Logf receives progress and the simulator's messages (Start: t.Logf; New: discarded).
	Logf func(format string, args ...any)
}

// Image is a VirtualMachineImage the stand-in registers; its VMs boot the given root filesystem.
type Image = controller.Image

// Rootfs is the image a fake host boots: a debootstrap'ed Debian, cached on disk per variant.
type Rootfs = hostimage.Rootfs

const (
	// RootfsDocker has Debian's docker.io installed but not running, like a cloud image with Docker
	// preinstalled: the driver's bootstrap must start dockerd.
	RootfsDocker = hostimage.Docker
	// RootfsPlain has no Docker, for the driver's "install Docker from distro packages" path.
	RootfsPlain = hostimage.Plain
)

// DefaultImages are the images a stand-in registers unless told otherwise.
var DefaultImages = []Image{
	{Namespace: "default", Name: "debian-12", DisplayName: "debian-12-genericcloud-amd64.qcow2", Rootfs: RootfsDocker},
	{Namespace: "default", Name: "debian-12-nodocker", DisplayName: "debian-12-genericcloud-amd64-nodocker.qcow2", Rootfs: RootfsPlain},
}

// DefaultNetworks are the VLAN networks a stand-in creates unless told otherwise.
var DefaultNetworks = []string{"default/vlan1"}

func (o Options) withDefaults() (Options, error) {
	if o.Images == nil {
		o.Images = DefaultImages
	}
	if o.Networks == nil {
		o.Networks = DefaultNetworks
	}
	if o.DefaultUser == "" {
		o.DefaultUser = "debian"
	}
	if o.Rootfs == "" {
		o.Rootfs = RootfsDocker
	}
	if o.Mirror == "" {
		o.Mirror = "deb.debian.org"
	}
	if o.EtcdBinary == "" {
		o.EtcdBinary = "etcd"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	images := make([]Image, len(o.Images))
	for i, img := range o.Images {
		if img.Namespace == "" || img.Name == "" {
			return o, fmt.Errorf("image %d: namespace and name are required", i)
		}
		if img.DisplayName == "" {
			img.DisplayName = img.Name
		}
		if img.Rootfs == "" {
			img.Rootfs = o.Rootfs
		}
		if err := img.Rootfs.Validate(); err != nil {
			return o, fmt.Errorf("image %s: %w", img, err)
		}
		if img.DefaultUser == "" {
			img.DefaultUser = o.DefaultUser
		}
		images[i] = img
	}
	o.Images = images
	for _, n := range o.Networks {
		if ns, name, ok := strings.Cut(n, "/"); !ok || ns == "" || name == "" {
			return o, fmt.Errorf("network %q: want <namespace>/<name>", n)
		}
	}
	return o, nil
}
