package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/tools/cache"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// What Harvester's load balancer controller (load-balancer-harvester: pkg/controller/loadbalancer,
// pkg/lb/servicelb, pkg/prober) and kube-vip do for a LoadBalancer of workloadType vm (or empty): an
// address from the named IPPool or from DHCP, the VMIs its backendServerSelector matches as backends
// (their first address), TCP health checks, and the address served: here it is put on the machine's
// end of the hosts' uplink and a forwarder in this process listens on it (see tcpProxy). Load
// balancers of workloadType cluster (the guest's cloud provider's) are left alone.

// lbFinalizer is the finalizer wrangler's OnRemove handler puts on the load balancers Harvester's
// controller sees, so that their address is released before they go.
const lbFinalizer = "wrangler.cattle.io/harvester-lb-controller"

// dhcpAsk is status.allocatedAddress.ip of a load balancer asking for DHCP.
const dhcpAsk = "0.0.0.0"

// loadBalancer is the part of a LoadBalancer (loadbalancer.harvesterhci.io/v1beta1) the stand-in reads.
type loadBalancer struct {
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		WorkloadType          string              `json:"workloadType"`
		IPAM                  string              `json:"ipam"`
		IPPool                string              `json:"ipPool"`
		Listeners             []lbListener        `json:"listeners"`
		BackendServerSelector map[string][]string `json:"backendServerSelector"`
		HealthCheck           *lbHealthCheck      `json:"healthCheck"`
	} `json:"spec"`
	Status lbStatus `json:"status"`
}

type lbListener struct {
	Port        int32  `json:"port"`
	Protocol    string `json:"protocol"`
	BackendPort int32  `json:"backendPort"`
}

type lbHealthCheck struct {
	Port             int `json:"port"`
	SuccessThreshold int `json:"successThreshold"`
	FailureThreshold int `json:"failureThreshold"`
	PeriodSeconds    int `json:"periodSeconds"`
	TimeoutSeconds   int `json:"timeoutSeconds"`
}

// lbStatus is written whole, as Harvester's Go type serializes it.
type lbStatus struct {
	BackendServers   []string         `json:"backendServers,omitempty"`
	AllocatedAddress allocatedAddress `json:"allocatedAddress"`
	Address          string           `json:"address,omitempty"`
	Conditions       []condition      `json:"conditions,omitempty"`
}

// effective is the health check as Harvester runs it: its mutating webhook fills the fields left zero
// (success and failure 2, period and timeout 1 s); port 0 means none.
func (h *lbHealthCheck) effective() healthCheck {
	if h == nil || h.Port == 0 {
		return healthCheck{}
	}
	or := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	return healthCheck{port: h.Port, success: or(h.SuccessThreshold, 2), failure: or(h.FailureThreshold, 2),
		period: time.Duration(or(h.PeriodSeconds, 1)) * time.Second, timeout: time.Duration(or(h.TimeoutSeconds, 1)) * time.Second}
}

// notReadyError is why a load balancer is not ready (its Ready condition's message); it is not retried:
// a change of the load balancer, a pool or a VMI brings the next attempt, as on Harvester.
type notReadyError struct{ msg string }

func (e *notReadyError) Error() string { return e.msg }

func notReady(format string, args ...any) error {
	return &notReadyError{msg: fmt.Sprintf(format, args...)}
}

// lbSet is what the controller keeps of load balancers across its runs.
type lbSet struct {
	ctx    context.Context // the probes'; ends with Close
	cancel context.CancelFunc
	probes sync.WaitGroup

	mu     sync.Mutex
	served map[string]*servedLB         // by load balancer key
	leases map[string]netip.Addr        // DHCP leases, by load balancer key
	labels map[string]map[string]string // of every load balancer seen, for leftovers
}

func newLBSet() *lbSet {
	ctx, cancel := context.WithCancel(context.Background())
	return &lbSet{ctx: ctx, cancel: cancel, served: map[string]*servedLB{}, leases: map[string]netip.Addr{},
		labels: map[string]map[string]string{}}
}

// servedLB is a load balancer's data path: its address, forwarder, health check and backends.
type servedLB struct {
	addr     netip.Addr // served (on the machine, with fake hosts); invalid until it is
	proxy    *tcpProxy  // nil without fake hosts
	hc       healthCheck
	backends map[string]*backendState // by address
}

type backendState struct {
	healthy bool
	stop    context.CancelFunc // its probe's; nil without a health check
}

