package hosts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/cloudinit"
)

// With Config.Kubernetes, fake hosts are ready for RKE as a VM of a real image would be, minus what
// only the stand-in needs because its hosts share one kernel:
//
//   - Docker's storage already holds RKE's images (test/rkeimages), as on an image with them
//     pre-pulled, unless they come from the stand-in's private registry (the only registry hosts
//     can reach). dockerd is still not running; the driver starts it.
//   - /etc/docker/daemon.json names an OCI runtime wrapper as the default, and the host's own cgroup
//     as the parent of its containers; the driver's bootstrap keeps both when it merges its settings.
//   - the root mount is shared, as systemd makes it (the kubelet's volumes propagate).
//   - /etc/rkeimages/kubelet.flags gives the kubelet a cgroup root of its own (the hyperkube image's
//     entrypoint reads it), so the kubelets of different hosts never manage each other's pods.
//   - a unique /etc/machine-id, and /etc/hosts resolving the node's name to its address.
//   - a pod network of its own (CNI bridge plugin, a /24 per host, no routes between hosts) in
//     /etc/rkeimages/cni, which the hyperkube image's entrypoint installs at each kubelet start, so
//     the kubelet reports the node Ready: the stand-in has no image for any of RKE's network plugins,
//     and RKE updates an existing cluster only when its nodes are Ready. Clusters on the stand-in use
//     RKE's network plugin "none", which leaves the pod network to the node, as this does.
//
// The images and the CNI plugins come from hostimage.ForKubernetes.

// kubeBoot is what a host ready for Kubernetes is seeded with besides cloud-init's work.
type kubeBoot struct {
	cgroup     string            // the host's cgroup, below the root of every hierarchy
	addr       string            // the host's address
	podSubnet  string            // the addresses of the host's pods
	cniPlugins map[string][]byte // hostimage.Kubernetes.CNIPlugins
}

// cniConfig is the hosts' pod network: a bridge with the host as gateway. Pods reach their own node
// only, which is all a cluster without a network plugin offers anyway.
func cniConfig(subnet string) ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"cniVersion": "1.0.0",
		"name":       "harvestersim",
		"plugins": []any{map[string]any{
			"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
			"ipam": map[string]any{"type": "host-local", "ranges": [][]map[string]string{{{"subnet": subnet}}}},
		}},
	}, "", "  ")
}

// runcWrapper is the hosts' default OCI runtime: runc, minus CAP_SYS_RESOURCE in the specs it is
// given. Sandboxes without that capability in their bounding set (CI's) cannot start a privileged
// container (one asking for every capability), and RKE's containers are privileged.
const runcWrapper = `#!/bin/sh
# harvestersim: runc without CAP_SYS_RESOURCE, which the machine's sandbox does not grant.
strip() { [ -f "$1" ] && sed -i -E 's/"CAP_SYS_RESOURCE",?//g; s/,]/]/g' "$1"; }
next=
for arg; do
	case $next in
	bundle) strip "$arg/config.json" ;;
	process) strip "$arg" ;;
	esac
	next=
	case $arg in
	-b | --bundle) next=bundle ;;
	-p | --process) next=process ;;
	--bundle=*) strip "${arg#*=}/config.json" ;;
	--process=*) strip "${arg#*=}" ;;
	esac
done
exec runc "$@"
`

const runcWrapperPath = "/usr/local/sbin/runc-nosysres"

// addTo adds the files of a host ready for Kubernetes to its seed.
func (k *kubeBoot) addTo(s cloudinit.Seed, hostname string) error {
	daemon, err := json.MarshalIndent(map[string]any{
		"cgroup-parent":   "/" + k.cgroup + "/docker",
		"default-runtime": "nosysres",
		"runtimes":        map[string]any{"nosysres": map[string]string{"path": runcWrapperPath}},
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("render daemon.json: %w", err)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return fmt.Errorf("make a machine id: %w", err)
	}
	s["/etc/docker/daemon.json"] = cloudinit.File{Data: append(daemon, '\n'), Mode: 0o644}
	s[runcWrapperPath] = cloudinit.File{Data: []byte(runcWrapper), Mode: 0o755}
	s["/etc/rkeimages/kubelet.flags"] = cloudinit.File{Data: []byte("--cgroup-root=/" + k.cgroup + "/kubelet\n"), Mode: 0o644}
	s["/etc/machine-id"] = cloudinit.File{Data: []byte(hex.EncodeToString(id) + "\n"), Mode: 0o444}
	cni, err := cniConfig(k.podSubnet)
	if err != nil {
		return fmt.Errorf("render the pod network: %w", err)
	}
	s["/etc/rkeimages/cni/net.d/10-harvestersim.conflist"] = cloudinit.File{Data: append(cni, '\n'), Mode: 0o644}
	for name, data := range k.cniPlugins {
		s["/etc/rkeimages/cni/bin/"+name] = cloudinit.File{Data: data, Mode: 0o755}
	}
	hosts := string(s["/etc/hosts"].Data)
	s["/etc/hosts"] = cloudinit.File{Data: []byte(strings.Replace(hosts, "127.0.1.1\t"+hostname+"\n", k.addr+"\t"+hostname+"\n", 1)), Mode: 0o644}
	return nil
}

// checkKernelForKubernetes makes sure the machine's kernel has what kube-proxy and Docker in the hosts
// need and cannot load themselves (hosts have no /lib/modules): bridge netfilter and connection
// tracking, loaded with modprobe when they are modules that are not loaded yet.
func checkKernelForKubernetes(ctx context.Context) error {
	need := map[string]string{"br_netfilter": "/proc/sys/net/bridge", "nf_conntrack": "/proc/sys/net/netfilter/nf_conntrack_max"}
	for module, path := range need {
		if _, err := os.Stat(path); err == nil {
			continue
		}
		if out, err := exec.CommandContext(ctx, "modprobe", module).CombinedOutput(); err != nil {
			return fmt.Errorf("harvestersim: hosts for Kubernetes need the kernel's %s (%s missing) and modprobe failed: %w: %s",
				module, path, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
