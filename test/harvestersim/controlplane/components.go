package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/internal/proc"
)

// freePort asks the kernel for an unused port on 127.0.0.1. Another process may take it before the
// component binds it; starts retry with new ports when a component reports the address in use.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portTaken reports whether a component failed because its port was taken meanwhile.
func portTaken(p *proc.Proc) bool {
	data, _ := os.ReadFile(p.Log)
	return strings.Contains(string(data), "address already in use")
}

// waitReady calls check with backoff until it succeeds, the process exits or ctx ends. A component
// starting up is a network peer: there is nothing to watch.
func waitReady(ctx context.Context, p *proc.Proc, check func(context.Context) error) error {
	delay := 20 * time.Millisecond
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return p.ExitError()
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last check: %v)", p.Name, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

func httpOK(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// etcd is a single-member etcd on 127.0.0.1 without fsync (the data dies with the stand-in).
type etcd struct {
	proc *proc.Proc
	url  string
}

func startEtcd(ctx context.Context, bin, dir string, reg *proc.Registry) (*etcd, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		client, err1 := freePort()
		peer, err2 := freePort()
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("start etcd: no free port: %v %v", err1, err2)
		}
		url := "http://127.0.0.1:" + strconv.Itoa(client)
		peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
		p, err := proc.Start(reg, "etcd", filepath.Join(dir, "etcd.log"), proc.Env, bin,
			"--name=harvestersim", "--data-dir="+filepath.Join(dir, "etcd"),
			"--listen-client-urls="+url, "--advertise-client-urls="+url,
			"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
			"--initial-cluster=harvestersim="+peerURL, "--unsafe-no-fsync", "--log-level=warn")
		if err != nil {
			return nil, err
		}
		err = waitReady(ctx, p, func(ctx context.Context) error { return httpOK(ctx, http.DefaultClient, url+"/health") })
		if err == nil {
			return &etcd{proc: p, url: url}, nil
		}
		p.Kill()
		if !portTaken(p) {
			return nil, fmt.Errorf("start etcd: %w", err)
		}
		lastErr = err
	}
	return nil, fmt.Errorf("start etcd: ports kept being taken: %w", lastErr)
}

// apiServer is kube-apiserver on 127.0.0.1 with TLS, client certificates and RBAC. It can be stopped and
// started again on the same port with the same data, to inject an API server restart.
type apiServer struct {
	bin  string
	dir  string
	args []string
	reg  *proc.Registry
	port int
	url  string
	pki  *pki
	proc *proc.Proc
}

func startAPIServer(ctx context.Context, bin, dir, etcdURL string, p *pki, reg *proc.Registry) (*apiServer, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		a := &apiServer{bin: bin, dir: dir, reg: reg, port: port, pki: p,
			url: "https://127.0.0.1:" + strconv.Itoa(port)}
		a.args = []string{bin,
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
			"--tls-cert-file=" + p.path("serving.crt"), "--tls-private-key-file=" + p.path("serving.key"),
			"--client-ca-file=" + p.path("ca.crt"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + p.path("sa.pub"), "--service-account-signing-key-file=" + p.path("sa.key"),
			"--service-cluster-ip-range=10.0.0.0/24",
			// The kubernetes Service's endpoint would be 127.0.0.1, which Endpoints reject: no endpoints.
			"--endpoint-reconciler-type=none",
			"--authorization-mode=RBAC",
			"--allow-privileged=true",
			"--profiling=false",
		}
		if err = a.start(ctx); err == nil {
			return a, nil
		}
		if a.proc == nil || !portTaken(a.proc) {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("start kube-apiserver: ports kept being taken: %w", lastErr)
}

func (a *apiServer) start(ctx context.Context) error {
	p, err := proc.Start(a.reg, "kube-apiserver", filepath.Join(a.dir, "kube-apiserver.log"), proc.Env, a.args...)
	if err != nil {
		return err
	}
	a.proc = p
	c, err := a.httpClient()
	if err != nil {
		p.Kill()
		return err
	}
	if err := waitReady(ctx, p, func(ctx context.Context) error { return httpOK(ctx, c, a.url+"/readyz") }); err != nil {
		p.Kill()
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	return nil
}

// restart stops kube-apiserver (SIGTERM, as a rolling restart would) and starts it again on the same
// port with the same etcd data, returning once it is ready again.
func (a *apiServer) restart(ctx context.Context) error {
	a.proc.Stop(15 * time.Second)
	return a.start(ctx)
}

func (a *apiServer) httpClient() (*http.Client, error) {
	cert, err := tls.X509KeyPair(a.pki.AdminCert, a.pki.AdminKey)
	if err != nil {
		return nil, fmt.Errorf("load admin certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(a.pki.CACert)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

// kcmControllers are the kube-controller-manager controllers whose effects the driver relies on:
// service-account tokens (Rancher's access to the built cluster), garbage collection of owner-referenced
// objects (cloud-init Secrets), PVC protection, namespaces and their root CA ConfigMaps.
var kcmControllers = []string{
	"serviceaccount-controller", "serviceaccount-token-controller", "garbage-collector-controller",
	"persistentvolumeclaim-protection-controller", "namespace-controller",
	"root-ca-certificate-publisher-controller",
}

func startControllerManager(bin, dir, kubeconfigPath string, p *pki, reg *proc.Registry) (*proc.Proc, error) {
	return proc.Start(reg, "kube-controller-manager", filepath.Join(dir, "kube-controller-manager.log"), proc.Env, bin,
		"--kubeconfig="+kubeconfigPath,
		"--controllers="+strings.Join(kcmControllers, ","),
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+p.path("sa.key"),
		"--root-ca-file="+p.path("ca.crt"),
		"--leader-elect=false",
		"--secure-port=0",
		"--profiling=false",
	)
}
