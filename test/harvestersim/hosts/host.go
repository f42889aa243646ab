package hosts

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/cloudinit"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hostimage"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/internal/proc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
)

// A fake host is what backs a running VM: a network namespace whose eth0 has the VM's address, and
// mount/UTS/IPC/PID namespaces in which a copy-on-write overlay of a Debian root filesystem boots with
// the VM's cloud-init applied and a real OpenSSH server as PID 1.

// hostBoot is run by /bin/sh as the first process of the new namespaces, before anything of the VM
// runs: it mounts the host's filesystems, seeds it, runs the cloud-init stages and becomes sshd.
// Arguments: host directory, lower root filesystem, hostname, seconds before sshd starts, whether the
// root mount is made shared (1 for hosts ready for Kubernetes, else 0).
const hostBoot = `set -eu
H=$1 LOWER=$2 NAME=$3 SSH_DELAY=$4 SHARED=$5
R=$H M=$H/merged
` + hostimage.MountRoot + `mkdir -p "$M/run/sshd" "$M/run/lock"
# dockerd's overlay2 cannot stack on the overlay root: give it directories on the machine's disk.
mkdir -p "$M/var/lib/docker" "$M/var/lib/containerd"
mount --bind "$H/disk/docker" "$M/var/lib/docker"
mount --bind "$H/disk/containerd" "$M/var/lib/containerd"
# As on a systemd machine: the kubelet's volumes (/var/lib/kubelet:shared) propagate into containers.
[ "$SHARED" = 0 ] || mount --make-rshared "$M"
hostname "$NAME"
cp -a "$H/seed/." "$M/"
chroot "$M" /bin/sh ` + cloudinit.StateDir + `/init.sh
echo "` + markerInitDone + `" >&2
chroot "$M" /bin/sh ` + cloudinit.StateDir + `/final.sh </dev/null >/dev/null 2>&1 &
if [ "$SSH_DELAY" != 0 ]; then
	echo "harvestersim: sshd starts in $SSH_DELAY s (injected fault)" >&2
	sleep "$SSH_DELAY"
fi
exec chroot "$M" /usr/sbin/sshd -D -e
`

// Console lines a host's boot prints at its milestones.
const (
	markerInitDone  = "harvestersim: cloud-init init stage done"
	markerSSHListen = "Server listening on 0.0.0.0 port 22."
)

// Spec is what a VM's host is made from.
type Spec struct {
	Boot        cloudinit.Boot
	Rootfs      hostimage.Rootfs // the image: lower directory of the overlay
	Mirror      string           // where the root filesystem is built from, if not cached yet
	NICs        []NIC            // the VM's interfaces; none: one on the pod network
	NetworkData []byte           // the VM's cloud-init network-config
	SSHDelay    time.Duration    // injected fault: sshd starts this much later
	kube        *hostimage.Kubernetes
	links       []link
}

type host struct {
	slot, k    int
	netns      string
	links      []link
	interfaces []Interface // as the host has them once booted
	dir        string
	proc       *proc.Proc // nsenter+unshare; its child is the PID-namespace init
	initDone   chan struct{}
	sshReady   chan struct{}
}

