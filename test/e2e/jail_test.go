package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// The launcher runs the driver as Rancher does; this checks the process it starts against what
// Rancher gives a driver: chrooted into the jail, the jail user without groups, PATH=/usr/bin and
// PWD=/ only, / as the working directory, no /proc, a /tmp it cannot write.
func TestJailRunsTheDriverAsRancherDoes(t *testing.T) {
	bin := driverproc.Binary(t)
	if static, err := driverproc.IsStatic(bin); err != nil || !static {
		t.Fatalf("the driver binary is not static (%v): the jail's /lib is Rancher's, not ours", err)
	}
	j := driverproc.NewJail(t, bin, driverproc.JailOptions{Schedule: driverproc.Schedule{Wait: 10 * time.Millisecond, Retries: driverproc.RancherSchedule.Retries}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := j.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	proc := fmt.Sprintf("/proc/%d", p.Pid())
	status, err := os.ReadFile(proc + "/status")
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	for k, want := range map[string]string{"Uid": "1000 1000 1000 1000", "Gid": "1000 1000 1000 1000", "Groups": ""} {
		if fields[k] != want {
			t.Errorf("process %s: %q, want %q", k, fields[k], want)
		}
	}
	if root, err := os.Readlink(proc + "/root"); err != nil || root != j.Root {
		t.Errorf("process root %q (%v), want the jail %s", root, err, j.Root)
	}
	if cwd, err := os.Readlink(proc + "/cwd"); err != nil || cwd != j.Root {
		t.Errorf("process working directory %q (%v), want the jail's /", cwd, err)
	}
	env, err := os.ReadFile(proc + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimRight(string(env), "\x00"), "\x00"); strings.Join(got, " ") != "PATH=/usr/bin PWD=/" {
		t.Errorf("environment %q, want PATH and PWD only", got)
	}
	for path, check := range map[string]func(os.FileInfo) bool{
		"proc":                        nil,
		"etc/group":                   nil,
		"etc/ssl/certs":               nil,
		"tmp":                         func(fi os.FileInfo) bool { return fi.Mode().Perm() == 0o755 && owner(fi) == 0 },
		".":                           func(fi os.FileInfo) bool { return owner(fi) == driverproc.JailUID },
		"etc/ssl/ca-bundle.pem":       func(fi os.FileInfo) bool { return owner(fi) == 0 },
		"management-state/bin":        func(fi os.FileInfo) bool { return owner(fi) == 0 && fi.Mode().Perm() == 0o755 },
		"dev/urandom":                 func(fi os.FileInfo) bool { return fi.Mode()&os.ModeCharDevice != 0 },
		"usr/lib/os-release":          func(fi os.FileInfo) bool { return owner(fi) == 0 },
		"management-state/node/nodes": func(fi os.FileInfo) bool { return fi.IsDir() },
	} {
		fi, err := os.Lstat(filepath.Join(j.Root, path))
		if check == nil {
			if err == nil {
				t.Errorf("the jail has %s; Rancher's has none", path)
			}
			continue
		}
		if err != nil || !check(fi) {
			t.Errorf("jail %s: %v %v", path, fi, err)
		}
	}
}

// Rancher's own CA (a private CA of the installation, /etc/ssl/cacerts.pem in the jail) signs
// Harvester's certificate and Rancher reaches Harvester through its HTTPS proxy: a kubeconfig without
// certificate-authority-data works, every request to Harvester's API goes through the proxy, and
// the driver's SSH to the nodes never does.
func TestJailWithRancherCAAndProxy(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{})
	proxy := startConnectProxy(t, map[string]string{"kubernetes.default": "127.0.0.1"})
	j := driverproc.NewJail(t, driverproc.Binary(t), driverproc.JailOptions{
		RancherCA: sim.CACert,
		Env:       []string{"HTTPS_PROXY=http://" + proxy.addr, "NO_PROXY=example.invalid"},
	})
	p := driverproc.StartInJail(j)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	_, port, _ := net.SplitHostPort(strings.TrimPrefix(sim.Server, "https://"))
	opts := simOptions(sim, "c-proxied", "all=1:etcd+controlplane+worker")
	opts.StringOptions["kubeconfig-content"] = string(kubeconfigWithoutCA(t, "https://kubernetes.default:"+port, sim.ClientCert, sim.ClientKey))
	info, err := p.Client.Create(ctx, opts, nil)
	expectKubernetesStep(t, info, err)
	if err := p.Client.Remove(ctx, info); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, sim, "c-proxied")
	targets := proxy.targets()
	if len(targets) == 0 {
		t.Fatal("no request went through the proxy")
	}
	for _, tgt := range targets {
		if tgt != "kubernetes.default:"+port {
			t.Errorf("the proxy was asked for %s: only Harvester's API goes through it", tgt)
		}
	}
	t.Logf("%d connections through the proxy", len(targets))
}

func owner(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// kubeconfigWithoutCA is an admin kubeconfig for server that leaves the CA to the system (and
// Rancher's CA files).
func kubeconfigWithoutCA(t *testing.T, server string, cert, key []byte) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["h"] = &clientcmdapi.Cluster{Server: server}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["h"] = &clientcmdapi.Context{Cluster: "h", AuthInfo: "admin"}
	cfg.CurrentContext = "h"
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// connectProxy is an HTTP CONNECT proxy that maps host names to addresses and records what it
// was asked for.
type connectProxy struct {
	addr string
	mu   sync.Mutex
	seen []string
}

func (p *connectProxy) targets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

func startConnectProxy(t *testing.T, hosts map[string]string) *connectProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{addr: l.Addr().String()}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(conn, hosts)
		}
	}()
	return p
}

func (p *connectProxy) serve(conn net.Conn, hosts map[string]string) {
	defer conn.Close()
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	p.mu.Lock()
	p.seen = append(p.seen, req.Host)
	p.mu.Unlock()
	host, port, _ := net.SplitHostPort(req.Host)
	if mapped, ok := hosts[host]; ok {
		host = mapped
	}
	upstream, err := net.Dial("tcp", net.JoinHostPort(host, port))
	if err != nil {
		io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer upstream.Close()
	io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { io.Copy(upstream, conn); done <- struct{}{} }()
	go func() { io.Copy(conn, upstream); done <- struct{}{} }()
	<-done
}
