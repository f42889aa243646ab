package controller

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// What Harvester's IPAM (load-balancer-harvester's pkg/ipam and its IPPool controller) does with an
// IPPool: its status counts the addresses of its ranges (total, available) and books each load
// balancer's address (allocated[ip] = "<namespace>/<name>", lastAllocated); a released address moves
// to allocatedHistory, and the same load balancer gets it back first.

// ipPool is the part of an IPPool (loadbalancer.harvesterhci.io/v1beta1) the stand-in reads.
type ipPool struct {
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Ranges []ipRange `json:"ranges"`
	} `json:"spec"`
	Status ipPoolStatus `json:"status"`
}

type ipRange struct {
	RangeStart string `json:"rangeStart,omitempty"`
	RangeEnd   string `json:"rangeEnd,omitempty"`
	Subnet     string `json:"subnet"`
	Gateway    string `json:"gateway,omitempty"`
}

// ipPoolStatus is written whole, as Harvester's Go type serializes it.
type ipPoolStatus struct {
	Total            int64             `json:"total"`
	Available        int64             `json:"available"`
	LastAllocated    string            `json:"lastAllocated"`
	Allocated        map[string]string `json:"allocated,omitempty"`
	AllocatedHistory map[string]string `json:"allocatedHistory,omitempty"`
	Conditions       []condition       `json:"conditions,omitempty"`
}

