package harvestersim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
)

// Sim is a running stand-in. Its exported fields say how to reach its API server as an admin.
type Sim struct {
	// Kubeconfig is an admin kubeconfig with the certificates embedded; KubeconfigPath holds the same.
	Kubeconfig     []byte
	KubeconfigPath string
	Config         *rest.Config
	// Server is the API server's URL (https://127.0.0.1:<port>); CACert, ClientCert and ClientKey are
	// PEM: the cluster CA and an admin client certificate (group system:masters) and key.
	Server                        string
	CACert, ClientCert, ClientKey []byte
	// Images and Networks are the registered images and networks, "<namespace>/<name>".
	Images   []string
	Networks []string

	opts     Options
	root     bool
	slot     *slot
	reg      *pidFile
	etcd     *etcd
	api      *apiServer
	kcm      *proc
	startKCM func() (*proc, error)
	clients  *clients
	hosts    *hostManager
	kube     *kubeSupport
	proxy    *http.Server // the hosts' apt proxy
	switched bool         // the hosts' switch exists
	tunables tunables     // the machine's sysctls when the stand-in started
	faults   *faultSet
	ctrl     *controller
	stopCtrl context.CancelFunc
	waitCtrl func()
	firewall bool

	closeOnce sync.Once
	closeErr  error
}

type clients struct {
	dyn  dynamic.Interface
	kube kubernetes.Interface
}

// ErrNeedsRoot is returned by New when fake hosts are asked for without root privileges.
var ErrNeedsRoot = errors.New("harvestersim: fake hosts need root (network namespaces, mounts, iptables): " +
	"run as root (CI does), or set Options.NoHosts or Options.KubernetesOnly")

// New starts a stand-in; Close stops it and removes everything it made. On a cold machine New builds
// what it needs first (Kubernetes binaries, CRDs, root filesystems: minutes), then caches it.
func New(ctx context.Context, opts Options) (s *Sim, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	root := os.Geteuid() == 0
	withHosts := !opts.NoHosts && !opts.KubernetesOnly
	if withHosts && !root {
		return nil, ErrNeedsRoot
	}
	if opts.RKEImages && !withHosts {
		return nil, errors.New("harvestersim: RKEImages needs fake hosts (not NoHosts or KubernetesOnly)")
	}
	etcdBin, err := exec.LookPath(opts.EtcdBinary)
	if err != nil {
		return nil, fmt.Errorf("harvestersim: etcd not found (apt-get install etcd-server): %w", err)
	}
	var variants []Rootfs
	if withHosts {
		variants = append(variants, opts.Rootfs)
		for _, img := range opts.Images {
			variants = append(variants, img.Rootfs)
		}
	}
	p, err := prepare(ctx, opts, variants)
	if err != nil {
		return nil, err
	}
	binDir, crdDir := p.binDir, p.crdDir

	s = &Sim{opts: opts, root: root, kube: p.kube}
	defer func() {
		if err != nil {
			if cerr := s.Close(); cerr != nil {
				err = fmt.Errorf("%w (and tearing down: %v)", err, cerr)
			}
			s = nil
		}
	}()
	if s.slot, err = acquireSlot(runDir(), root, opts.Logf); err != nil {
		return s, err
	}
	s.reg = &pidFile{path: filepath.Join(s.slot.dir, "pids")}
	pki, err := newPKI(filepath.Join(s.slot.dir, "pki"))
	if err != nil {
		return s, err
	}
	if s.etcd, err = startEtcd(ctx, etcdBin, s.slot.dir, s.reg); err != nil {
		return s, err
	}
	if s.api, err = startAPIServer(ctx, filepath.Join(binDir, "kube-apiserver"), s.slot.dir, s.etcd.url, pki, s.reg); err != nil {
		return s, err
	}
	s.Server, s.CACert, s.ClientCert, s.ClientKey = s.api.url, pki.CACert, pki.AdminCert, pki.AdminKey
	if s.Kubeconfig, err = kubeconfig(s.Server, pki.CACert, pki.AdminCert, pki.AdminKey, "harvestersim"); err != nil {
		return s, err
	}
	s.KubeconfigPath = filepath.Join(s.slot.dir, "kubeconfig")
	if err := os.WriteFile(s.KubeconfigPath, s.Kubeconfig, 0o600); err != nil {
		return s, fmt.Errorf("write kubeconfig: %w", err)
	}
	s.Config = restConfig(s.Server, pki.CACert, pki.AdminCert, pki.AdminKey)
	s.clients = &clients{}
	if s.clients.dyn, err = dynamic.NewForConfig(s.Config); err != nil {
		return s, fmt.Errorf("create client: %w", err)
	}
	if s.clients.kube, err = kubernetes.NewForConfig(s.Config); err != nil {
		return s, fmt.Errorf("create client: %w", err)
	}
	// CRDs before the controller manager: its garbage collector then watches VMs from its first sync.
	if crdDir != "" {
		crds, err := loadCRDs(crdDir)
		if err != nil {
			return s, err
		}
		if err := installCRDs(ctx, s.clients.dyn, crds); err != nil {
			return s, err
		}
	}
	kcmConfig, err := kubeconfig(s.Server, pki.CACert, pki.KCMCert, pki.KCMKey, "kube-controller-manager")
	if err != nil {
		return s, err
	}
	kcmPath := filepath.Join(s.slot.dir, "kube-controller-manager.kubeconfig")
	if err := os.WriteFile(kcmPath, kcmConfig, 0o600); err != nil {
		return s, fmt.Errorf("write kubeconfig: %w", err)
	}
	s.startKCM = func() (*proc, error) {
		return startControllerManager(filepath.Join(binDir, "kube-controller-manager"), s.slot.dir, kcmPath, pki, s.reg)
	}
	if s.kcm, err = s.startKCM(); err != nil {
		return s, err
	}
	if opts.KubernetesOnly {
		return s, nil
	}
	if withHosts {
		if err := s.startNetwork(ctx); err != nil {
			return s, err
		}
	}
	return s, s.startSimulator(ctx, withHosts)
}

