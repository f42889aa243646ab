//go:build linux && amd64

package rkeimages

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A testNode is a Docker host of its own for the smoke test, like one fake host of the Harvester
// stand-in: network, mount and PID namespaces, the machine's root filesystem under a throwaway
// overlay (so nothing the node writes reaches the machine), Debian's dockerd, an address reached
// from the test over a veth pair, and a cgroup of its own. Killing its PID namespace ends it all.
type testNode struct {
	name, ip string
	cgroup   string    // parent cgroup of the node's containers, in every hierarchy
	netns    string    // path of the network namespace
	cmd      *exec.Cmd // unshare, whose child (the namespace's init) is dockerd
	pid      int       // dockerd, as the machine sees it
}

// nodeBoot runs as the PID namespace's init, in a fresh mount namespace inside the node's network
// namespace. Arguments: work directory, directory to show at the same path (the image set),
// cgroup of the node's containers.
const nodeBoot = `set -eu
W=$1 SHARE=$2 CG=$3
M=$W/merged
mount -t tmpfs -o mode=0755 rkeimages-node "$W/rw"
mkdir -p "$W/rw/upper" "$W/rw/work"
mount -t overlay rkeimages-node -o "lowerdir=/,upperdir=$W/rw/upper,workdir=$W/rw/work" "$M"
mount --rbind /dev "$M/dev"
mount -t proc proc "$M/proc"
mount -t sysfs sysfs "$M/sys"
mount --rbind /sys/fs/cgroup "$M/sys/fs/cgroup"
mount -t tmpfs -o mode=0755 tmpfs "$M/run"
mount -t tmpfs -o mode=1777 tmpfs "$M/tmp"
# overlayfs cannot stack on the overlay root: Docker's data goes to disk.
mkdir -p "$M/var/lib/docker" "$M$SHARE"
mount --bind "$W/docker" "$M/var/lib/docker"
mount --bind "$SHARE" "$M$SHARE"
install -m 0755 "$W/runc-nosysres" "$M/usr/local/sbin/runc-nosysres"
# The kubelet's /var/lib/kubelet bind is shared: mounts of the node must propagate.
mount --make-rshared "$M"
ip link set lo up
exec chroot "$M" dockerd --host unix:///run/docker.sock --cgroup-parent "/$CG/docker" \
	--add-runtime nosysres=/usr/local/sbin/runc-nosysres --default-runtime nosysres --log-level warn
`

// runcNoSysResource is an OCI runtime wrapper: where CAP_SYS_RESOURCE is not in the machine's
// bounding set (sandboxes), runc cannot start privileged containers that ask for it.
const runcNoSysResource = `#!/bin/sh
prev=""
for a in "$@"; do
	f=""
	case "$prev" in --bundle|-b) f="$a/config.json" ;; --process|-p) f="$a" ;; esac
	case "$a" in --bundle=*) f="${a#--bundle=}/config.json" ;; --process=*) f="${a#--process=}" ;; esac
	[ -n "$f" ] && [ -f "$f" ] && sed -i -e 's/"CAP_SYS_RESOURCE",//g' -e 's/,"CAP_SYS_RESOURCE"//g' -e 's/\["CAP_SYS_RESOURCE"\]/[]/g' "$f"
	prev="$a"
done
exec runc "$@"
`

// startNode boots a node showing share (the image set's directory); it is torn down in the
// test's cleanup.
func startNode(ctx context.Context, t *testing.T, share string) *testNode {
	t.Helper()
	for _, bin := range []string{"dockerd", "containerd", "runc", "docker", "ip", "nsenter", "unshare"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("the smoke test needs %s (apt-get install docker.io iproute2 util-linux): %v", bin, err)
		}
	}
	work := t.TempDir()
	for _, d := range []string{"rw", "merged", "docker"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(work, "runc-nosysres"), []byte(runcNoSysResource), 0o755); err != nil {
		t.Fatal(err)
	}
	n, slot := claimSlot(t)
	t.Cleanup(func() { n.stop(t, slot) })
	var console bytes.Buffer
	n.cmd = exec.Command("nsenter", "--net="+n.netns, "unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private",
		"/bin/sh", "-c", nodeBoot, "rkeimages-node", work, share, n.cgroup)
	n.cmd.Stdout, n.cmd.Stderr = &console, &console
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("boot node %s: %v", n.name, err)
	}
	if err := n.waitDocker(ctx); err != nil {
		t.Fatalf("boot node %s: %v\n%s", n.name, err, console.String())
	}
	return n
}

