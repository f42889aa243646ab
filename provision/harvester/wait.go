package harvester

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/rancher/rke/log"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// WaitForAddresses waits until every node's VMI is Running with an IPv4 address on its first
// interface, and returns the nodes with their addresses. It watches the cluster's VMIs (one watch,
// re-established after expiry or an API server restart). After timeout the error names every
// node still waiting and what for; the nodes returned then carry the addresses known so far.
func (c *Client) WaitForAddresses(ctx context.Context, namespace string, owner Owner, nodes []VM, timeout time.Duration) ([]VM, error) {
	if err := owner.check(); err != nil {
		return nil, fmt.Errorf("wait for VMs: %w", err)
	}
	cluster := owner.Name
	out := append([]VM{}, nodes...)
	status := make(map[string]string, len(nodes)) // name -> why it is not ready; "" = ready
	for _, n := range nodes {
		status[n.Name] = "no VMI yet"
	}
	addrs := map[string]string{}
	pending := len(status)
	if pending == 0 {
		return out, nil
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	update := func(ev watch.Event) (bool, error) {
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		name := u.GetName()
		was, wanted := status[name]
		if !wanted || u.GetNamespace() != namespace {
			return false, nil
		}
		addr, why := "", "no VMI yet"
		if ev.Type != watch.Deleted {
			var vmi kubevirtv1.VirtualMachineInstance
			if err := toTyped(u.Object, &vmi); err != nil {
				return false, fmt.Errorf("read VMI %s/%s: %w", namespace, name, err)
			}
			addr, why = vmiAddress(&vmi)
		}
		switch {
		case addr != "" && addrs[name] != addr:
			log.Infof(ctx, "[harvester] %s: running, address %s", name, addr)
		case addr == "" && why != was:
			log.Infof(ctx, "[harvester] %s: %s", name, why)
		}
		if (was == "") != (why == "") {
			if why == "" {
				pending--
			} else {
				pending++
			}
		}
		status[name], addrs[name] = why, addr
		return pending == 0, nil
	}
	_, err := watchtools.UntilWithSync(waitCtx, c.dynamicListWatch(waitCtx, gvrVMI, namespace, owner.selector()),
		&unstructured.Unstructured{}, nil, update)
	for i := range out {
		out[i].Address = addrs[out[i].Name]
	}
	if err == nil {
		return out, nil
	}
	if ctx.Err() != nil {
		return out, fmt.Errorf("wait for VMs of cluster %s: %w", cluster, ctx.Err())
	}
	if waitCtx.Err() == nil {
		return out, fmt.Errorf("wait for VMs of cluster %s: %w", cluster, err)
	}
	var waiting []string
	for _, n := range nodes {
		if why := status[n.Name]; why != "" {
			waiting = append(waiting, fmt.Sprintf("%s: %s", n.Name, why))
		}
	}
	return out, fmt.Errorf("VMs of cluster %s not ready after %s: %s", cluster, timeout, strings.Join(waiting, "; "))
}

// vmiAddress returns the VMI's IPv4 address on its first interface (or the one its address-interface
// annotation names), or why there is none.
func vmiAddress(vmi *kubevirtv1.VirtualMachineInstance) (addr, why string) {
	if vmi.Status.Phase != kubevirtv1.Running {
		phase := string(vmi.Status.Phase)
		if phase == "" {
			phase = "Pending"
		}
		return "", "VMI phase " + phase
	}
	ifaces := vmi.Status.Interfaces
	if len(ifaces) == 0 {
		return "", "running, no interface reported yet (is qemu-guest-agent running in the image?)"
	}
	want := nicName(0)
	if a := vmi.Annotations[annotationAddressInterface]; a != "" {
		want = a
	}
	var iface *kubevirtv1.VirtualMachineInstanceNetworkInterface
	for i := range ifaces {
		if ifaces[i].Name == want {
			iface = &ifaces[i]
			break
		}
	}
	if iface == nil {
		if want != nicName(0) {
			return "", fmt.Sprintf("running, interface %s not reported yet (is qemu-guest-agent running in the image?)", want)
		}
		iface = &ifaces[0]
	}
	var others []string
	seen := map[string]bool{}
	for _, a := range append(append([]string{}, iface.IPs...), iface.IP) {
		ip := net.ParseIP(strings.SplitN(a, "/", 2)[0])
		if ip == nil || seen[ip.String()] {
			continue
		}
		seen[ip.String()] = true
		if ip.To4() != nil && !ip.IsLinkLocalUnicast() && !ip.IsLoopback() && !ip.IsUnspecified() {
			return ip.String(), ""
		}
		others = append(others, ip.String())
	}
	if len(others) > 0 {
		return "", fmt.Sprintf("running, no usable IPv4 address, only %s: the network must give one (DHCP)", strings.Join(others, ", "))
	}
	where := "the first interface"
	if want != nicName(0) {
		where = "interface " + want
	}
	return "", fmt.Sprintf("running, no address on %s yet (is qemu-guest-agent running in the image?)", where)
}
