package harvestersim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
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

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/controller"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/controlplane"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hostimage"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hosts"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/slot"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/kubewatch"
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
	// Images and Networks are the registered images and networks, "<namespace>/<name>";
	// StorageClass is Harvester's default storage class, for empty volumes.
	Images       []string
	Networks     []string
	StorageClass string
	// HostSubnet is the subnet of the fake hosts' first NICs, which the machine reaches (a /24). The
	// stand-in hands out its addresses .2 to .65; a test's static addresses go above, up to .223.
	HostSubnet netip.Prefix
	// IPPoolRange (.224-.239 of HostSubnet) is for the ranges of tests' IPPools (see CreateIPPool): no
	// host and no DHCP load balancer gets one of these. DHCPRange (.240-.254) is what load balancers
	// with ipam dhcp get. Load balancers are served at their address from the machine and the hosts.
	IPPoolRange, DHCPRange AddressRange
	// Registry is the private registry holding RKE's images, with Options.Registry; else nil.
	Registry *Registry

	opts     Options
	dyn      dynamic.Interface
	slot     *slot.Slot
	cp       *controlplane.ControlPlane
	network  *hosts.Network // nil without fake hosts
	hosts    *hosts.Manager // nil with KubernetesOnly
	ctrl     *controller.Controller
	stopCtrl context.CancelFunc
	waitCtrl func()

	closeOnce sync.Once
	closeErr  error
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
	if (opts.RKEImages || opts.Registry) && !withHosts {
		return nil, errors.New("harvestersim: RKEImages and Registry need fake hosts (not NoHosts or KubernetesOnly)")
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

	s = &Sim{opts: opts}
	defer func() {
		if err != nil {
			if cerr := s.Close(); cerr != nil {
				err = fmt.Errorf("%w (and tearing down: %v)", err, cerr)
			}
			s = nil
		}
	}()
	if s.slot, err = slot.Acquire(slot.RunDir(), root, opts.Logf); err != nil {
		return s, err
	}
	s.HostSubnet = hosts.Subnet(s.slot.N)
	s.IPPoolRange, s.DHCPRange = hosts.PoolRange(s.slot.N), hosts.DHCPRange(s.slot.N)
	s.cp, err = controlplane.Start(ctx, controlplane.Config{
		Dir: s.slot.Dir, BinDir: p.binDir, Etcd: etcdBin, CRDDir: p.crdDir, Registry: s.slot.Registry,
	})
	if err != nil {
		return s, err
	}
	s.Kubeconfig, s.KubeconfigPath, s.Config = s.cp.Kubeconfig, s.cp.KubeconfigPath, s.cp.Config
	s.Server, s.CACert, s.ClientCert, s.ClientKey = s.cp.Server, s.cp.CACert, s.cp.AdminCert, s.cp.AdminKey
	if s.dyn, err = dynamic.NewForConfig(s.Config); err != nil {
		return s, fmt.Errorf("create client: %w", err)
	}
	if opts.KubernetesOnly {
		return s, nil
	}
	if withHosts {
		if s.network, err = hosts.StartNetwork(ctx, s.slot.N, opts.Mirror, p.kube != nil, opts.Logf); err != nil {
			return s, err
		}
	}
	if opts.Registry {
		if err := s.startRegistry(ctx, p.kube.Images); err != nil {
			return s, err
		}
	}
	return s, s.startSimulator(ctx, withHosts, p.kube)
}

// prepared is what a stand-in is made from.
type prepared struct {
	binDir, crdDir string                // Kubernetes binaries, KubeVirt CRDs
	kube           *hostimage.Kubernetes // with Options.RKEImages or Options.Registry
}

// prepare returns the Kubernetes binaries, the KubeVirt CRDs and, with RKEImages or Registry, RKE's
// images (with RKEImages in a Docker storage), and makes sure the root filesystems exist, building
// what is missing in parallel.
func prepare(ctx context.Context, opts Options, variants []Rootfs) (p prepared, err error) {
	type part struct {
		what  string
		build func() error
	}
	parts := []part{
		{"Kubernetes binaries", func() (err error) { p.binDir, err = controlplane.Binaries(ctx, opts.KubeBinDir, opts.Logf); return err }},
	}
	if !opts.KubernetesOnly {
		parts = append(parts, part{"KubeVirt CRDs", func() (err error) { p.crdDir, err = controlplane.KubeVirtCRDs(ctx, opts.Logf); return err }})
	}
	if opts.RKEImages || opts.Registry {
		parts = append(parts, part{"RKE's images", func() (err error) {
			p.kube, err = hostimage.ForKubernetes(ctx, opts.Mirror, opts.RKEImages, opts.Logf)
			return err
		}})
	}
	slices.Sort(variants)
	for _, v := range slices.Compact(variants) {
		parts = append(parts, part{"root filesystem " + string(v), func() error { _, err := hostimage.Ensure(ctx, v, opts.Mirror, opts.Logf); return err }})
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		ready int
	)
	for _, pt := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := pt.build()
			mu.Lock()
			defer mu.Unlock()
			ready++
			if err != nil {
				errs = append(errs, err)
			} else if took := time.Since(start); took > 5*time.Second { // it was built, not found
				opts.Logf("harvestersim: %s ready in %s (%d of %d parts)", pt.what, took.Round(time.Second), ready, len(parts))
			}
		}()
	}
	wg.Wait()
	return p, errors.Join(errs...)
}