// condition is wrangler's generic condition, as Harvester's load balancer objects carry it.
type condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	LastUpdateTime     string `json:"lastUpdateTime,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
}

// setReady sets the Ready condition: true when why is empty, else false with why as its message.
func setReady(conds []condition, why string) []condition {
	status := "True"
	if why != "" {
		status = "False"
	}
	now := time.Now().UTC().Format(time.RFC3339)
	i := slices.IndexFunc(conds, func(c condition) bool { return c.Type == "Ready" })
	if i < 0 {
		return append(conds, condition{Type: "Ready", Status: status, Message: why, LastUpdateTime: now, LastTransitionTime: now})
	}
	c := &conds[i]
	if c.Status != status {
		c.LastTransitionTime = now
	}
	if c.Status != status || c.Message != why {
		c.Status, c.Message, c.LastUpdateTime = status, why, now
	}
	return conds
}

func toIPPool(u *unstructured.Unstructured) (*ipPool, error) {
	p := &ipPool{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
		return nil, fmt.Errorf("read IPPool %s: %w", u.GetName(), err)
	}
	return p, nil
}

// poolRange is a range of a pool as Harvester's allocator reads it (pkg/ipam MakeRange).
type poolRange struct {
	prefix      netip.Prefix
	first, last netip.Addr
	gateway     netip.Addr // invalid: none
}

// parseRange fills in what a range leaves out as Harvester does: from .1 of the subnet to the last
// address before its broadcast, gateway .1; a /32 is its one address without a gateway.
func parseRange(r ipRange) (poolRange, error) {
	p, err := netip.ParsePrefix(r.Subnet)
	if err != nil || !p.Addr().Is4() {
		return poolRange{}, fmt.Errorf("invalid range %+v", r)
	}
	p = p.Masked()
	pr := poolRange{prefix: p}
	bcast := p.Addr().As4()
	for i := range bcast {
		bcast[i] |= ^byte(net.CIDRMask(p.Bits(), 32)[i])
	}
	if p.Bits() == 32 {
		pr.first, pr.last = p.Addr(), p.Addr()
	} else {
		pr.first, pr.last, pr.gateway = p.Addr().Next(), netip.AddrFrom4(bcast).Prev(), p.Addr().Next()
	}
	for _, f := range []struct {
		s    string
		dst  *netip.Addr
		what string
	}{{r.RangeStart, &pr.first, "rangeStart"}, {r.RangeEnd, &pr.last, "rangeEnd"}, {r.Gateway, &pr.gateway, "gateway"}} {
		if f.s == "" {
			continue
		}
		a, err := netip.ParseAddr(f.s)
		if err != nil {
			return poolRange{}, fmt.Errorf("invalid %s %s", f.what, f.s)
		}
		if f.what != "gateway" && !p.Contains(a) {
			return poolRange{}, fmt.Errorf("%s %s is out of subnet %s", f.what, a, p)
		}
		*f.dst = a
	}
	if pr.first.Compare(pr.last) > 0 {
		pr.first, pr.last = pr.last, pr.first
	}
	return pr, nil
}

// addrs lists the range's addresses that can be given out (all but the gateway).
func (r poolRange) addrs() []netip.Addr {
	var out []netip.Addr
	for a := r.first; a.IsValid() && a.Compare(r.last) <= 0; a = a.Next() {
		if a != r.gateway {
			out = append(out, a)
		}
	}
	return out
}

func (r poolRange) String() string { return r.first.String() + "-" + r.last.String() }

func poolRanges(p *ipPool) ([]poolRange, error) {
	if len(p.Spec.Ranges) == 0 {
		return nil, fmt.Errorf("range could not be empty")
	}
	out := make([]poolRange, len(p.Spec.Ranges))
	for i, r := range p.Spec.Ranges {
		pr, err := parseRange(r)
		if err != nil {
			return nil, err
		}
		out[i] = pr
	}
	return out, nil
}

func countAddrs(ranges []poolRange) int64 {
	var n int64
	for _, r := range ranges {
		n += int64(len(r.addrs()))
	}
	return n
}

// syncIPPool keeps the pool's counts and Ready condition as Harvester's IPPool controller does.
func (c *Controller) syncIPPool(ctx context.Context, name string) error {
	u, err := getCached(c.pools, name)
	if err != nil || u == nil {
		return err
	}
	p, err := toIPPool(u)
	if err != nil {
		return err
	}
	st := p.Status
	st.Conditions = slices.Clone(st.Conditions)
	if ranges, err := poolRanges(p); err != nil {
		st.Conditions = setReady(st.Conditions, err.Error())
	} else {
		st.Total = countAddrs(ranges)
		st.Available = st.Total - int64(len(st.Allocated))
		st.Conditions = setReady(st.Conditions, "")
	}
	return c.writePoolStatus(ctx, u, p, st)
}

// writePoolStatus updates the pool's status unless it is what it was; a stale u gives a conflict.
func (c *Controller) writePoolStatus(ctx context.Context, u *unstructured.Unstructured, p *ipPool, st ipPoolStatus) error {
	if reflect.DeepEqual(st, p.Status) {
		return nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
	if err != nil {
		return err
	}
	u = u.DeepCopy()
	u.Object["status"] = m
	if _, err := c.dyn.Resource(gvr.IPPools).Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update IPPool %s: %w", p.Name, err)
	}
	return nil
}

// allocatedAddress is a load balancer's status.allocatedAddress.
type allocatedAddress struct {
	IPPool  string `json:"ipPool,omitempty"`
	IP      string `json:"ip,omitempty"`
	Mask    string `json:"mask,omitempty"`
	Gateway string `json:"gateway,omitempty"`
}

// allocate books an address of the pool for load balancer key: the one the pool has booked for it
// already, else the one it had last if free, else the first free one. A missing or exhausted pool is
// a notReady error with Harvester's message.
func (c *Controller) allocate(ctx context.Context, pool, key string) (allocatedAddress, error) {
	u, err := c.dyn.Resource(gvr.IPPools).Get(ctx, pool, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return allocatedAddress{}, notReady("fail to get allocator %s", pool)
	} else if err != nil {
		return allocatedAddress{}, fmt.Errorf("get IPPool %s: %w", pool, err)
	}
	p, err := toIPPool(u)
	if err != nil {
		return allocatedAddress{}, err
	}
	ranges, err := poolRanges(p)
	if err != nil {
		return allocatedAddress{}, notReady("fail to get allocator %s: %v", pool, err)
	}
	pick := func(ok func(a netip.Addr) bool) (netip.Addr, poolRange, bool) {
		for _, r := range ranges {
			for _, a := range r.addrs() {
				if ok(a) {
					return a, r, true
				}
			}
		}
		return netip.Addr{}, poolRange{}, false
	}
	free := func(a netip.Addr) bool { _, taken := p.Status.Allocated[a.String()]; return !taken }
	a, r, found := pick(func(a netip.Addr) bool { return p.Status.Allocated[a.String()] == key })
	if !found {
		a, r, found = pick(func(a netip.Addr) bool { return free(a) && p.Status.AllocatedHistory[a.String()] == key })
	}
	if !found {
		a, r, found = pick(free)
	}
	if !found {
		set := make([]string, len(ranges))
		for i, r := range ranges {
			set[i] = r.String()
		}
		return allocatedAddress{}, notReady("fail to get ip from pool %s, error: no IP addresses available in range set: %s", pool, strings.Join(set, ","))
	}
	st := p.Status
	st.Allocated = cloneMap(st.Allocated)
	st.AllocatedHistory = cloneMap(st.AllocatedHistory)
	st.Allocated[a.String()] = key
	delete(st.AllocatedHistory, a.String())
	st.LastAllocated = a.String()
	st.Total = countAddrs(ranges)
	st.Available = st.Total - int64(len(st.Allocated))
	if err := c.writePoolStatus(ctx, u, p, st); err != nil {
		return allocatedAddress{}, err
	}
	out := allocatedAddress{IPPool: pool, IP: a.String(), Mask: net.IP(net.CIDRMask(r.prefix.Bits(), 32)).String()}
	if r.gateway.IsValid() {
		out.Gateway = r.gateway.String()
	}
	return out, nil
}

// release moves the pool's bookings for load balancer key to its history. A missing pool has none
// (Harvester's webhook refuses to delete a pool in use; the stand-in has no webhooks).
func (c *Controller) release(ctx context.Context, pool, key string) error {
	u, err := c.dyn.Resource(gvr.IPPools).Get(ctx, pool, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("get IPPool %s: %w", pool, err)
	}
	p, err := toIPPool(u)
	if err != nil {
		return err
	}
	st := p.Status
	st.Allocated = cloneMap(st.Allocated)
	st.AllocatedHistory = cloneMap(st.AllocatedHistory)
	for ip, owner := range p.Status.Allocated {
		if owner == key {
			st.AllocatedHistory[ip] = owner
			delete(st.Allocated, ip)
			st.Available++
		}
	}
	if len(st.AllocatedHistory) == 0 {
		st.AllocatedHistory = nil
	}
	if len(st.Allocated) == 0 {
		st.Allocated = nil
	}
	return c.writePoolStatus(ctx, u, p, st)
}

// poolsBooking lists the pools (as cached) with an address booked for load balancer key.
func (c *Controller) poolsBooking(key string) ([]string, error) {
	objs, err := c.pools.List(everything)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, o := range objs {
		p, err := toIPPool(o.(*unstructured.Unstructured))
		if err != nil {
			continue
		}
		for _, owner := range p.Status.Allocated {
			if owner == key {
				names = append(names, p.Name)
				break
			}
		}
	}
	return names, nil
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