// targets are the backends connections go to: the healthy ones, all without a health check.
func (s *servedLB) targets() []string {
	var out []string
	for a, b := range s.backends {
		if b.healthy || s.hc.port == 0 {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

func (s *servedLB) stopProbes() {
	for _, b := range s.backends {
		if b.stop != nil {
			b.stop()
		}
	}
}

func toLB(u *unstructured.Unstructured) (*loadBalancer, error) {
	lb := &loadBalancer{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, lb); err != nil {
		return nil, fmt.Errorf("read LoadBalancer %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return lb, nil
}

func (c *Controller) syncLB(ctx context.Context, key string) error {
	u, err := getCached(c.lbs, key)
	if err != nil {
		return err
	}
	if u == nil {
		return c.unserveLB(ctx, key, "") // deleted before it got the finalizer
	}
	lb, err := toLB(u)
	if err != nil {
		return err
	}
	c.lb.mu.Lock()
	c.lb.labels[key] = lb.Labels
	c.lb.mu.Unlock()
	if lb.Spec.WorkloadType != "" && lb.Spec.WorkloadType != "vm" {
		return nil
	}
	if lb.DeletionTimestamp != nil {
		return c.finalizeLB(ctx, key, lb)
	}
	st := lb.Status
	st.Conditions = slices.Clone(st.Conditions)
	why := ""
	var nr *notReadyError
	if err := c.reconcileLB(ctx, key, lb, &st); errors.As(err, &nr) {
		why = nr.msg
	} else if err != nil {
		return err
	}
	st.Conditions = setReady(st.Conditions, why)
	return c.writeLB(ctx, u, lb, st)
}

// reconcileLB gets the load balancer an address, serves it and finds its backends, recording each in
// st; a notReadyError says what is missing.
func (c *Controller) reconcileLB(ctx context.Context, key string, lb *loadBalancer, st *lbStatus) error {
	addr, err := c.lbAddress(ctx, key, lb, st)
	if err == nil {
		err = c.serve(ctx, key, addr, lb.Spec.Listeners)
	}
	if err != nil {
		st.Address = ""
		return errors.Join(err, c.stopServing(ctx, key))
	}
	st.Address = addr.String()
	backends, err := c.lbBackends(lb)
	if err != nil {
		return err
	}
	st.BackendServers = backends
	hc := lb.Spec.HealthCheck.effective()
	healthy := c.setBackends(key, backends, hc)
	switch {
	case len(backends) == 0:
		return notReady("no running backend servers")
	case hc.port != 0 && healthy == 0:
		return notReady("running backend servers are not probed as healthy total:%d, healthy:0", len(backends))
	}
	return nil
}

// lbAddress books the load balancer's address (status.allocatedAddress) and returns the address to
// serve: the pool's, or with ipam dhcp a lease from the stand-in's DHCP range.
func (c *Controller) lbAddress(ctx context.Context, key string, lb *loadBalancer, st *lbStatus) (netip.Addr, error) {
	if lb.Spec.IPAM == "dhcp" {
		st.AllocatedAddress = allocatedAddress{IP: dhcpAsk}
		return c.lease(key)
	}
	if had := st.AllocatedAddress.IPPool; had != "" && lb.Spec.IPPool != "" && had != lb.Spec.IPPool {
		if err := c.release(ctx, had, key); err != nil {
			return netip.Addr{}, err
		}
		st.AllocatedAddress = allocatedAddress{}
	}
	if st.AllocatedAddress.IPPool == "" {
		if lb.Spec.IPPool == "" {
			return netip.Addr{}, notReady("no matched IPPool: the stand-in does not choose pools by selector, name one in spec.ipPool")
		}
		a, err := c.allocate(ctx, lb.Spec.IPPool, key)
		if err != nil {
			return netip.Addr{}, err
		}
		st.AllocatedAddress = a
		c.cfg.Logf("harvestersim: load balancer %s got %s from pool %s", key, a.IP, a.IPPool)
	}
	addr, err := netip.ParseAddr(st.AllocatedAddress.IP)
	if err != nil || !addr.Is4() {
		return netip.Addr{}, notReady("allocated address %q is not an IPv4 address", st.AllocatedAddress.IP)
	}
	return addr, nil
}

// lease returns the load balancer's DHCP lease, giving it the first free address of the range.
func (c *Controller) lease(key string) (netip.Addr, error) {
	c.lb.mu.Lock()
	defer c.lb.mu.Unlock()
	if a, ok := c.lb.leases[key]; ok {
		return a, nil
	}
	used := map[netip.Addr]bool{}
	for _, a := range c.lb.leases {
		used[a] = true
	}
	for _, s := range c.lb.served {
		used[s.addr] = true
	}
	r := c.cfg.DHCP
	for a := r.First; a.IsValid() && a.Compare(r.Last) <= 0; a = a.Next() {
		if !used[a] && c.hostWith(a) == "" {
			c.lb.leases[key] = a
			return a, nil
		}
	}
	return netip.Addr{}, notReady("no DHCP lease: the stand-in's DHCP range for load balancers %s is used up", r)
}

// hostWith names the VM whose host has addr, or "".
func (c *Controller) hostWith(addr netip.Addr) string {
	for _, k := range c.hosts.Keys() {
		st, _ := c.hosts.Get(k)
		for _, i := range st.Interfaces {
			if slices.Contains(i.IPs, addr.String()) {
				return k
			}
		}
	}
	return ""
}

// serve puts addr on the machine and listens on it on each TCP listener's port (with fake hosts).
func (c *Controller) serve(ctx context.Context, key string, addr netip.Addr, listeners []lbListener) error {
	c.lb.mu.Lock()
	defer c.lb.mu.Unlock()
	s := c.lb.served[key]
	if s == nil {
		s = &servedLB{backends: map[string]*backendState{}}
		if c.cfg.Network != nil {
			s.proxy = newTCPProxy(c.cfg.Logf)
		}
		c.lb.served[key] = s
	}
	for other, o := range c.lb.served {
		if other != key && o.addr == addr {
			return notReady("address %s is served for load balancer %s already", addr, other)
		}
	}
	if vm := c.hostWith(addr); vm != "" {
		return notReady("address %s is the address of VM %s", addr, vm)
	}
	if s.addr != addr && s.addr.IsValid() {
		if err := c.unserveAddr(ctx, s); err != nil {
			return err
		}
	}
	if c.cfg.Network == nil {
		s.addr = addr
		return nil
	}
	if !s.addr.IsValid() {
		if err := c.cfg.Network.AddAddress(ctx, addr); err != nil {
			return notReady("%v", err)
		}
		s.addr = addr
	}
	want := map[int32]int32{}
	for _, l := range listeners {
		if l.Protocol == "" || strings.EqualFold(l.Protocol, "TCP") { // UDP is not forwarded
			want[l.Port] = l.BackendPort
		}
	}
	for _, p := range s.proxy.ports() {
		if _, ok := want[p]; !ok {
			s.proxy.unlisten(p)
		}
	}
	for p, bp := range want {
		if err := s.proxy.listen(ctx, addr, p, bp); err != nil {
			return notReady("listen on %s: %v", net.JoinHostPort(addr.String(), strconv.Itoa(int(p))), err)
		}
	}
	return nil
}

// unserveAddr stops listening on the served address and takes it off the machine; c.lb.mu is held.
func (c *Controller) unserveAddr(ctx context.Context, s *servedLB) error {
	if s.proxy != nil {
		for _, p := range s.proxy.ports() {
			s.proxy.unlisten(p)
		}
	}
	if c.cfg.Network != nil && s.addr.IsValid() {
		if err := c.cfg.Network.RemoveAddress(ctx, s.addr); err != nil {
			return err
		}
	}
	s.addr = netip.Addr{}
	return nil
}

// lbBackends lists the first addresses of the VMIs the selector matches in the load balancer's
// namespace (each key In its values; no keys matches all), leaving out those being deleted.
func (c *Controller) lbBackends(lb *loadBalancer) ([]string, error) {
	sel := labels.NewSelector()
	for k, vs := range lb.Spec.BackendServerSelector {
		r, err := labels.NewRequirement(k, selection.In, vs)
		if err != nil {
			return nil, notReady("fail to new selector, error: %v", err)
		}
		sel = sel.Add(*r)
	}
	objs, err := c.vmis.ByNamespace(lb.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, o := range objs {
		vmi, err := toVMI(o.(*unstructured.Unstructured))
		if err != nil || vmi.DeletionTimestamp != nil {
			continue
		}
		for _, i := range vmi.Status.Interfaces {
			if i.IP != "" {
				addrs = append(addrs, i.IP)
				break
			}
		}
	}
	slices.Sort(addrs)
	return slices.Compact(addrs), nil
}

// setBackends makes the backends those addresses, probing new ones, and returns how many are healthy.
// Connections to a backend that left are closed.
func (c *Controller) setBackends(key string, addrs []string, hc healthCheck) int {
	c.lb.mu.Lock()
	defer c.lb.mu.Unlock()
	s := c.lb.served[key]
	if s.hc != hc {
		s.stopProbes()
		s.backends = map[string]*backendState{}
		s.hc = hc
	}
	for a, b := range s.backends {
		if !slices.Contains(addrs, a) {
			if b.stop != nil {
				b.stop()
			}
			delete(s.backends, a)
		}
	}
	for _, a := range addrs {
		if _, ok := s.backends[a]; ok {
			continue
		}
		b := &backendState{healthy: true} // as Harvester's prober starts
		s.backends[a] = b
		if hc.port == 0 {
			continue
		}
		ctx, cancel := context.WithCancel(c.lb.ctx)
		b.stop = cancel
		c.lb.probes.Add(1)
		go func() {
			defer c.lb.probes.Done()
			probe(ctx, hc, tcpConnect(net.JoinHostPort(a, strconv.Itoa(hc.port)), hc.timeout), func(healthy bool) { c.backendHealth(key, a, b, healthy) })
		}()
	}
	targets := s.targets()
	if s.proxy != nil {
		s.proxy.setTargets(targets)
	}
	return len(targets)
}

// backendHealth records a probe's verdict and has the load balancer's status looked at again.
func (c *Controller) backendHealth(key, addr string, b *backendState, healthy bool) {
	c.lb.mu.Lock()
	s := c.lb.served[key]
	if s == nil || s.backends[addr] != b {
		c.lb.mu.Unlock()
		return // a probe being stopped
	}
	b.healthy = healthy
	if s.proxy != nil {
		s.proxy.setTargets(s.targets())
	}
	c.lb.mu.Unlock()
	c.cfg.Logf("harvestersim: load balancer %s: backend %s healthy: %t", key, addr, healthy)
	c.add(work{kind: "lb", key: key})
}

// stopServing ends the load balancer's data path: forwarder, probes, its address on the machine.
func (c *Controller) stopServing(ctx context.Context, key string) error {
	c.lb.mu.Lock()
	defer c.lb.mu.Unlock()
	s := c.lb.served[key]
	if s == nil {
		return nil
	}
	s.stopProbes()
	if s.proxy != nil {
		s.proxy.close()
	}
	if err := c.unserveAddr(ctx, s); err != nil {
		return err
	}
	delete(c.lb.served, key)
	return nil
}

// unserveLB undoes all the load balancer had: data path, DHCP lease, the bookings in pool and in any
// other pool that has one for it.
func (c *Controller) unserveLB(ctx context.Context, key, pool string) error {
	if err := c.stopServing(ctx, key); err != nil {
		return err
	}
	c.lb.mu.Lock()
	delete(c.lb.leases, key)
	c.lb.mu.Unlock()
	pools, err := c.poolsBooking(key)
	if err != nil {
		return err
	}
	if pool != "" && !slices.Contains(pools, pool) {
		pools = append(pools, pool)
	}
	for _, p := range pools {
		if err := c.release(ctx, p, key); err != nil {
			return err
		}
	}
	c.changes.notify()
	return nil
}

// finalizeLB releases what the load balancer had, then lets it go.
func (c *Controller) finalizeLB(ctx context.Context, key string, lb *loadBalancer) error {
	if err := c.unserveLB(ctx, key, lb.Status.AllocatedAddress.IPPool); err != nil {
		return err
	}
	if !slices.Contains(lb.Finalizers, lbFinalizer) {
		return nil
	}
	res := c.dyn.Resource(gvr.LoadBalancers).Namespace(lb.Namespace)
	u, err := res.Get(ctx, lb.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("remove finalizer of load balancer %s: %w", key, err)
	}
	u.SetFinalizers(slices.DeleteFunc(u.GetFinalizers(), func(f string) bool { return f == lbFinalizer }))
	if _, err := res.Update(ctx, u, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer of load balancer %s: %w", key, err)
	}
	c.cfg.Logf("harvestersim: load balancer %s deleted", key)
	return nil
}

// writeLB updates the load balancer with its status and the finalizer, unless both are there.
func (c *Controller) writeLB(ctx context.Context, u *unstructured.Unstructured, lb *loadBalancer, st lbStatus) error {
	hasFinalizer := slices.Contains(lb.Finalizers, lbFinalizer)
	if hasFinalizer && reflect.DeepEqual(st, lb.Status) {
		return nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
	if err != nil {
		return err
	}
	u = u.DeepCopy()
	if !hasFinalizer {
		u.SetFinalizers(append(u.GetFinalizers(), lbFinalizer))
	}
	u.Object["status"] = m
	if _, err := c.dyn.Resource(gvr.LoadBalancers).Namespace(lb.Namespace).Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update load balancer %s/%s: %w", lb.Namespace, lb.Name, err)
	}
	return nil
}

// enqueueLBs queues the load balancers of a namespace ("" for all) to be looked at again.
func (c *Controller) enqueueLBs(namespace string) {
	var objs []runtime.Object
	var err error
	if namespace == "" {
		objs, err = c.lbs.List(everything)
	} else {
		objs, err = c.lbs.ByNamespace(namespace).List(everything)
	}
	if err != nil {
		return
	}
	for _, o := range objs {
		c.enqueue("lb", o)
	}
}

// enqueueLBsOfVMI queues the load balancers that may select the VMI.
func (c *Controller) enqueueLBsOfVMI(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		ns, _, _ := cache.SplitMetaNamespaceKey(key)
		c.enqueueLBs(ns)
	}
}

// LoadBalancerLeftovers lists what is left of the load balancers seen with labels matching sel that
// are gone or going (their address served on the machine, forwarder, DHCP lease), and, whatever their
// labels, the pools' bookings for load balancers that do not exist and load balancer addresses on the
// machine that no load balancer is served at.
func (c *Controller) LoadBalancerLeftovers(ctx context.Context, sel labels.Selector) ([]string, error) {
	type left struct {
		addr  netip.Addr
		ports []int32
		lease netip.Addr
	}
	c.lb.mu.Lock()
	mine := map[string]left{}
	servedAt := map[netip.Addr]bool{}
	for key, s := range c.lb.served {
		servedAt[s.addr] = true
		l := mine[key]
		l.addr = s.addr
		if s.proxy != nil {
			l.ports = s.proxy.ports()
		}
		mine[key] = l
	}
	for key, a := range c.lb.leases {
		l := mine[key]
		l.lease = a
		mine[key] = l
	}
	for key := range mine {
		if !sel.Matches(labels.Set(c.lb.labels[key])) {
			delete(mine, key)
		}
	}
	c.lb.mu.Unlock()

	var found []string
	for key, l := range mine {
		ns, name, _ := strings.Cut(key, "/")
		u, err := c.dyn.Resource(gvr.LoadBalancers).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && u.GetDeletionTimestamp() == nil {
			continue
		} else if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("leftovers: %w", err)
		}
		if l.addr.IsValid() {
			found = append(found, fmt.Sprintf("load balancer %s: served at %s (listening on ports %v)", key, l.addr, l.ports))
		}
		if l.lease.IsValid() {
			found = append(found, fmt.Sprintf("load balancer %s: DHCP lease %s", key, l.lease))
		}
	}
	pools, err := c.dyn.Resource(gvr.IPPools).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("leftovers: list IPPools: %w", err)
	}
	if pools != nil {
		for i := range pools.Items {
			p, err := toIPPool(&pools.Items[i])
			if err != nil {
				return nil, fmt.Errorf("leftovers: %w", err)
			}
			for ip, owner := range p.Status.Allocated {
				ns, name, _ := strings.Cut(owner, "/")
				_, err := c.dyn.Resource(gvr.LoadBalancers).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
				if apierrors.IsNotFound(err) {
					found = append(found, fmt.Sprintf("IPPool %s: %s booked for missing load balancer %s", p.Name, ip, owner))
				} else if err != nil {
					return nil, fmt.Errorf("leftovers: %w", err)
				}
			}
		}
	}
	if c.cfg.Network != nil {
		addrs, err := c.cfg.Network.Addresses()
		if err != nil {
			return nil, fmt.Errorf("leftovers: %w", err)
		}
		for _, a := range addrs {
			if !servedAt[a] {
				found = append(found, fmt.Sprintf("address %s/32 on the machine's %s", a, c.cfg.Network.UplinkName()))
			}
		}
	}
	return found, nil
}

// Close stops serving every load balancer (forwarders, probes, addresses on the machine). The
// objects stay: the stand-in is going.
func (c *Controller) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.lb.mu.Lock()
	keys := make([]string, 0, len(c.lb.served))
	for key := range c.lb.served {
		keys = append(keys, key)
	}
	c.lb.mu.Unlock()
	var errs []error
	for _, key := range keys {
		errs = append(errs, c.stopServing(ctx, key))
	}
	c.lb.cancel()
	c.lb.probes.Wait()
	return errors.Join(errs...)
}
