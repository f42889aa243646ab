package docker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

// fakeNode is a fake root for running the generated script with /bin/sh: PATH holds only stubs
// (docker, dockerd, systemctl, curl, apt-get, dnf, getent, groupadd, id, usermod) and the few real
// tools the script needs. Stubs log their calls and keep their state in files.
type fakeNode struct {
	t    *testing.T
	root string
}

// Stubs; %[1]s is the fake root. "installed" copies docker and dockerd from pkg/ into bin/.
var stubs = map[string]string{
	"docker": `echo "docker $*" >>%[1]s/calls
case "$1" in
--version) echo "Docker version $(cat %[1]s/state/version), build stub" ;;
info)
	[ -f %[1]s/state/active ] || [ -f %[1]s/run/docker.pid ] || { echo "Cannot connect to the Docker daemon" >&2; exit 1; }
	[ $# -eq 1 ] || cat %[1]s/state/version ;;
esac`,
	// Without systemd: runs until TERM, like dockerd, with its pid file.
	"dockerd": `echo "dockerd $*" >>%[1]s/calls
trap 'kill $child; rm -f %[1]s/run/docker.pid; exit 0' TERM
echo $$ >%[1]s/run/docker.pid
sleep 60 & child=$!
wait`,
	"systemctl": `echo "systemctl $*" >>%[1]s/calls
case "$1" in
is-enabled) [ -f %[1]s/state/enabled ] ;;
is-active) [ -f %[1]s/state/active ] ;;
enable) touch %[1]s/state/enabled ;;
start|restart) touch %[1]s/state/active ;;
esac`,
	"curl": `echo "curl $*" >>%[1]s/calls
case "$*" in *fail*) echo "curl: (22) The requested URL returned error: 404" >&2; exit 22 ;; esac
while [ "$1" != -o ]; do shift; done
printf 'cp %[1]s/pkg/* %[1]s/bin/\necho installed by script\n' >"$2"`,
	"apt-get": `echo "apt-get $*" >>%[1]s/calls
[ "$1" = update ] || cp %[1]s/pkg/* %[1]s/bin/`,
	"dnf": `echo "dnf $*" >>%[1]s/calls
cp %[1]s/pkg/* %[1]s/bin/`,
	"getent":   `[ -f %[1]s/state/group ]`,
	"groupadd": `echo "groupadd $*" >>%[1]s/calls; touch %[1]s/state/group`,
	"id":       `if [ -f %[1]s/state/member ]; then echo "$2 docker"; else echo "$2"; fi`,
	"usermod":  `echo "usermod $*" >>%[1]s/calls; touch %[1]s/state/member`,
}

// realTools are what the script uses from the system.
var realTools = []string{"cat", "mkdir", "dirname", "mv", "rm", "mktemp", "sleep", "setsid", "sh", "touch", "cp", "kill"}

type nodeSetup struct {
	systemd bool
	docker  bool     // installed
	tools   []string // installers present: curl, apt-get, dnf
	group   bool     // the docker group exists
}

