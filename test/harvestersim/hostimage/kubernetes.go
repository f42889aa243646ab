package hostimage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/rkeimages"
)

// Kubernetes is what a fake host ready for RKE boots with besides its root filesystem: the CNI
// plugins of its pod network and, when preloaded, RKE's images in Docker's storage (as on an image
// with them pre-pulled); else the hosts pull them from a registry holding Images.
type Kubernetes struct {
	// Images are RKE's images (test/rkeimages).
	Images *rkeimages.Set
	// dockerTemplate is /var/lib/docker after loading RKE's images into the Docker image's dockerd;
	// empty when the images are not preloaded.
	dockerTemplate string
	// CNIPlugins are the plugins a host's pod network needs, by name.
	CNIPlugins map[string][]byte
}

// cniPluginDir is where Debian's containernetworking-plugins puts the plugins; cniPluginNames are
// the ones the hosts' pod network uses (the CRI runtime always needs loopback).
const cniPluginDir = "/usr/lib/cni"

var cniPluginNames = []string{"bridge", "host-local", "loopback"}

// readCNIPlugins reads the machine's CNI plugins, which hosts get a copy of.
func readCNIPlugins() (map[string][]byte, error) {
	plugins := map[string][]byte{}
	for _, name := range cniPluginNames {
		data, err := os.ReadFile(filepath.Join(cniPluginDir, name))
		if err != nil {
			return nil, fmt.Errorf("harvestersim: hosts for Kubernetes need CNI plugins (apt-get install containernetworking-plugins): %w", err)
		}
		plugins[name] = data
	}
	return plugins, nil
}

// ForKubernetes builds (or finds in the cache) RKE's images (test/rkeimages) and, with preload, the
// Docker storage of the Docker root filesystem holding them.
func ForKubernetes(ctx context.Context, mirror string, preload bool, logf func(string, ...any)) (*Kubernetes, error) {
	plugins, err := readCNIPlugins()
	if err != nil {
		return nil, err
	}
	set, err := rkeimages.Build(ctx, rkeimages.Options{Mirror: mirror, Logf: logf})
	if err != nil {
		return nil, fmt.Errorf("build RKE's images: %w", err)
	}
	if !preload {
		return &Kubernetes{Images: set, CNIPlugins: plugins}, nil
	}
	lower, err := Ensure(ctx, Docker, mirror, logf)
	if err != nil {
		return nil, err
	}
	tmpl, err := ensureDockerTemplate(ctx, set, lower, logf)
	if err != nil {
		return nil, err
	}
	return &Kubernetes{Images: set, dockerTemplate: tmpl, CNIPlugins: plugins}, nil
}

// MountRoot is the shell that mounts a boot's root filesystem at $M: a copy-on-write overlay of $LOWER
// whose writes go to a tmpfs in $R/rw, with the kernel's filesystems and a fresh /run and /tmp. Fake
// hosts boot this way, and so does the dockerd that loads RKE's images into a Docker template.
const MountRoot = `mount -t tmpfs -o size=8g,mode=0755 harvestersim-rw "$R/rw"
mkdir -p "$R/rw/upper" "$R/rw/work"
mount -t overlay harvestersim-root -o "lowerdir=$LOWER,upperdir=$R/rw/upper,workdir=$R/rw/work" "$M"
mount --rbind /dev "$M/dev"
mount -t proc proc "$M/proc"
mount -t sysfs sysfs "$M/sys"
mount --rbind /sys/fs/cgroup "$M/sys/fs/cgroup"
mount -t tmpfs -o mode=0755 tmpfs "$M/run"
mount -t tmpfs -o mode=1777 tmpfs "$M/tmp"
`