// startHost creates host k of the slot and boots it; it returns when cloud-init's init stage is done
// (users and keys in place), which is when a real VM's guest agent would report its address.
func startHost(ctx context.Context, slot, k int, dir string, spec Spec, reg *proc.Registry, logf func(string, ...any)) (h *host, err error) {
	h = &host{slot: slot, k: k, netns: netnsName(slot, k), links: spec.links,
		dir: dir, initDone: make(chan struct{}), sshReady: make(chan struct{})}
	defer func() {
		if err != nil {
			h.stop()
			err = fmt.Errorf("start fake host %s: %w", h.netns, err)
		}
	}()
	for _, d := range []string{"rw", "merged", "disk/docker", "disk/containerd", "seed"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return h, err
		}
	}
	lower, err := hostimage.Ensure(ctx, spec.Rootfs, spec.Mirror, logf)
	if err != nil {
		return h, err
	}
	spec.Boot.AptProxy = aptProxyAddr(slot)
	ud := cloudinit.Parse(spec.Boot.UserData)
	s := cloudinit.Render(spec.Boot, ud)
	shared := "0"
	if spec.kube != nil {
		addr := firstIP(planned(spec.links, spec.Boot.Links))
		if addr == "" {
			addr = hostAddr(slot, k).String()
		}
		kb := &kubeBoot{cgroup: hostCgroup(slot, k), addr: addr, podSubnet: hostPodSubnet(k), cniPlugins: spec.kube.CNIPlugins}
		if err := kb.addTo(s, spec.Boot.Hostname(ud)); err != nil {
			return h, err
		}
		shared = "1"
		if spec.Rootfs == hostimage.Docker && spec.kube.Preloaded() {
			start := time.Now()
			if err := spec.kube.PopulateDocker(filepath.Join(dir, "disk/docker")); err != nil {
				return h, err
			}
			logf("harvestersim: host %s: RKE's images in Docker's storage in %s", h.netns, time.Since(start).Round(time.Millisecond))
		}
	}
	if err := writeSeed(filepath.Join(dir, "seed"), s); err != nil {
		return h, err
	}
	if err := createHostNet(ctx, slot, h.netns, spec.links, spec.Boot.Links); err != nil {
		return h, err
	}
	if h.interfaces, err = readInterfaces(ctx, h.netns, spec.links); err != nil {
		return h, err
	}
	var initOnce, sshOnce bool
	onLine := func(line string) {
		switch {
		case line == markerInitDone && !initOnce:
			initOnce = true
			close(h.initDone)
		case line == markerSSHListen && !sshOnce:
			sshOnce = true
			close(h.sshReady)
		}
	}
	delay := strconv.FormatFloat(spec.SSHDelay.Seconds(), 'f', -1, 64)
	h.proc, err = proc.StartLines(reg, "host "+h.netns, filepath.Join(dir, "console.log"), proc.Env, onLine,
		"nsenter", "--net=/run/netns/"+h.netns,
		"unshare", "--mount", "--uts", "--ipc", "--pid", "--kill-child", "--propagation", "private",
		"/bin/sh", "-c", hostBoot, "harvestersim-boot", dir, lower, spec.Boot.Hostname(ud), delay, shared)
	if err != nil {
		return h, err
	}
	select {
	case <-h.initDone:
		logf("harvestersim: host %s booted at %s (%s)", spec.Boot.VMName, firstIP(h.interfaces), h.netns)
		return h, nil
	case <-h.proc.Done():
		return h, h.proc.ExitError()
	case <-ctx.Done():
		return h, ctx.Err()
	}
}

func writeSeed(dir string, s cloudinit.Seed) error {
	for p, f := range s {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("write seed: %w", err)
		}
		if err := os.WriteFile(full, f.Data, f.Mode); err != nil {
			return fmt.Errorf("write seed: %w", err)
		}
		if err := os.Chmod(full, f.Mode); err != nil {
			return fmt.Errorf("write seed: %w", err)
		}
	}
	return nil
}

// initPID is the PID (in the machine's namespace) of the host's PID-namespace init: unshare's child.
func (h *host) initPID() (int, error) {
	pid, err := proc.ChildPID(h.proc.PID())
	if err != nil {
		return 0, fmt.Errorf("find init of host %s: %w", h.netns, err)
	}
	return pid, nil
}

// stop tears the host down: killing the PID-namespace init makes the kernel kill every process in it
// (and unshare's wait returns only then); then its cgroups, network and directories go.
func (h *host) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if h.proc != nil {
		if pid, err := h.initPID(); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-h.proc.Done():
		case <-time.After(10 * time.Second):
			h.proc.Kill() // --kill-child takes the init down with it
		}
	}
	var errs []error
	if err := removeCgroups(ctx, hostCgroup(h.slot, h.k)); err != nil {
		errs = append(errs, err)
	}
	if err := deleteHostNet(ctx, h.slot, h.k, h.netns, h.links, h.interfaces); err != nil {
		errs = append(errs, err)
	}
	if err := diskcache.RemoveTree(h.dir); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("tear down host %s: %v", h.netns, errs)
	}
	return nil
}

// exec runs argv as root inside the host (all its namespaces, chrooted to its root filesystem) with a
// login-like environment, and returns its standard output; stderr is in the error when it fails.
func (h *host) exec(ctx context.Context, argv ...string) ([]byte, error) {
	pid, err := h.initPID()
	if err != nil {
		return nil, err
	}
	args := append([]string{"-t", strconv.Itoa(pid), "-m", "-u", "-i", "-n", "-p", "--",
		"chroot", filepath.Join(h.dir, "merged"), "/usr/bin/env", "-i",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"}, argv...)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second // a daemon started in the background may hold the output open
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("run %q on host %s: %w: %s", strings.Join(argv, " "), h.netns, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}