// Prepare builds and caches everything a stand-in needs (Kubernetes binaries, KubeVirt CRDs, both root
// filesystems, and with opts.RKEImages RKE's images), so that later starts are fast; make test and
// make demo run it first (hack/setup.sh).
func Prepare(ctx context.Context, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	_, err = prepare(ctx, opts, []Rootfs{RootfsDocker, RootfsPlain})
	return err
}

func (s *Sim) startSimulator(ctx context.Context, withHosts bool, kube *hostimage.Kubernetes) error {
	kc, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	// The hosts tell the controller about their changes; it exists once they start.
	var ctrl *controller.Controller
	s.hosts = hosts.NewManager(hosts.Config{
		Slot: s.slot.N, Dir: filepath.Join(s.slot.Dir, "hosts"), NoHosts: !withHosts, Kubernetes: kube,
		Registry: s.slot.Registry, Logf: s.opts.Logf,
		Changed: func() { ctrl.Notify() },
		Booted:  func(key string) { ctrl.HostBooted(key) },
	})
	ctrl = controller.New(s.dyn, kc, s.hosts, controller.Config{
		BootDelay: s.opts.BootDelay, DefaultUser: s.opts.DefaultUser, DefaultRootfs: s.opts.Rootfs,
		Mirror: s.opts.Mirror, Logf: s.opts.Logf, Network: s.network, DHCP: s.DHCPRange,
	})
	s.ctrl = ctrl
	if err := ctrl.InstallFaults(ctx); err != nil {
		return err
	}
	if err := s.runController(); err != nil {
		return err
	}
	if err := ctrl.RegisterDefaultStorageClass(ctx); err != nil {
		return err
	}
	s.StorageClass = controller.DefaultStorageClass
	for _, img := range s.opts.Images {
		if err := ctrl.RegisterImage(ctx, img); err != nil {
			return err
		}
		s.Images = append(s.Images, img.String())
	}
	for i, n := range s.opts.Networks {
		if err := ctrl.RegisterNetwork(ctx, n, i+1); err != nil {
			return err
		}
		s.Networks = append(s.Networks, n)
	}
	return s.waitImagesReady(ctx)
}

// runController starts a run of the simulator's controller.
func (s *Sim) runController() error {
	ctx, cancel := context.WithCancel(context.Background())
	wait, err := s.ctrl.Run(ctx, 4)
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
		err := kubewatch.Until(ctx, s.dyn.Resource(gvr.VirtualMachineImages).Namespace(ns), name, func(u *unstructured.Unstructured) (bool, error) {
			if u == nil {
				return false, nil
			}
			sc, _, _ := unstructured.NestedString(u.Object, "status", "storageClassName")
			return sc != "", nil
		})
		if err != nil {
			return fmt.Errorf("wait for image %s: %w", ref, err)
		}
	}
	return nil
}

// Sweep removes what stand-ins whose owner process died left on this machine (processes, network
// namespaces, veths, cgroups, firewall rules, mounts, files); running stand-ins are not touched. Start and
// New sweep by themselves; the harvestersim command offers it for by-hand cleanup.
func Sweep(logf func(string, ...any)) { slot.Sweep(logf) }

// Close stops everything the stand-in started (by PID) and removes everything it made: load
// balancers' forwarders and addresses, hosts, network namespaces, veths, cgroups, firewall rules,
// mounts and files. A machine sysctl a host changed
// is restored, and reported as an error. It is safe to call more than once.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		s.stopController()
		if s.ctrl != nil {
			errs = append(errs, s.ctrl.Close())
		}
		if s.hosts != nil {
			errs = append(errs, s.hosts.RemoveAll())
		}
		if s.Registry != nil {
			errs = append(errs, s.Registry.close())
		}
		if s.cp != nil {
			s.cp.Stop()
		}
		if s.network != nil {
			errs = append(errs, s.network.Close())
		}
		if s.slot != nil {
			errs = append(errs, diskcache.RemoveTree(s.slot.Dir))
			s.slot.Release()
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