// startNetwork makes what the hosts share: the firewall guard, the switch with the apt proxy on the
// machine's side, and the record of the machine's sysctls that the hosts must leave alone.
func (s *Sim) startNetwork(ctx context.Context) (err error) {
	if s.opts.RKEImages {
		if err := checkKernelForKubernetes(ctx); err != nil {
			return err
		}
	}
	if s.tunables, err = readTunables(); err != nil {
		return err
	}
	if err := addFirewall(ctx, s.slot.n); err != nil {
		return err
	}
	s.firewall = true
	s.switched = true // set first: Close removes a half-made switch too
	if err := createSwitch(ctx, s.slot.n); err != nil {
		return err
	}
	proxy := newAptProxy([]string{s.opts.Mirror}, s.opts.Logf)
	if s.proxy, err = proxy.serve(ctx, aptProxyAddr(s.slot.n)); err != nil {
		return fmt.Errorf("start the hosts' apt proxy: %w", err)
	}
	return nil
}

// prepared is what a stand-in is made from.
type prepared struct {
	binDir, crdDir string       // Kubernetes binaries, KubeVirt CRDs
	kube           *kubeSupport // with Options.RKEImages
}

// prepare returns the Kubernetes binaries, the KubeVirt CRDs and, with RKEImages, RKE's images in a
// Docker storage, and makes sure the root filesystems exist, building what is missing in parallel.
func prepare(ctx context.Context, opts Options, variants []Rootfs) (p prepared, err error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	do := func(fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	do(func() (err error) { p.binDir, err = kubeBinaries(ctx, opts.KubeBinDir, opts.Logf); return err })
	if !opts.KubernetesOnly {
		do(func() (err error) { p.crdDir, err = ensureKubeVirtCRDs(ctx, opts.Logf); return err })
	}
	if opts.RKEImages {
		do(func() (err error) { p.kube, err = ensureKubeSupport(ctx, opts.Mirror, opts.Logf); return err })
	}
	slices.Sort(variants)
	for _, v := range slices.Compact(variants) {
		do(func() error { _, err := ensureRootfs(ctx, v, opts.Mirror, opts.Logf); return err })
	}
	wg.Wait()
	return p, errors.Join(errs...)
}

// Prepare builds and caches everything a stand-in needs (Kubernetes binaries, KubeVirt CRDs, both root
// filesystems, and with opts.RKEImages RKE's images), so that later starts are fast; CI runs it before
// the tests.
func Prepare(ctx context.Context, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	_, err = prepare(ctx, opts, []Rootfs{RootfsDocker, RootfsPlain})
	return err
}

func (s *Sim) startSimulator(ctx context.Context, withHosts bool) error {
	s.faults = &faultSet{byVM: map[string]Fault{}}
	if err := installFaultPolicy(ctx, s.clients); err != nil {
		return err
	}
	if err := setRejections(ctx, s.clients, map[string]string{}); err != nil {
		return err
	}
	s.hosts = &hostManager{
		slot: s.slot.n, dir: filepath.Join(s.slot.dir, "hosts"), noHosts: !withHosts, kube: s.kube,
		reg: s.reg, logf: s.opts.Logf,
		entries: map[string]*hostEntry{},
	}
	s.ctrl = newController(s.clients.dyn, s.clients.kube, s.hosts, s.faults, controllerConfig{
		bootDelay: s.opts.BootDelay, defaultUser: s.opts.DefaultUser, defaultRootfs: s.opts.Rootfs,
		mirror: s.opts.Mirror, logf: s.opts.Logf,
	})
	s.hosts.changed = s.ctrl.changes.notify
	s.hosts.booted = func(key string) { s.ctrl.add(work{kind: "vm", key: key}) }
	s.faults.onSet = s.ctrl.requeueAllVMs
	if err := s.runController(); err != nil {
		return err
	}
	for _, img := range s.opts.Images {
		if err := registerImage(ctx, s.clients, img); err != nil {
			return err
		}
		s.Images = append(s.Images, img.String())
	}
	for i, n := range s.opts.Networks {
		if err := registerNetwork(ctx, s.clients, n, i+1); err != nil {
			return err
		}
		s.Networks = append(s.Networks, n)
	}
	return s.waitImagesReady(ctx)
}

// runController starts a run of the simulator's controller.
func (s *Sim) runController() error {
	ctx, cancel := context.WithCancel(context.Background())
	wait, err := s.ctrl.run(ctx, 4)
	if err != nil {
		cancel()
		return fmt.Errorf("start the simulator: %w", err)
	}
	s.stopCtrl, s.waitCtrl = cancel, wait
	return nil
}

// stopController ends the current run of the simulator's controller.
func (s *Sim) stopController() {
	if s.stopCtrl != nil {
		s.stopCtrl()
		s.waitCtrl()
		s.stopCtrl = nil
	}
}

// waitImagesReady waits until the registered images are imported, so a test can use them at once.
func (s *Sim) waitImagesReady(ctx context.Context) error {
	for _, ref := range s.Images {
		ns, name, _ := strings.Cut(ref, "/")
		err := waitForObject(ctx, s.clients.dyn.Resource(imageGVR).Namespace(ns), name, func(u *unstructured.Unstructured) (bool, error) {
			sc, _, _ := unstructured.NestedString(u.Object, "status", "storageClassName")
			return sc != "", nil
		})
		if err != nil {
			return fmt.Errorf("wait for image %s: %w", ref, err)
		}
	}
	return nil
}

// Close stops everything the stand-in started (by PID) and removes everything it made: hosts,
// network namespaces, veths, cgroups, firewall rules, mounts and files. A machine sysctl a host changed
// is restored, and reported as an error. It is safe to call more than once.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		s.stopController()
		if s.hosts != nil {
			errs = append(errs, s.hosts.removeAll())
		}
		if s.proxy != nil {
			_ = s.proxy.Close()
		}
		for _, p := range []*proc{s.kcm, s.apiProc(), s.etcdProc()} {
			if p != nil {
				p.stop(3 * time.Second)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if s.switched {
			errs = append(errs, deleteSwitch(ctx, s.slot.n))
		}
		if s.firewall {
			errs = append(errs, removeFirewall(ctx, s.slot.n))
		}
		if s.tunables != nil {
			errs = append(errs, s.tunables.restore())
		}
		if s.slot != nil {
			errs = append(errs, diskcache.RemoveTree(s.slot.dir))
			s.slot.release()
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Sim) apiProc() *proc {
	if s.api == nil {
		return nil
	}
	return s.api.proc
}

func (s *Sim) etcdProc() *proc {
	if s.etcd == nil {
		return nil
	}
	return s.etcd.proc
}
