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
	cgroup   string // parent cgroup of the node's containers, in every hierarchy
	netns    string // path of the network namespace
	slot     int    // the node's addresses and names; its lock file is held while it lives
	lock     *os.File
	cmd      *exec.Cmd // unshare, whose child (the namespace's init) is dockerd
	pid      int       // dockerd, as the machine sees it
	stopped  chan struct{}
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

// runcNoSysResource is the nodes' OCI runtime: runc, minus CAP_SYS_RESOURCE in the specs it is
// given. Sandboxes lack that capability in the machine's bounding set, and runc refuses to start
// a privileged container (one asking for every capability) there.
const runcNoSysResource = `#!/bin/sh
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
	n := claimSlot(t)
	t.Cleanup(func() { n.stop(t) })
	var console bytes.Buffer
	n.cmd = exec.Command("nsenter", "--net="+n.netns, "unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private",
		"/bin/sh", "-c", nodeBoot, "rkeimages-node", work, share, n.cgroup)
	n.cmd.Stdout, n.cmd.Stderr = &console, &console
	if err := n.start(); err != nil {
		t.Fatalf("boot node %s: %v", n.name, err)
	}
	if err := n.waitDocker(ctx); err != nil {
		t.Fatalf("boot node %s: %v\n%s", n.name, err, console.String())
	}
	return n
}

// claimSlot takes the first free slot (a lock file held until the node stops; a dead test
// process's lock is free again) and makes the node's network namespace and veth pair to the
// machine there (10.254.<slot>.0/30), after removing what a dead process may have left.
func claimSlot(t *testing.T) *testNode {
	t.Helper()
	for slot := range 256 {
		lock, err := os.OpenFile(fmt.Sprintf("/run/lock/rkeimages-node%d.lock", slot), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			lock.Close()
			continue
		}
		name := fmt.Sprintf("rkeimages%d", slot)
		n := &testNode{name: name, ip: fmt.Sprintf("10.254.%d.2", slot), netns: "/run/netns/" + name, cgroup: name, slot: slot, lock: lock}
		n.removeNetwork()
		host, gw := n.veth(), fmt.Sprintf("10.254.%d.1", slot)
		steps := [][]string{
			{"link", "add", host, "type", "veth", "peer", "name", host + "n"},
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
				n.removeNetwork()
				lock.Close()
				t.Fatalf("network of node %s: ip %s: %v: %s", name, strings.Join(s, " "), err, out)
			}
		}
		return n
	}
	t.Fatal("no free node slot: 256 smoke-test nodes running")
	return nil
}

func (n *testNode) veth() string { return fmt.Sprintf("rki%d", n.slot) }

// removeNetwork deletes the node's veth pair and network namespace, if there.
func (n *testNode) removeNetwork() error {
	var errs []error
	for _, args := range [][]string{{"link", "del", n.veth()}, {"netns", "del", n.name}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil && !strings.Contains(string(out), "annot find") && !strings.Contains(string(out), "No such file") {
			errs = append(errs, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out)))
		}
	}
	return errors.Join(errs...)
}

// start starts the node's process such that it dies with the test process (unshare's
// --kill-child does the rest). The death signal follows the thread that started it, so that
// thread is kept until the node stops: dial discards the threads it moves into the node.
func (n *testNode) start() error {
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	n.stopped = make(chan struct{})
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		err := n.cmd.Start()
		started <- err
		if err == nil {
			<-n.stopped
		}
	}()
	return <-started
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
func (n *testNode) stop(t *testing.T) {
	defer n.lock.Close()
	if n.cmd != nil && n.cmd.Process != nil {
		n.cmd.Process.Kill() // --kill-child takes the namespace's init, hence everything, with it
		n.cmd.Wait()
		close(n.stopped)
	}
	errs := []error{n.removeNetwork()}
	for _, h := range n.cgroupDirs() {
		errs = append(errs, removeCgroup(h))
	}
	if err := errors.Join(errs...); err != nil {
		t.Errorf("stop node %s: %v", n.name, err)
	}
}

// cgroupDirs are the node's cgroup in every hierarchy (cgroup v1) or the unified one (v2).
func (n *testNode) cgroupDirs() []string {
	v1, _ := filepath.Glob("/sys/fs/cgroup/*/" + n.cgroup)
	v2, _ := filepath.Glob("/sys/fs/cgroup/" + n.cgroup)
	return append(v1, v2...)
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
