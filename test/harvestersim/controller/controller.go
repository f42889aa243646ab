// Package controller does what Harvester's and KubeVirt's controllers would, against the
// stand-in's API server: VMs get VMIs, image-backed PVCs and fake hosts; images, storage classes and
// key pairs get their status; deletions follow KubeVirt's and Harvester's finalizers; faults are
// injected per VM or for all.
package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hostimage"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hosts"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// work is a queued reconcile request: one object of one kind.
type work struct {
	kind string // "vm", "image", "keypair", "lb" or "ippool"
	key  string // namespace/name
}

// Controller does, against the stand-in's API server, what Harvester's and KubeVirt's controllers
// would: it drives VMs to VMIs with fake hosts, PVCs from image templates, image and key-pair status.
// Everything is event-driven (informers and a rate-limited work queue); time-based steps (boot delays)
// are delayed queue entries.
//
// The controller outlives runs: RestartAPIServer stops a run (informers, queue, workers) and starts
// another, so the simulator resumes at once instead of after client-go's reconnect backoff; what it
// remembers of VMs and their hosts carries over.
type Controller struct {
	dyn     dynamic.Interface
	kube    kubernetes.Interface
	hosts   *hosts.Manager
	faults  *faultSet
	cfg     Config
	changes *notifier

	// Set by each run.
	recorder                record.EventRecorder
	vms, vmis, images, nads cache.GenericLister
	lbs, pools              cache.GenericLister
	secrets                 corelisters.SecretLister
	pvcs                    corelisters.PersistentVolumeClaimLister

	mu    sync.Mutex
	queue workqueue.TypedRateLimitingInterface[work] // the current run's
	notes map[string]*vmNotes                        // what the controller remembers of each VM it has seen, by key
	lb    *lbSet                                     // the load balancers served
}

// Config says how the simulated Harvester treats VMs.
type Config struct {
	BootDelay     time.Duration        // from a VM's start until its VMI runs with an address
	DefaultUser   string               // cloud-init's default user of images that name none
	DefaultRootfs hostimage.Rootfs     // what VMs boot whose image names none
	Mirror        string               // the Debian mirror root filesystems are built from
	Logf          func(string, ...any) // the simulator's messages
	// Network is the hosts' network, where load balancers are served (nil without fake hosts: load
	// balancers then get addresses and status, but nothing listens); DHCP is the range of the
	// addresses load balancers asking for DHCP get.
	Network *hosts.Network
	DHCP    hosts.AddressRange
}

// vmNotes outlive the VM: leftover checks find the VM's objects and host by the labels it had.
type vmNotes struct {
	labels  map[string]string
	problem string // the last problem reported in an event, so it is reported once
}

// New makes a controller whose VMs' hosts are made by hm; Run starts it.
func New(dyn dynamic.Interface, kube kubernetes.Interface, hm *hosts.Manager, cfg Config) *Controller {
	return &Controller{dyn: dyn, kube: kube, hosts: hm, faults: &faultSet{byVM: map[string]Fault{}}, cfg: cfg,
		changes: newNotifier(), notes: map[string]*vmNotes{}, lb: newLBSet()}
}

// Run starts the informers and workers and returns once the caches are in sync; the controller stops
// when ctx ends (and the returned wait function returns when its goroutines have).
func (c *Controller) Run(ctx context.Context, workers int) (wait func(), err error) {
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[work]())
	c.mu.Lock()
	c.queue = queue
	c.mu.Unlock()
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.kube.CoreV1().Events("")})
	c.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "virt-controller"})

	dynFactory := dynamicinformer.NewDynamicSharedInformerFactory(c.dyn, 0)
	kubeFactory := informers.NewSharedInformerFactory(c.kube, 0)
	vmInf := dynFactory.ForResource(gvr.VirtualMachines)
	vmiInf := dynFactory.ForResource(gvr.VirtualMachineInstances)
	imageInf := dynFactory.ForResource(gvr.VirtualMachineImages)
	keyPairInf := dynFactory.ForResource(gvr.KeyPairs)
	nadInf := dynFactory.ForResource(gvr.NetworkAttachmentDefinitions)
	lbInf := dynFactory.ForResource(gvr.LoadBalancers)
	poolInf := dynFactory.ForResource(gvr.IPPools)
	secretInf := kubeFactory.Core().V1().Secrets()
	pvcInf := kubeFactory.Core().V1().PersistentVolumeClaims()
	c.vms, c.vmis, c.images, c.nads = vmInf.Lister(), vmiInf.Lister(), imageInf.Lister(), nadInf.Lister()
	c.lbs, c.pools = lbInf.Lister(), poolInf.Lister()
	c.secrets, c.pvcs = secretInf.Lister(), pvcInf.Lister()

	handlers := []struct {
		inf cache.SharedIndexInformer
		fn  func(obj any)
	}{
		{vmInf.Informer(), func(obj any) { c.enqueue("vm", obj) }},
		{vmiInf.Informer(), func(obj any) { c.enqueue("vm", obj); c.enqueueLBsOfVMI(obj) }}, // a VMI has its VM's name
		{lbInf.Informer(), func(obj any) { c.enqueue("lb", obj) }},
		{poolInf.Informer(), func(obj any) { c.enqueue("ippool", obj); c.enqueueLBs("") }},
		{imageInf.Informer(), func(obj any) { c.enqueue("image", obj); c.enqueueVMsWithProblems() }},
		{keyPairInf.Informer(), func(obj any) { c.enqueue("keypair", obj) }},
		{nadInf.Informer(), func(any) { c.enqueueVMsWithProblems() }},
		{secretInf.Informer(), c.enqueueVMsOfSecret},
	}
	// The other kinds leftover checks list only wake the waiters: the garbage collector removes an
	// identity's roles, bindings and token after its ServiceAccount, with no VM changing.
	for _, inf := range []cache.SharedIndexInformer{
		pvcInf.Informer(),
		kubeFactory.Core().V1().ConfigMaps().Informer(),
		kubeFactory.Core().V1().ServiceAccounts().Informer(),
		kubeFactory.Rbac().V1().Roles().Informer(),
		kubeFactory.Rbac().V1().RoleBindings().Informer(),
		kubeFactory.Rbac().V1().ClusterRoles().Informer(),
		kubeFactory.Rbac().V1().ClusterRoleBindings().Informer(),
	} {
		handlers = append(handlers, struct {
			inf cache.SharedIndexInformer
			fn  func(obj any)
		}{inf, func(any) {}})
	}
	for _, h := range handlers {
		fn := h.fn
		if _, err := h.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { fn(obj); c.changes.notify() },
			UpdateFunc: func(_, obj any) { fn(obj); c.changes.notify() },
			DeleteFunc: func(obj any) { fn(obj); c.changes.notify() },
		}); err != nil {
			return nil, fmt.Errorf("watch: %w", err)
		}
	}
	dynFactory.Start(ctx.Done())
	kubeFactory.Start(ctx.Done())
	for gvr, ok := range dynFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("sync the cache of %s", gvr.Resource)
		}
	}
	for typ, ok := range kubeFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("sync the cache of %v", typ)
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx, queue) {
			}
		}()
	}
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	return func() {
		wg.Wait()
		dynFactory.Shutdown()
		kubeFactory.Shutdown()
		broadcaster.Shutdown()
	}, nil
}

