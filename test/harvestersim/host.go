package harvestersim

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

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
` + mountRoot + `mkdir -p "$M/run/sshd" "$M/run/lock"
# dockerd's overlay2 cannot stack on the overlay root: give it directories on the machine's disk.
mkdir -p "$M/var/lib/docker" "$M/var/lib/containerd"
mount --bind "$H/disk/docker" "$M/var/lib/docker"
mount --bind "$H/disk/containerd" "$M/var/lib/containerd"
# As on a systemd machine: the kubelet's volumes (/var/lib/kubelet:shared) propagate into containers.
[ "$SHARED" = 0 ] || mount --make-rshared "$M"
hostname "$NAME"
cp -a "$H/seed/." "$M/"
chroot "$M" /bin/sh ` + stateDir + `/init.sh
echo "` + markerInitDone + `" >&2
chroot "$M" /bin/sh ` + stateDir + `/final.sh </dev/null >/dev/null 2>&1 &
if [ "$SSH_DELAY" != 0 ]; then
	echo "harvestersim: sshd starts in $SSH_DELAY s (injected fault)" >&2
	sleep "$SSH_DELAY"
fi
exec chroot "$M" /usr/sbin/sshd -D -e
`

// mountRoot is the shell that mounts a boot's root filesystem at $M: a copy-on-write overlay of $LOWER
// whose writes go to a tmpfs in $R/rw, with the kernel's filesystems and a fresh /run and /tmp.
const mountRoot = `mount -t tmpfs -o size=8g,mode=0755 harvestersim-rw "$R/rw"
mkdir -p "$R/rw/upper" "$R/rw/work"
mount -t overlay harvestersim-root -o "lowerdir=$LOWER,upperdir=$R/rw/upper,workdir=$R/rw/work" "$M"
mount --rbind /dev "$M/dev"
mount -t proc proc "$M/proc"
mount -t sysfs sysfs "$M/sys"
mount --rbind /sys/fs/cgroup "$M/sys/fs/cgroup"
mount -t tmpfs -o mode=0755 tmpfs "$M/run"
mount -t tmpfs -o mode=1777 tmpfs "$M/tmp"
`

// Console lines a host's boot prints at its milestones.
const (
	markerInitDone  = "harvestersim: cloud-init init stage done"
	markerSSHListen = "Server listening on 0.0.0.0 port 22."
)

type hostSpec struct {
	boot     bootConfig
	rootfs   Rootfs        // the image: lower directory of the overlay
	mirror   string        // where the root filesystem is built from, if not cached yet
	mac      string        // eth0's MAC address
	sshDelay time.Duration // injected fault: sshd starts this much later
	kube     *kubeSupport  // not nil: the host is made ready for Kubernetes (Options.RKEImages)
}

type host struct {
	slot, k  int
	netns    string
	addr     net.IP
	dir      string
	proc     *proc // nsenter+unshare; its child is the PID-namespace init
	initDone chan struct{}
	sshReady chan struct{}
}

// startHost creates host k of the slot and boots it; it returns when cloud-init's init stage is done
// (users and keys in place), which is when a real VM's guest agent would report its address.
func startHost(ctx context.Context, slot, k int, dir string, spec hostSpec, reg *pidFile, logf func(string, ...any)) (h *host, err error) {
	h = &host{slot: slot, k: k, netns: netnsName(slot, k), addr: hostAddr(slot, k),
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
	lower, err := ensureRootfs(ctx, spec.rootfs, spec.mirror, logf)
	if err != nil {
		return h, err
	}
	spec.boot.aptProxy = aptProxyAddr(slot)
	ud := parseUserData(spec.boot.userData)
	s := renderSeed(spec.boot, ud)
	shared := "0"
	if spec.kube != nil {
		kb := &kubeBoot{cgroup: hostCgroup(slot, k), addr: h.addr, podSubnet: hostPodSubnet(k), cniPlugins: spec.kube.cniPlugins}
		if err := kb.addTo(s, spec.boot.hostname(ud)); err != nil {
			return h, err
		}
		shared = "1"
		if spec.rootfs == RootfsDocker {
			start := time.Now()
			if err := spec.kube.populateDocker(filepath.Join(dir, "disk/docker")); err != nil {
				return h, err
			}
			logf("harvestersim: host %s: RKE's images in Docker's storage in %s", h.netns, time.Since(start).Round(time.Millisecond))
		}
	}
	if err := writeSeed(filepath.Join(dir, "seed"), s); err != nil {
		return h, err
	}
	if err := createHostNet(ctx, slot, k, h.netns, h.addr, spec.mac); err != nil {
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
	delay := strconv.FormatFloat(spec.sshDelay.Seconds(), 'f', -1, 64)
	h.proc, err = startProcLines(reg, "host "+h.netns, filepath.Join(dir, "console.log"), childEnv, onLine,
		"nsenter", "--net=/run/netns/"+h.netns,
		"unshare", "--mount", "--uts", "--ipc", "--pid", "--kill-child", "--propagation", "private",
		"/bin/sh", "-c", hostBoot, "harvestersim-boot", dir, lower, spec.boot.hostname(ud), delay, shared)
	if err != nil {
		return h, err
	}
	select {
	case <-h.initDone:
		logf("harvestersim: host %s booted at %s (%s)", spec.boot.vmName, h.addr, h.netns)
		return h, nil
	case <-h.proc.done:
		return h, h.proc.exitError()
	case <-ctx.Done():
		return h, ctx.Err()
	}
}

func writeSeed(dir string, s seed) error {
	for p, f := range s {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("write seed: %w", err)
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return fmt.Errorf("write seed: %w", err)
		}
		if err := os.Chmod(full, f.mode); err != nil {
			return fmt.Errorf("write seed: %w", err)
		}
	}
	return nil
}

// initPID is the PID (in the machine's namespace) of the host's PID-namespace init: unshare's child.
func (h *host) initPID() (int, error) {
	pid, err := childPID(h.proc.cmd.Process.Pid)
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
		case <-h.proc.done:
		case <-time.After(10 * time.Second):
			h.proc.kill() // --kill-child takes the init down with it
		}
	}
	var errs []error
	if err := removeCgroups(ctx, hostCgroup(h.slot, h.k)); err != nil {
		errs = append(errs, err)
	}
	if err := deleteHostNet(ctx, h.slot, h.k, h.netns); err != nil {
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
