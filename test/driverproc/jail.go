package driverproc

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

// The jail user and its group, as Rancher's image creates them (user rancher, group
// jail-accessors) with the ids the issue of this harness names.
const (
	JailUID = 1000
	JailGID = 1000
)

// binaryInJail is where Rancher installs a cluster driver it downloaded.
const binaryInJail = "/management-state/bin/kontainer-engine-driver-harvesterrke"

// Jail is a rebuilt Rancher driver jail (rancher/rancher package/jailer.sh and pkg/jailer, the
// same in 2.11 to 2.15): mkdir -p of dev, etc/ssl, usr/bin, bin, tmp and management-state
// (all root-owned, mode 0755, so /tmp is not writable by the jail user); /lib and /usr/lib copied
// (here: hard links); the CA bundle as /etc/ssl/ca-bundle.pem and Rancher's private CA as
// /etc/ssl/cacerts.pem when it has one; resolv.conf, passwd, hosts and nsswitch.conf; /dev with
// null, zero, random, urandom, tty, full and the fd/std* links. No /proc, no /etc/group, no
// /etc/ssl/certs. Only the jail's root belongs to the jail user. The driver binary is installed
// root-owned, mode 0755, in management-state/bin.
type Jail struct {
	Root string
	env  []string
	opts JailOptions
}

// JailOptions shape a jail and the processes started in it.
type JailOptions struct {
	// RancherCA is Rancher's private CA, copied to /etc/ssl/cacerts.pem (empty: none).
	RancherCA []byte
	// Env are the variables Rancher passes besides PATH (it passes HTTP_PROXY, HTTPS_PROXY and
	// NO_PROXY when it has them).
	Env []string
	// Schedule is how Rancher waits for a started driver; zero means RancherSchedule.
	Schedule Schedule
}

// NewJail builds a jail under the test's temporary directory with bin installed. It needs root
// (device nodes, chroot, changing users).
func NewJail(t testing.TB, bin string, opts JailOptions) *Jail {
	t.Helper()
	testenv.NeedRoot(t, "the driver jail (chroot, device nodes, the jail user)")
	root := filepath.Join(t.TempDir(), "driver-jail")
	if err := buildJail(root, bin, opts); err != nil {
		t.Fatalf("build the driver jail: %v", err)
	}
	if opts.Schedule.isZero() {
		opts.Schedule = RancherSchedule
	}
	return &Jail{Root: root, opts: opts, env: append([]string{"PATH=/usr/bin", "PWD=/"}, opts.Env...)}
}

func buildJail(root, bin string, opts JailOptions) error {
	for _, d := range []string{"dev", "etc/ssl", "usr/bin", "bin", "tmp", "management-state/bin", "management-state/node/nodes", "var/lib/rancher/management-state/bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	// Hard links: the same files, owners and modes as a copy, without copying gigabytes.
	for _, lib := range []string{"/usr/lib", "/usr/lib64"} {
		if _, err := os.Stat(lib); err != nil {
			continue
		}
		if out, err := exec.Command("cp", "-a", "--link", lib, filepath.Join(root, "usr")).CombinedOutput(); err != nil {
			return fmt.Errorf("copy %s: %v: %s", lib, err, out)
		}
	}
	// This machine merges /lib into /usr/lib; jailer.sh's copy of /lib then is the same tree.
	for _, l := range []string{"lib", "lib64"} {
		if _, err := os.Stat(filepath.Join(root, "usr", l)); err == nil {
			if err := os.Symlink("usr/"+l, filepath.Join(root, l)); err != nil {
				return err
			}
		}
	}
	copies := map[string]string{
		"/etc/ssl/certs/ca-certificates.crt": "etc/ssl/ca-bundle.pem",
		"/etc/resolv.conf":                   "etc/resolv.conf",
		"/etc/hosts":                         "etc/hosts",
		"/etc/nsswitch.conf":                 "etc/nsswitch.conf",
	}
	for from, to := range copies {
		if err := copyFile(from, filepath.Join(root, to), 0o644); err != nil {
			return err
		}
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/bin/bash\nrancher:x:%d:%d::/home/rancher:/bin/bash\n", JailUID, JailGID)
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		return err
	}
	if len(opts.RancherCA) > 0 {
		if err := os.WriteFile(filepath.Join(root, "etc/ssl/cacerts.pem"), opts.RancherCA, 0o644); err != nil {
			return err
		}
	}
	for name, dev := range map[string][2]uint32{"null": {1, 3}, "zero": {1, 5}, "full": {1, 7}, "random": {1, 8}, "urandom": {1, 9}, "tty": {5, 0}} {
		path := filepath.Join(root, "dev", name)
		if err := syscall.Mknod(path, syscall.S_IFCHR|0o666, int(dev[0]<<8|dev[1])); err != nil {
			return fmt.Errorf("mknod %s: %w", path, err)
		}
		if err := os.Chmod(path, 0o666); err != nil { // mknod is subject to the umask
			return err
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "core": "/proc/kcore"} {
		if err := os.Symlink(target, filepath.Join(root, "dev", name)); err != nil {
			return err
		}
	}
	if err := copyFile(bin, filepath.Join(root, binaryInJail), 0o755); err != nil {
		return err
	}
	// SetJailOwnership: only the jail's root directory.
	return os.Chown(root, JailUID, JailGID)
}

func copyFile(from, to string, mode os.FileMode) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, mode)
}

// command is the driver process for port, as pkg/jailer starts it: chrooted into the jail, as the
// jail user with no supplementary groups, the environment Rancher passes, working directory /.
func (j *Jail) command(port int) *exec.Cmd {
	cmd := exec.Command(binaryInJail, fmt.Sprint(port))
	cmd.Dir = "/"
	cmd.Env = j.env
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     j.Root,
		Credential: &syscall.Credential{Uid: JailUID, Gid: JailGID, Groups: []uint32{}},
		Pdeathsig:  syscall.SIGKILL,
	}
	return cmd
}

// IsStatic tells whether an ELF binary needs no loader (no PT_INTERP program header): inside the
// jail it then relies on nothing of the jail's /lib.
func IsStatic(bin string) (bool, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}