func (c *Controller) enqueue(kind string, obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		c.add(work{kind: kind, key: key})
	}
}

// add queues w in the current run.
func (c *Controller) add(w work) {
	c.mu.Lock()
	q := c.queue
	c.mu.Unlock()
	q.Add(w)
}

// addAfter queues w in the current run after d.
func (c *Controller) addAfter(w work, d time.Duration) {
	c.mu.Lock()
	q := c.queue
	c.mu.Unlock()
	q.AddAfter(w, d)
}

// enqueueVMsOfSecret requeues the VMs whose cloud-init refers to the Secret: the driver creates the VM
// before its cloud-init Secret, and the VM starts once the Secret is there.
func (c *Controller) enqueueVMsOfSecret(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	vms, err := c.vms.ByNamespace(ns).List(everything)
	if err != nil {
		return
	}
	for _, o := range vms {
		vm, err := toVM(o.(*unstructured.Unstructured))
		if err != nil {
			continue
		}
		for _, s := range cloudInitSecrets(vm.Spec.Template) {
			if s == name {
				c.add(work{kind: "vm", key: key2(vm.Namespace, vm.Name)})
			}
		}
	}
}

// requeueAllVMs makes every VM be looked at again (after a fault changed).
func (c *Controller) requeueAllVMs() {
	vms, err := c.vms.List(everything)
	if err != nil {
		return
	}
	for _, o := range vms {
		c.enqueue("vm", o)
	}
}

// vmsLabelled returns the keys of the VMs seen with labels matching sel, deleted ones included.
func (c *Controller) vmsLabelled(sel labels.Selector) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var keys []string
	for key, n := range c.notes {
		if sel.Matches(labels.Set(n.labels)) {
			keys = append(keys, key)
		}
	}
	return keys
}

// enqueueVMsWithProblems requeues the VMs that wait for an image or network to appear or change.
func (c *Controller) enqueueVMsWithProblems() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, n := range c.notes {
		if n.problem != "" {
			c.queue.Add(work{kind: "vm", key: key})
		}
	}
}

func (c *Controller) processNext(ctx context.Context, queue workqueue.TypedRateLimitingInterface[work]) bool {
	w, shutdown := queue.Get()
	if shutdown {
		return false
	}
	defer queue.Done(w)
	var err error
	switch w.kind {
	case "vm":
		err = c.syncVM(ctx, w.key)
	case "image":
		err = c.syncImage(ctx, w.key)
	case "keypair":
		err = c.syncKeyPair(ctx, w.key)
	case "lb":
		err = c.syncLB(ctx, w.key)
	case "ippool":
		err = c.syncIPPool(ctx, w.key)
	}
	if err != nil && ctx.Err() == nil {
		if !apierrors.IsConflict(err) { // a stale cache: the retry sees the newer object
			c.cfg.Logf("harvestersim: %s %s: %v (retrying)", w.kind, w.key, err)
		}
		queue.AddRateLimited(w)
		return true
	}
	queue.Forget(w)
	return true
}

func key2(namespace, name string) string { return namespace + "/" + name }

// Notify wakes the waiters on changes (Changed): a host changed.
func (c *Controller) Notify() { c.changes.notify() }

// Changed returns a channel closed at the next change the controller observes (objects or hosts).
func (c *Controller) Changed() <-chan struct{} { return c.changes.next() }

// HostBooted makes the controller look at the VM whose host finished starting (or failed to).
func (c *Controller) HostBooted(key string) { c.add(work{kind: "vm", key: key}) }

// notifier wakes waiters on any change the controller observes (objects or hosts).
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

// next returns a channel closed at the next change.
func (n *notifier) next() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}