// claimSlot creates the node's network namespace and its veth pair to the machine; the first free
// interface name is the slot (10.254.<slot>.0/30).
func claimSlot(t *testing.T) (*testNode, int) {
	t.Helper()
	for slot := range 256 {
		name := fmt.Sprintf("rkeimages%d", slot)
		host := fmt.Sprintf("rki%d", slot)
		if exec.Command("ip", "link", "add", host, "type", "veth", "peer", "name", host+"n").Run() != nil {
			continue // taken by another test process
		}
		n := &testNode{name: name, ip: fmt.Sprintf("10.254.%d.2", slot), netns: "/run/netns/" + name, cgroup: name}
		gw := fmt.Sprintf("10.254.%d.1", slot)
		steps := [][]string{
			{"netns", "add", name},
			{"link", "set", host + "n", "netns", name},
			{"-n", name, "link", "set", host + "n", "name", "eth0"},
			{"-n", name, "addr", "add", n.ip + "/30", "dev", "eth0"},
			{"-n", name, "link", "set", "eth0", "up"},
			{"-n", name, "route", "add", "default", "via", gw},
			{"addr", "add", gw + "/30", "dev", host},
			{"link", "set", host, "up"},
		}
		for _, s := range steps {
			if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
				exec.Command("ip", "link", "del", host).Run()
				exec.Command("ip", "netns", "del", name).Run()
				t.Fatalf("network of node %s: ip %s: %v: %s", name, strings.Join(s, " "), err, out)
			}
		}
		return n, slot
	}
	t.Fatal("no free node slot (interfaces rki0..rki255 all exist)")
	return nil, 0
}

func (n *testNode) waitDocker(ctx context.Context) error {
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		if n.pid == 0 {
			if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", n.cmd.Process.Pid, n.cmd.Process.Pid)); err == nil {
				if f := strings.Fields(string(data)); len(f) > 0 {
					n.pid, _ = strconv.Atoi(f[0])
				}
			}
		}
		if n.pid != 0 {
			if c, err := net.Dial("unix", n.dockerSocket()); err == nil {
				return c.Close()
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for dockerd: %w", ctx.Err())
		case <-time.After(delay):
		}
	}
}

// dockerSocket reaches into the node's mount namespace through its init's root.
func (n *testNode) dockerSocket() string { return fmt.Sprintf("/proc/%d/root/run/docker.sock", n.pid) }

// run runs argv in the node (its namespaces and root) and returns the standard output.
func (n *testNode) run(ctx context.Context, argv ...string) ([]byte, error) {
	args := append([]string{"-t", strconv.Itoa(n.pid), "-m", "-n", "-p", "-r", "-w", "--"}, argv...)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s on node %s: %w: %s", strings.Join(argv, " "), n.name, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// dial connects to target as seen from inside the node: the kubelet's health port listens on
// the node's loopback only. The socket is made on a thread moved into the node's network
// namespace; the thread is discarded afterwards.
func (n *testNode) dial(ctx context.Context, target string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		f, err := os.Open(n.netns)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if err := setns(int(f.Fd()), syscall.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("enter network namespace of node %s: %w", n.name, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", target)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// sysSetns is setns(2) on linux/amd64 (the syscall package does not name it).
const sysSetns = 308

func setns(fd, nstype int) error {
	if _, _, e := syscall.Syscall(sysSetns, uintptr(fd), uintptr(nstype), 0); e != 0 {
		return e
	}
	return nil
}

// stop kills the node's PID namespace, then removes its network and cgroups.
func (n *testNode) stop(t *testing.T, slot int) {
	if n.cmd != nil && n.cmd.Process != nil {
		n.cmd.Process.Kill() // --kill-child takes the namespace's init, hence everything, with it
		n.cmd.Wait()
	}
	var errs []error
	if out, err := exec.Command("ip", "link", "del", fmt.Sprintf("rki%d", slot)).CombinedOutput(); err != nil {
		errs = append(errs, fmt.Errorf("delete veth: %v: %s", err, out))
	}
	if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
		errs = append(errs, fmt.Errorf("delete netns: %v: %s", err, out))
	}
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*/" + n.cgroup)
	for _, h := range hierarchies {
		if err := removeCgroup(h); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Errorf("stop node %s: %v", n.name, err)
	}
}

// removeCgroup removes a cgroup directory tree, deepest first, once its processes are gone.
func removeCgroup(dir string) error {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var err error
	for range 50 {
		err = nil
		for _, d := range dirs {
			if e := syscall.Rmdir(d); e != nil && e != syscall.ENOENT {
				err = fmt.Errorf("remove cgroup %s: %w", d, e)
			}
		}
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond) // the killed processes leave their cgroups shortly after
	}
	return err
}