func newFakeNode(t *testing.T, s nodeSetup) *fakeNode {
	t.Helper()
	n := &fakeNode{t: t, root: t.TempDir()}
	for _, d := range []string{"bin", "pkg", "state", "run", "tmp", "etc", "var/log"} {
		n.mkdir(d)
	}
	for _, tool := range realTools {
		path, err := exec.LookPath(tool)
		if err != nil {
			testenv.Skipf(t, "%s not found: %v", tool, err)
		}
		if err := os.Symlink(path, filepath.Join(n.root, "bin", tool)); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range stubs {
		dir := "bin"
		switch {
		case name == "docker" || name == "dockerd":
			dir = "pkg"
		case name == "systemctl" && !s.systemd, slices.Contains([]string{"curl", "apt-get", "dnf"}, name) && !slices.Contains(s.tools, name):
			continue
		}
		n.write(filepath.Join(dir, name), "#!/bin/sh\n"+fmt.Sprintf(body, n.root)+"\n", 0o755)
	}
	if s.docker {
		for _, name := range []string{"docker", "dockerd"} {
			n.write(filepath.Join("bin", name), n.read(filepath.Join("pkg", name)), 0o755)
		}
	}
	if s.systemd {
		n.mkdir("run/systemd/system")
	}
	if s.group {
		n.write("state/group", "", 0o644)
	}
	n.write("state/version", "28.1.1\n", 0o644)
	t.Cleanup(n.stopDockerd)
	return n
}

func (n *fakeNode) layout() layout {
	return layout{
		path:       filepath.Join(n.root, "bin"),
		daemonJSON: filepath.Join(n.root, "etc/docker/daemon.json"),
		certsDir:   filepath.Join(n.root, "etc/docker/certs.d"),
		pidFile:    filepath.Join(n.root, "run/docker.pid"),
		dockerdLog: filepath.Join(n.root, "var/log/dockerd.log"),
		systemdDir: filepath.Join(n.root, "run/systemd/system"),
	}
}

// run runs the script as the Runner would (sh -s, script on stdin) and returns its output and the
// calls the stubs saw during this run.
func (n *fakeNode) run(cfg Config, user string) (out string, calls []string, err error) {
	n.t.Helper()
	script, err := script(cfg, user, n.layout(), nil)
	if err != nil {
		n.t.Fatal(err)
	}
	os.Remove(filepath.Join(n.root, "calls"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-s")
	cmd.Stdin = strings.NewReader(script)
	cmd.Env = []string{"TMPDIR=" + filepath.Join(n.root, "tmp")}
	b, err := cmd.CombinedOutput()
	if c, rerr := os.ReadFile(filepath.Join(n.root, "calls")); rerr == nil {
		calls = strings.Split(strings.TrimSpace(string(c)), "\n")
	}
	return string(b), calls, err
}

func (n *fakeNode) stopDockerd() {
	if b, err := os.ReadFile(filepath.Join(n.root, "run/docker.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			syscall.Kill(pid, syscall.SIGTERM)
		}
	}
}

func (n *fakeNode) mkdir(rel string) {
	if err := os.MkdirAll(filepath.Join(n.root, rel), 0o755); err != nil {
		n.t.Fatal(err)
	}
}

func (n *fakeNode) write(rel, content string, mode os.FileMode) {
	if err := os.WriteFile(filepath.Join(n.root, rel), []byte(content), mode); err != nil {
		n.t.Fatal(err)
	}
}

func (n *fakeNode) read(rel string) string {
	b, err := os.ReadFile(filepath.Join(n.root, rel))
	if err != nil {
		n.t.Fatal(err)
	}
	return string(b)
}

// Stand-ins for CA certificates: the script copies them and never parses them.
const (
	testCA  = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
	otherCA = "-----BEGIN CERTIFICATE-----\nMIIBother\n-----END CERTIFICATE-----\n"
)

// step is one run of the script on the same fake node.
type step struct {
	cfg        Config
	user       string
	wantCalls  []string // each must be a prefix of some call
	avoidCalls []string // none may be a prefix of any call
	wantErr    string   // in the output of a failing run
	changed    bool
}

func TestScriptOnFakeNode(t *testing.T) {
	testenv.SkipShort(t, "runs /bin/sh")
	mirror := func(m string) Config {
		return Config{InstallMethod: InstallScript, InstallURL: "https://get.example/28.1.sh", RegistryMirrors: []string{m}}
	}
	distro := Config{InstallMethod: InstallDistro}
	withCA := func(pem string) Config {
		return Config{InstallMethod: InstallNone, RegistryCA: RegistryCA{Host: "registry.example.com:5000", PEM: []byte(pem)}}
	}
	none := Config{InstallMethod: InstallNone}
	noChange := step{avoidCalls: []string{"curl", "apt-get", "dnf", "systemctl enable", "systemctl start", "systemctl restart", "usermod", "groupadd", "dockerd"}}
	again := func(cfg Config, user string) step { s := noChange; s.cfg, s.user = cfg, user; return s }

	tests := []struct {
		name  string
		setup nodeSetup
		steps []step
	}{
		{
			name:  "script install with systemd, then idempotent, then new daemon.json",
			setup: nodeSetup{systemd: true, tools: []string{"curl", "apt-get"}},
			steps: []step{
				{cfg: mirror("https://m1"), user: "rancher", changed: true,
					wantCalls:  []string{"curl -fsSL https://get.example/28.1.sh", "groupadd -r docker", "usermod -aG docker rancher", "systemctl enable docker", "systemctl start docker"},
					avoidCalls: []string{"apt-get", "systemctl restart"}},
				again(mirror("https://m1"), "rancher"),
				{cfg: mirror("https://m2"), user: "rancher", changed: true,
					wantCalls:  []string{"systemctl restart docker"},
					avoidCalls: []string{"curl", "usermod", "systemctl start"}},
			},
		},
		{
			name:  "distro prefers apt-get",
			setup: nodeSetup{systemd: true, tools: []string{"apt-get", "dnf"}, group: true},
			steps: []step{
				{cfg: distro, user: "rancher", changed: true,
					wantCalls:  []string{"apt-get update", "apt-get install -y -q docker.io", "usermod -aG docker rancher"},
					avoidCalls: []string{"dnf", "groupadd"}},
				again(distro, "rancher"),
			},
		},
		{
			name:  "distro with dnf",
			setup: nodeSetup{systemd: true, tools: []string{"dnf"}, group: true},
			steps: []step{{cfg: distro, user: "rancher", changed: true, wantCalls: []string{"dnf install -y docker"}}},
		},
		{
			name:  "distro without a package manager",
			setup: nodeSetup{systemd: true},
			steps: []step{{cfg: distro, user: "rancher", wantErr: "no apt-get, dnf, yum or zypper"}},
		},
		{
			name:  "install script download fails",
			setup: nodeSetup{systemd: true, tools: []string{"curl"}},
			steps: []step{{cfg: Config{InstallMethod: InstallScript, InstallURL: "https://get.example/fail.sh"}, user: "rancher", wantErr: "download of https://get.example/fail.sh failed"}},
		},
		{
			name:  "none and no docker",
			setup: nodeSetup{systemd: true, tools: []string{"curl", "apt-get"}},
			steps: []step{{cfg: none, user: "rancher", wantErr: "install method is none", avoidCalls: []string{"curl", "apt-get"}}},
		},
		{
			name:  "docker in the image, no init system",
			setup: nodeSetup{docker: true, group: true},
			steps: []step{
				{cfg: mirror("https://m1"), user: "rancher", changed: true,
					wantCalls:  []string{"dockerd", "usermod -aG docker rancher"},
					avoidCalls: []string{"curl", "systemctl"}},
				again(mirror("https://m1"), "rancher"),
				{cfg: mirror("https://m2"), user: "rancher", changed: true, wantCalls: []string{"dockerd"}},
				again(mirror("https://m2"), "rancher"),
			},
		},
		{
			name:  "registry CA written once, replaced when it changes, without a restart",
			setup: nodeSetup{systemd: true, docker: true, group: true},
			steps: []step{
				{cfg: withCA(testCA), user: "rancher", changed: true, wantCalls: []string{"systemctl start docker"}},
				again(withCA(testCA), "rancher"),
				{cfg: withCA(otherCA), user: "rancher", changed: true, avoidCalls: []string{"systemctl restart"}},
				again(withCA(otherCA), "rancher"),
			},
		},
		{
			name:  "root needs no group",
			setup: nodeSetup{systemd: true, docker: true},
			steps: []step{
				{cfg: none, user: "root", changed: true, wantCalls: []string{"systemctl start docker"}, avoidCalls: []string{"usermod", "groupadd"}},
				again(none, "root"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newFakeNode(t, tt.setup)
			for i, s := range tt.steps {
				out, calls, err := n.run(s.cfg, s.user)
				if s.wantErr != "" {
					if err == nil || !strings.Contains(out, s.wantErr) {
						t.Fatalf("run %d: err = %v, output:\n%s\nwant failure with %q", i+1, err, out, s.wantErr)
					}
				} else if err != nil {
					t.Fatalf("run %d: %v, output:\n%s", i+1, err, out)
				}
				for _, w := range s.wantCalls {
					if !slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, w) }) {
						t.Errorf("run %d: no call %q in %q", i+1, w, calls)
					}
				}
				for _, a := range s.avoidCalls {
					if slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, a) }) {
						t.Errorf("run %d: unexpected call %q in %q", i+1, a, calls)
					}
				}
				if s.wantErr != "" {
					continue
				}
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if last := lines[len(lines)-1]; last != versionPrefix+"28.1.1" {
					t.Errorf("run %d: last line %q, want the version", i+1, last)
				}
				if want := changedPrefix + map[bool]string{true: "1", false: "0"}[s.changed]; !slices.Contains(lines, want) {
					t.Errorf("run %d: output lacks %s:\n%s", i+1, want, out)
				}
				if want, _ := daemonJSON(s.cfg, nil); want != "" && n.read("etc/docker/daemon.json") != want+"\n" {
					t.Errorf("run %d: daemon.json = %q, want %q", i+1, n.read("etc/docker/daemon.json"), want)
				}
				if ca := s.cfg.RegistryCA; len(ca.PEM) > 0 {
					if got := n.read("etc/docker/certs.d/" + ca.Host + "/ca.crt"); got != string(ca.PEM) {
						t.Errorf("run %d: ca.crt = %q, want %q", i+1, got, ca.PEM)
					}
				}
			}
		})
	}
}
