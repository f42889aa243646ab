// Package controlplane runs the stand-in's Kubernetes control plane on 127.0.0.1: etcd,
// kube-apiserver (TLS, client certificates, RBAC) and kube-controller-manager, with their PKI and
// kubeconfigs, the Kubernetes binaries built from the Go module proxy, and the KubeVirt, Harvester
// and Multus CRDs with real schemas.
package controlplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/internal/proc"
)

// Config says what a control plane is made of and where it works.
type Config struct {
	Dir      string         // work directory: data, logs, PKI, kubeconfigs
	BinDir   string         // holds kube-apiserver and kube-controller-manager (Binaries)
	Etcd     string         // the etcd server binary
	CRDDir   string         // the generated KubeVirt CRDs (KubeVirtCRDs); "" installs no CRDs
	Registry *proc.Registry // records the processes started
}

// ControlPlane is a running control plane. Its exported fields say how to reach the API server as
// an admin.
type ControlPlane struct {
	// Server is the API server's URL (https://127.0.0.1:<port>); CACert, AdminCert and AdminKey are
	// PEM: the cluster CA and an admin client certificate (group system:masters) and key.
	Server                      string
	CACert, AdminCert, AdminKey []byte
	// Kubeconfig is an admin kubeconfig with the certificates embedded; KubeconfigPath holds the same.
	Kubeconfig     []byte
	KubeconfigPath string
	// Config is the admin client configuration, with rate limits raised for tests that create many
	// objects at once.
	Config *rest.Config

	cfg     Config
	kcmPath string
	etcd    *etcd
	api     *apiServer
	kcm     *proc.Proc
}

// Start starts etcd, kube-apiserver and, once the CRDs are installed (so that its garbage collector
// watches them from its first sync), kube-controller-manager. On failure it stops what it started.
func Start(ctx context.Context, cfg Config) (c *ControlPlane, err error) {
	c = &ControlPlane{cfg: cfg}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	pki, err := newPKI(filepath.Join(cfg.Dir, "pki"))
	if err != nil {
		return nil, err
	}
	if c.etcd, err = startEtcd(ctx, cfg.Etcd, cfg.Dir, cfg.Registry); err != nil {
		return nil, err
	}
	if c.api, err = startAPIServer(ctx, filepath.Join(cfg.BinDir, "kube-apiserver"), cfg.Dir, c.etcd.url, pki, cfg.Registry); err != nil {
		return nil, err
	}
	c.Server, c.CACert, c.AdminCert, c.AdminKey = c.api.url, pki.CACert, pki.AdminCert, pki.AdminKey
	if c.Kubeconfig, err = kubeconfig(c.Server, pki.CACert, pki.AdminCert, pki.AdminKey, "harvestersim"); err != nil {
		return nil, err
	}
	c.KubeconfigPath = filepath.Join(cfg.Dir, "kubeconfig")
	if err := os.WriteFile(c.KubeconfigPath, c.Kubeconfig, 0o600); err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	c.Config = &rest.Config{
		Host:            c.Server,
		TLSClientConfig: rest.TLSClientConfig{CAData: pki.CACert, CertData: pki.AdminCert, KeyData: pki.AdminKey},
		QPS:             200,
		Burst:           400,
	}
	if cfg.CRDDir != "" {
		dyn, err := dynamic.NewForConfig(c.Config)
		if err != nil {
			return nil, fmt.Errorf("create client: %w", err)
		}
		crds, err := loadCRDs(cfg.CRDDir)
		if err != nil {
			return nil, err
		}
		if err := installCRDs(ctx, dyn, crds); err != nil {
			return nil, err
		}
		cs, err := kubernetes.NewForConfig(c.Config)
		if err != nil {
			return nil, fmt.Errorf("create client: %w", err)
		}
		if err := installClusterRoles(ctx, cs); err != nil {
			return nil, err
		}
	}
	kcmConfig, err := kubeconfig(c.Server, pki.CACert, pki.KCMCert, pki.KCMKey, "kube-controller-manager")
	if err != nil {
		return nil, err
	}
	c.kcmPath = filepath.Join(cfg.Dir, "kube-controller-manager.kubeconfig")
	if err := os.WriteFile(c.kcmPath, kcmConfig, 0o600); err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	if c.kcm, err = c.startKCM(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *ControlPlane) startKCM() (*proc.Proc, error) {
	return startControllerManager(filepath.Join(c.cfg.BinDir, "kube-controller-manager"), c.cfg.Dir, c.kcmPath, c.api.pki, c.cfg.Registry)
}

// RestartAPIServer stops kube-apiserver and starts it again on the same port with the same data, as a
// restart of Harvester's API looks to clients (their connections and watches end); it returns once it
// serves again. kube-controller-manager restarts with it, so it resumes at once rather than after
// client-go's reconnect backoff (up to a minute).
func (c *ControlPlane) RestartAPIServer(ctx context.Context) error {
	c.kcm.Stop(3 * time.Second)
	c.kcm = nil
	if err := c.api.restart(ctx); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	var err error
	if c.kcm, err = c.startKCM(); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	return nil
}

// PIDs returns the process IDs of the running components, by name ("etcd", "kube-apiserver",
// "kube-controller-manager").
func (c *ControlPlane) PIDs() map[string]int {
	out := map[string]int{}
	for name, p := range c.procs() {
		out[name] = p.PID()
	}
	return out
}

func (c *ControlPlane) procs() map[string]*proc.Proc {
	out := map[string]*proc.Proc{}
	if c.etcd != nil {
		out["etcd"] = c.etcd.proc
	}
	if c.api != nil && c.api.proc != nil {
		out["kube-apiserver"] = c.api.proc
	}
	if c.kcm != nil {
		out["kube-controller-manager"] = c.kcm
	}
	return out
}

// Stop stops the components, the controller manager first and etcd last, by PID.
func (c *ControlPlane) Stop() {
	procs := c.procs()
	for _, name := range []string{"kube-controller-manager", "kube-apiserver", "etcd"} {
		if p := procs[name]; p != nil {
			p.Stop(3 * time.Second)
		}
	}
}
