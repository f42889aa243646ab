package harvestersim

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
)

var (
	vmGVR      = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}
	vmiGVR     = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}
	imageGVR   = schema.GroupVersionResource{Group: "harvesterhci.io", Version: "v1beta1", Resource: "virtualmachineimages"}
	keyPairGVR = schema.GroupVersionResource{Group: "harvesterhci.io", Version: "v1beta1", Resource: "keypairs"}
	nadGVR     = schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}
)

// work is a queued reconcile request: one object of one kind.
type work struct {
	kind string // "vm", "image" or "keypair"
	key  string // namespace/name
}

// controller does, against the stand-in's API server, what Harvester's and KubeVirt's controllers
// would: it drives VMs to VMIs with fake hosts, PVCs from image templates, image and key-pair status.
// Everything is event-driven (informers and a rate-limited work queue); time-based steps (boot delays)
// are delayed queue entries.
//
// The controller outlives runs: RestartAPIServer stops a run (informers, queue, workers) and starts
// another, so the simulator resumes at once instead of after client-go's reconnect backoff; what it
// remembers of VMs and their hosts carries over.
type controller struct {
	dyn     dynamic.Interface
	kube    kubernetes.Interface
	hosts   *hostManager
	faults  *faultSet
	cfg     controllerConfig
	changes *notifier

	// Set by each run.
	recorder                record.EventRecorder
	vms, vmis, images, nads cache.GenericLister
	secrets                 corelisters.SecretLister
	pvcs                    corelisters.PersistentVolumeClaimLister

	mu    sync.Mutex
	queue workqueue.TypedRateLimitingInterface[work] // the current run's
	notes map[string]*vmNotes                        // what the controller remembers of each VM it has seen, by key
}

type controllerConfig struct {
	bootDelay     time.Duration
	defaultUser   string
	defaultRootfs Rootfs
	mirror        string
	logf          func(string, ...any)
}

// vmNotes outlive the VM: leftover checks find the VM's objects and host by the labels it had.
type vmNotes struct {
	labels  map[string]string
	problem string // the last problem reported in an event, so it is reported once
}

func newController(dyn dynamic.Interface, kube kubernetes.Interface, hosts *hostManager, faults *faultSet, cfg controllerConfig) *controller {
	return &controller{dyn: dyn, kube: kube, hosts: hosts, faults: faults, cfg: cfg, changes: newNotifier(), notes: map[string]*vmNotes{}}
}

// run starts the informers and workers and returns once the caches are in sync; the controller stops
// when ctx ends (and the returned wait function returns when its goroutines have).
func (c *controller) run(ctx context.Context, workers int) (wait func(), err error) {
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[work]())
	c.mu.Lock()
	c.queue = queue
	c.mu.Unlock()
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.kube.CoreV1().Events("")})
	c.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "virt-controller"})

	dynFactory := dynamicinformer.NewDynamicSharedInformerFactory(c.dyn, 0)
	kubeFactory := informers.NewSharedInformerFactory(c.kube, 0)
	vmInf := dynFactory.ForResource(vmGVR)
	vmiInf := dynFactory.ForResource(vmiGVR)
	imageInf := dynFactory.ForResource(imageGVR)
	keyPairInf := dynFactory.ForResource(keyPairGVR)
	nadInf := dynFactory.ForResource(nadGVR)
	secretInf := kubeFactory.Core().V1().Secrets()
	pvcInf := kubeFactory.Core().V1().PersistentVolumeClaims()
	c.vms, c.vmis, c.images, c.nads = vmInf.Lister(), vmiInf.Lister(), imageInf.Lister(), nadInf.Lister()
	c.secrets, c.pvcs = secretInf.Lister(), pvcInf.Lister()

	handlers := []struct {
		inf cache.SharedIndexInformer
		fn  func(obj any)
	}{
		{vmInf.Informer(), func(obj any) { c.enqueue("vm", obj) }},
		{vmiInf.Informer(), func(obj any) { c.enqueue("vm", obj) }}, // a VMI has its VM's name
		{imageInf.Informer(), func(obj any) { c.enqueue("image", obj); c.enqueueVMsWithProblems() }},
		{keyPairInf.Informer(), func(obj any) { c.enqueue("keypair", obj) }},
		{nadInf.Informer(), func(any) { c.enqueueVMsWithProblems() }},
		{secretInf.Informer(), c.enqueueVMsOfSecret},
		{pvcInf.Informer(), func(any) {}}, // only wakes leftover waiters
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

func (c *controller) enqueue(kind string, obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		c.add(work{kind: kind, key: key})
	}
}

// add queues w in the current run.
func (c *controller) add(w work) {
	c.mu.Lock()
	q := c.queue
	c.mu.Unlock()
	q.Add(w)
}

// addAfter queues w in the current run after d.
func (c *controller) addAfter(w work, d time.Duration) {
	c.mu.Lock()
	q := c.queue
	c.mu.Unlock()
	q.AddAfter(w, d)
}

// enqueueVMsOfSecret requeues the VMs whose cloud-init refers to the Secret: the driver creates the VM
// before its cloud-init Secret, and the VM starts once the Secret is there.
func (c *controller) enqueueVMsOfSecret(obj any) {
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
func (c *controller) requeueAllVMs() {
	vms, err := c.vms.List(everything)
	if err != nil {
		return
	}
	for _, o := range vms {
		c.enqueue("vm", o)
	}
}

// vmsLabelled returns the keys of the VMs seen with labels matching sel, deleted ones included.
func (c *controller) vmsLabelled(sel labels.Selector) []string {
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
func (c *controller) enqueueVMsWithProblems() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, n := range c.notes {
		if n.problem != "" {
			c.queue.Add(work{kind: "vm", key: key})
		}
	}
}

func (c *controller) processNext(ctx context.Context, queue workqueue.TypedRateLimitingInterface[work]) bool {
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
	}
	if err != nil && ctx.Err() == nil {
		if !apierrors.IsConflict(err) { // a stale cache: the retry sees the newer object
			c.cfg.logf("harvestersim: %s %s: %v (retrying)", w.kind, w.key, err)
		}
		queue.AddRateLimited(w)
		return true
	}
	queue.Forget(w)
	return true
}

func key2(namespace, name string) string { return namespace + "/" + name }

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
