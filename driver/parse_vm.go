package driver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rancher/kontainer-engine/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
)

// Options that shape the node VMs beyond one image disk and one network, grouped as Rancher's
// Harvester machine form groups them.
const (
	optNetworks       = "networks"
	optStaticAddrs    = "static-addresses"
	optAddressNetwork = "address-network"
	optNetworkData    = "network-data"
	optExtraDisks     = "extra-disks"
	optCPUModel       = "cpu-model"
	optCPUPinning     = "cpu-pinning"
	optIsolateEmu     = "isolate-emulator-thread"
	optEFI            = "efi"
	optSecureBoot     = "secure-boot"
	optTPM            = "tpm"
	optVMAffinity     = "vm-affinity"
	optAntiAffinity   = "anti-affinity"

	groupNetworks  = "Networks"
	groupDisks     = "Disks"
	groupHardware  = "Firmware and CPU"
	groupPlacement = "Placement"

	defaultAntiAffinity = "soft"
)

// vmOptionTable are the options of the groups above, in display order (after "Virtual machines").
func vmOptionTable() []Option {
	return []Option{
		{Name: optNetworks, Type: types.StringSliceType, Group: groupNetworks, Default: []string{},
			Usage: "Network interfaces of the nodes, in order, instead of network: each <namespace>/<name> of a NetworkAttachmentDefinition or pod (the pod network), then optionally ,model=<virtio|e1000|e1000e|igb|ne2k_pci|pcnet|rtl8139>, ,mac=<MAC of the first node of the one pool named in pools; node n gets MAC+n-1> and ,pools=<pool>+<pool> (default: every pool), e.g. default/vlan1 and default/storage,pools=worker"},
		{Name: optStaticAddrs, Type: types.StringSliceType, Group: groupNetworks, Default: []string{}, Mutable: true,
			Usage: "Static IPv4 addresses for the nodes, per pool: each <first>-<last>/<prefix length> or a CIDR, then optionally ,gateway=<IP>, ,dns=<IP>+<IP>, ,network=<the NIC's network; default: the pool's first NIC> and ,pools=<pool>+<pool> (default: every pool), e.g. 10.0.0.20-10.0.0.39/24,gateway=10.0.0.1,dns=10.0.0.2. Each node gets the lowest free address, recorded on its VM and written into its network data; a pool's range may only grow once it has nodes"},
		{Name: optAddressNetwork, Type: types.StringType, Group: groupNetworks,
			Usage: "Network (<namespace>/<name> or pod) whose NIC's address the driver and RKE use to reach each node; empty: the first NIC"},
		{Name: optNetworkData, Type: types.StringType, Group: groupNetworks,
			Usage: "cloud-init network-config (version 1 or 2, YAML, plain or base64) for every node. With static-addresses it must be version 2: every node then gets the driver's (its NICs nic-0, nic-1, ... matched by MAC, with DHCP or the node's static address) with this merged in like user-data: maps merged, lists appended, the driver's values win"},

		{Name: optExtraDisks, Type: types.StringSliceType, Group: groupDisks, Default: []string{},
			Usage: "Extra disks after the root disk: each <size> with ,image=<namespace>/<name> or ,storage-class=<name> (an empty disk), then optionally ,bus=<virtio|scsi|sata>, ,boot-order=<2 or more; the root disk boots first> and ,pools=<pool>+<pool> (default: every pool), e.g. 100Gi,storage-class=harvester-longhorn,pools=worker. Deleted with their VMs"},

		{Name: optCPUModel, Type: types.StringType, Group: groupHardware,
			Usage: "CPU model of the VMs (e.g. host-passthrough or one of Harvester's node CPU models); empty: KubeVirt's default (host-model)"},
		{Name: optCPUPinning, Type: types.BoolType, Group: groupHardware, Default: false,
			Usage: "Dedicated CPUs: each virtual CPU pinned to a host CPU (needs Harvester hosts with the CPU manager enabled)"},
		{Name: optIsolateEmu, Type: types.BoolType, Group: groupHardware, Default: false,
			Usage: "Give QEMU's emulator thread a dedicated CPU of its own; requires cpu-pinning"},
		{Name: optEFI, Type: types.BoolType, Group: groupHardware, Default: false,
			Usage: "Boot in UEFI mode (the image must support it)"},
		{Name: optSecureBoot, Type: types.BoolType, Group: groupHardware, Default: false,
			Usage: "UEFI Secure Boot; implies efi"},
		{Name: optTPM, Type: types.BoolType, Group: groupHardware, Default: false,
			Usage: "Give the VMs a (non-persistent) TPM 2.0 device"},

		{Name: optVMAffinity, Type: types.StringType, Group: groupPlacement,
			Usage: "Where the VMs may run: a Kubernetes core/v1 Affinity (nodeAffinity, podAffinity, podAntiAffinity) as JSON, plain or base64; the driver's anti-affinity is added to it. The VMs carry the labels harvesterrke.io/cluster=<cluster> and harvesterrke.io/pool=<pool>"},
		{Name: optAntiAffinity, Type: types.StringType, Group: groupPlacement, Default: defaultAntiAffinity,
			Usage: "Spreading the cluster's VMs over Harvester hosts: soft (preferred) or hard (never two on one host)"},
	}
}

var (
	nicModels   = []string{"virtio", "e1000", "e1000e", "igb", "ne2k_pci", "pcnet", "rtl8139"}
	diskBuses   = []string{"virtio", "scsi", "sata"}
	cpuModel    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$`)
	maxBootDisk = 64
)

// parseVMOptions reads the VM options into t; pools are the cluster's pools. Entries naming pools
// that do not exist are refused only at creation: a pool may go later.
func parseVMOptions(r *optionReader, t *harvester.VMTemplate, pools []provision.Pool, creating bool) {
	names := map[string]int{}
	for _, p := range pools {
		names[p.Name] = p.Count
	}
	checkPools := func(opt, entry string, list []string) {
		for _, p := range list {
			if _, ok := names[p]; !ok && creating {
				r.problem(opt, "%q: pool %q is not in node-pools", entry, p)
			}
		}
	}
	t.NICs = parseNICs(r, t.Namespace, names, checkPools)
	if len(t.NICs) > 0 && !t.Network.IsZero() {
		r.problem(optNetworks, "cannot be combined with network: list every NIC in networks")
	}
	checkNICsOfPools(r, *t, pools)
	if v := r.str(optAddressNetwork); v != "" {
		t.AddressNetwork = networkKey(r, optAddressNetwork, v, t.Namespace)
		for _, p := range pools {
			if t.AddressNetwork != "" && nicOn(harvester.NICsOf(*t, p.Name), t.AddressNetwork) < 0 {
				r.problem(optAddressNetwork, "pool %q has no NIC on %s", p.Name, t.AddressNetwork)
			}
		}
	}
	t.StaticAddresses = parseStaticAddresses(r, *t, pools, checkPools)
	t.NetworkData = r.text(optNetworkData, func(s string) bool {
		return strings.Contains(s, "version") || strings.HasPrefix(strings.TrimSpace(s), "network:")
	})
	if t.NetworkData != "" {
		nc, err := harvester.ParseNetworkConfig(t.NetworkData)
		nodes := 0
		for _, p := range pools {
			nodes += p.Count
		}
		switch {
		case err != nil:
			r.problem(optNetworkData, "is not a cloud-init network-config: %v", err)
		case len(t.StaticAddresses) > 0 && nc.Version != 2:
			r.problem(optNetworkData, "must be version 2 to be merged with static-addresses")
		case nc.FixedAddresses && nodes > 1:
			r.problem(optNetworkData, "gives interfaces fixed addresses, which every one of the %d nodes would get: use static-addresses", nodes)
		}
	}
	t.Disks = parseDisks(r, t.Namespace, pools, checkPools)
	t.Hardware = harvester.Hardware{
		CPUModel:              r.str(optCPUModel),
		DedicatedCPU:          r.boolean(optCPUPinning),
		IsolateEmulatorThread: r.boolean(optIsolateEmu),
		EFI:                   r.boolean(optEFI) || r.boolean(optSecureBoot),
		SecureBoot:            r.boolean(optSecureBoot),
		TPM:                   r.boolean(optTPM),
	}
	if m := t.Hardware.CPUModel; m != "" && !cpuModel.MatchString(m) {
		r.problem(optCPUModel, "must be a CPU model name such as host-passthrough or Cascadelake-Server, got %q", m)
	}
	if t.Hardware.IsolateEmulatorThread && !t.Hardware.DedicatedCPU {
		r.problem(optIsolateEmu, "requires cpu-pinning: KubeVirt isolates the emulator thread only of VMs with dedicated CPUs")
	}
	t.Placement.Affinity = parseAffinity(r)
	switch a := r.str(optAntiAffinity); a {
	case "soft":
	case "hard":
		t.Placement.HardAntiAffinity = true
	default:
		r.problem(optAntiAffinity, "must be soft or hard, got %q", a)
	}
}

// entry is one stringSlice item of the form <value>,key=value,...: its first field and its keys.
type entry struct {
	text  string
	first string
	keys  map[string]string
}

// splitEntry parses an entry; unknown or repeated keys are problems of opt.
func splitEntry(r *optionReader, opt, text string, allowed ...string) (entry, bool) {
	fields := strings.Split(text, ",")
	e := entry{text: text, first: strings.TrimSpace(fields[0]), keys: map[string]string{}}
	ok := true
	for _, f := range fields[1:] {
		k, v, found := strings.Cut(strings.TrimSpace(f), "=")
		switch {
		case !found || !slices.Contains(allowed, k):
			r.problem(opt, "%q: unknown setting %q (known: %s)", text, f, strings.Join(allowed, ", "))
			ok = false
		case e.keys[k] != "":
			r.problem(opt, "%q: %s is given twice", text, k)
			ok = false
		default:
			e.keys[k] = strings.TrimSpace(v)
		}
	}
	return e, ok
}

// poolList reads pools=a+b.
func (e entry) poolList() []string {
	if e.keys["pools"] == "" {
		return nil
	}
	return strings.FieldsFunc(e.keys["pools"], func(c rune) bool { return c == '+' || c == ' ' })
}

// networkKey reads pod or a NetworkAttachmentDefinition reference into its key.
func networkKey(r *optionReader, opt, v, namespace string) string {
	if v == harvester.PodNetwork {
		return v
	}
	ref := harvester.ObjectRef{Namespace: namespace, Name: v}
	if ns, n, ok := strings.Cut(v, "/"); ok {
		ref = harvester.ObjectRef{Namespace: ns, Name: n}
	}
	if len(validation.IsDNS1123Label(ref.Namespace)) > 0 || len(validation.IsDNS1123Subdomain(ref.Name)) > 0 {
		r.problem(opt, "%q is neither pod nor <namespace>/<name> of a NetworkAttachmentDefinition", v)
		return ""
	}
	return ref.String()
}

func nicOn(nics []harvester.NIC, key string) int {
	for i, n := range nics {
		if n.Key() == key {
			return i
		}
	}
	return -1
}

func parseNICs(r *optionReader, namespace string, pools map[string]int, checkPools func(string, string, []string)) []harvester.NIC {
	var out []harvester.NIC
	for _, item := range r.slice(optNetworks) {
		e, ok := splitEntry(r, optNetworks, item, "model", "mac", "pools")
		if !ok {
			continue
		}
		key := networkKey(r, optNetworks, e.first, namespace)
		if key == "" {
			continue
		}
		nic := harvester.NIC{Model: e.keys["model"], MAC: e.keys["mac"], Pools: e.poolList()}
		if key != harvester.PodNetwork {
			ns, name, _ := strings.Cut(key, "/")
			nic.Network = harvester.ObjectRef{Namespace: ns, Name: name}
		}
		if nic.Model == "" {
			nic.Model = "virtio"
		} else if !slices.Contains(nicModels, nic.Model) {
			r.problem(optNetworks, "%q: model must be one of %s", item, strings.Join(nicModels, ", "))
		}
		checkPools(optNetworks, item, nic.Pools)
		if nic.MAC != "" {
			hw, err := net.ParseMAC(nic.MAC)
			switch {
			case err != nil || len(hw) != 6:
				r.problem(optNetworks, "%q: mac must be a MAC address such as 02:00:00:00:01:01", item)
			case hw[0]&1 == 1:
				r.problem(optNetworks, "%q: mac must be a unicast address (the first byte even)", item)
			case len(nic.Pools) != 1:
				r.problem(optNetworks, "%q: mac needs pools= with exactly one pool (node n of the pool gets MAC+n-1)", item)
			default:
				// Unicast, so below ff:...: the pool's MACs stay within 48 bits.
				nic.MAC = hw.String()
			}
		}
		out = append(out, nic)
	}
	// The MACs of different NICs must not meet.
	for i, a := range out {
		for _, b := range out[i+1:] {
			if a.MAC == "" || b.MAC == "" {
				continue
			}
			ha, _ := net.ParseMAC(a.MAC)
			hb, _ := net.ParseMAC(b.MAC)
			va, vb := macValue(ha), macValue(hb)
			ca, cb := uint64(max(pools[a.Pools[0]], 1)), uint64(max(pools[b.Pools[0]], 1))
			if va < vb+cb && vb < va+ca {
				r.problem(optNetworks, "the MACs from %s (%d nodes) and from %s (%d nodes) overlap", a.MAC, ca, b.MAC, cb)
			}
		}
	}
	return out
}

func macValue(hw net.HardwareAddr) uint64 {
	var v uint64
	for _, b := range hw {
		v = v<<8 | uint64(b)
	}
	return v
}

// checkNICsOfPools: every pool has a NIC, at most one on the pod network and none twice on a network.
func checkNICsOfPools(r *optionReader, t harvester.VMTemplate, pools []provision.Pool) {
	if len(t.NICs) == 0 {
		return
	}
	for _, p := range pools {
		nics := harvester.NICsOf(t, p.Name)
		if len(nics) == 0 {
			r.problem(optNetworks, "pool %q has no NIC", p.Name)
		}
		seen := map[string]bool{}
		for _, n := range nics {
			if seen[n.Key()] {
				r.problem(optNetworks, "pool %q has two NICs on %s", p.Name, n.Key())
			}
			seen[n.Key()] = true
		}
	}
}

func parseStaticAddresses(r *optionReader, t harvester.VMTemplate, pools []provision.Pool, checkPools func(string, string, []string)) []harvester.AddressPool {
	var out []harvester.AddressPool
	served := map[string]string{}
	for _, item := range r.slice(optStaticAddrs) {
		e, ok := splitEntry(r, optStaticAddrs, item, "gateway", "dns", "network", "pools")
		if !ok {
			continue
		}
		ap, err := parseRange(e.first)
		if err != nil {
			r.problem(optStaticAddrs, "%q: %v", item, err)
			continue
		}
		ap.Pools = e.poolList()
		checkPools(optStaticAddrs, item, ap.Pools)
		if g := e.keys["gateway"]; g != "" {
			a, err := netip.ParseAddr(g)
			if err != nil || !a.Is4() || !ap.Subnet().Contains(a) {
				r.problem(optStaticAddrs, "%q: gateway must be an IPv4 address in %s", item, ap.Subnet())
			}
			ap.Gateway = a
		}
		for _, d := range strings.FieldsFunc(e.keys["dns"], func(c rune) bool { return c == '+' || c == ' ' }) {
			a, err := netip.ParseAddr(d)
			if err != nil || !a.Is4() {
				r.problem(optStaticAddrs, "%q: dns must be IPv4 addresses joined by '+', got %q", item, d)
				continue
			}
			ap.DNS = append(ap.DNS, a)
		}
		if n := e.keys["network"]; n != "" {
			ap.Network = networkKey(r, optStaticAddrs, n, t.Namespace)
		}
		if ap.Network == harvester.PodNetwork {
			r.problem(optStaticAddrs, "%q: the pod network's addresses are the pod's; a static address needs a NIC on a VM network", item)
		}
		nodes := 0
		for _, p := range pools {
			if !slices.Contains(ap.Pools, p.Name) && len(ap.Pools) > 0 {
				continue
			}
			if other, taken := served[p.Name]; taken {
				r.problem(optStaticAddrs, "pool %q is in two entries: %q and %q", p.Name, other, item)
				continue
			}
			served[p.Name] = item
			nodes += p.Count
			nics := harvester.NICsOf(t, p.Name)
			switch i := nicOn(nics, ap.Network); {
			case ap.Network == "" && len(nics) > 0 && nics[0].Network.IsZero():
				r.problem(optStaticAddrs, "%q: the first NIC of pool %q is on the pod network; name a VM network with network=", item, p.Name)
			case ap.Network != "" && ap.Network != harvester.PodNetwork && i < 0:
				r.problem(optStaticAddrs, "%q: pool %q has no NIC on %s", item, p.Name, ap.Network)
			}
		}
		if size := ap.Size(); size < nodes {
			r.problem(optStaticAddrs, "%q has %d addresses for %d nodes", item, size, nodes)
		}
		for _, o := range out {
			if o.Contains(ap.Start) || o.Contains(ap.End) || ap.Contains(o.Start) {
				r.problem(optStaticAddrs, "the ranges %s and %s overlap", o, ap)
			}
		}
		out = append(out, ap)
	}
	return out
}

// parseRange reads <first>-<last>/<prefix length> or a CIDR (all its host addresses).
func parseRange(s string) (harvester.AddressPool, error) {
	var ap harvester.AddressPool
	if first, rest, isRange := strings.Cut(s, "-"); isRange {
		last, bits, ok := strings.Cut(rest, "/")
		if !ok {
			return ap, fmt.Errorf("a range needs the prefix length of its subnet: <first>-<last>/<prefix length>")
		}
		n, err := strconv.Atoi(bits)
		a, err1 := netip.ParseAddr(first)
		b, err2 := netip.ParseAddr(last)
		if err != nil || err1 != nil || err2 != nil || !a.Is4() || !b.Is4() {
			return ap, fmt.Errorf("must be <first>-<last>/<prefix length> of IPv4 addresses, e.g. 10.0.0.20-10.0.0.39/24")
		}
		ap = harvester.AddressPool{Start: a, End: b, Prefix: n}
	} else {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return ap, fmt.Errorf("must be <first>-<last>/<prefix length> or a CIDR of IPv4 addresses, e.g. 10.0.0.32/27")
		}
		p = p.Masked()
		ap = harvester.AddressPool{Start: p.Addr(), End: broadcastOf(p), Prefix: p.Bits()}
	}
	switch subnet := ap.Subnet(); {
	case ap.Prefix < 8 || ap.Prefix > 30:
		return ap, fmt.Errorf("the prefix length must be between 8 and 30")
	case ap.End.Less(ap.Start):
		return ap, fmt.Errorf("%s comes after %s", ap.Start, ap.End)
	case !subnet.Contains(ap.End):
		return ap, fmt.Errorf("%s and %s are not in one /%d subnet", ap.Start, ap.End, ap.Prefix)
	}
	return ap, nil
}

func broadcastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | ^uint32(0)>>p.Bits()
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func parseDisks(r *optionReader, namespace string, pools []provision.Pool, checkPools func(string, string, []string)) []harvester.Disk {
	var out []harvester.Disk
	for _, item := range r.slice(optExtraDisks) {
		e, ok := splitEntry(r, optExtraDisks, item, "image", "storage-class", "bus", "boot-order", "pools")
		if !ok {
			continue
		}
		d := harvester.Disk{Bus: e.keys["bus"], StorageClass: e.keys["storage-class"], Pools: e.poolList()}
		q, err := resource.ParseQuantity(e.first)
		if err != nil || q.Value() < minDiskSize {
			r.problem(optExtraDisks, "%q: the size must come first, a quantity of at least 1Gi such as 100Gi", item)
		}
		d.Size = q
		switch img := e.keys["image"]; {
		case img != "" && d.StorageClass != "":
			r.problem(optExtraDisks, "%q: give image or storage-class, not both (a disk from an image has the image's storage class)", item)
		case img != "":
			d.Image = harvester.ObjectRef{Namespace: namespace, Name: img}
			if ns, n, ok := strings.Cut(img, "/"); ok {
				d.Image = harvester.ObjectRef{Namespace: ns, Name: n}
			}
			if len(validation.IsDNS1123Label(d.Image.Namespace)) > 0 || len(validation.IsDNS1123Subdomain(d.Image.Name)) > 0 {
				r.problem(optExtraDisks, "%q: image must be <namespace>/<name> of a VirtualMachineImage", item)
			}
		case d.StorageClass == "":
			r.problem(optExtraDisks, "%q: needs image=<namespace>/<name> or storage-class=<name>", item)
		case len(validation.IsDNS1123Subdomain(d.StorageClass)) > 0:
			r.problem(optExtraDisks, "%q: storage-class must be a storage class name", item)
		}
		if d.Bus == "" {
			d.Bus = "virtio"
		} else if !slices.Contains(diskBuses, d.Bus) {
			r.problem(optExtraDisks, "%q: bus must be virtio, scsi or sata", item)
		}
		if b := e.keys["boot-order"]; b != "" {
			n, err := strconv.Atoi(b)
			if err != nil || n < 2 || n > maxBootDisk {
				r.problem(optExtraDisks, "%q: boot-order must be a number from 2 to %d (the root disk is 1)", item, maxBootDisk)
			} else {
				d.BootOrder = uint(n)
			}
		}
		checkPools(optExtraDisks, item, d.Pools)
		out = append(out, d)
	}
	for _, p := range pools {
		orders := map[uint]bool{}
		for _, d := range out {
			if d.BootOrder > 0 && (len(d.Pools) == 0 || slices.Contains(d.Pools, p.Name)) {
				if orders[d.BootOrder] {
					r.problem(optExtraDisks, "pool %q has two disks with boot-order %d", p.Name, d.BootOrder)
				}
				orders[d.BootOrder] = true
			}
		}
	}
	return out
}

// parseAffinity reads vm-affinity strictly: an unknown or misspelled field is an error, not ignored.
func parseAffinity(r *optionReader) *corev1.Affinity {
	v := r.text(optVMAffinity, func(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "{") })
	if v == "" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	var a corev1.Affinity
	if err := dec.Decode(&a); err != nil {
		r.problem(optVMAffinity, "is not a Kubernetes Affinity in JSON: %s", jsonProblem(err))
		return nil
	}
	if dec.More() {
		r.problem(optVMAffinity, "holds more than one JSON value")
		return nil
	}
	for _, p := range affinityProblems(&a) {
		r.problem(optVMAffinity, "%s", p)
	}
	return &a
}

// jsonProblem says what is wrong with JSON without quoting values (field names are fine).
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return err.Error()[len("json: "):]
	case errors.As(err, &syntax):
		return fmt.Sprintf("a syntax error at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("%s must be %s", typ.Field, typ.Type)
	default:
		return "it does not parse"
	}
}

// affinityProblems checks what the API server's pod validation would refuse and the schema allows.
func affinityProblems(a *corev1.Affinity) []string {
	var out []string
	nodeTerm := func(where string, t corev1.NodeSelectorTerm) {
		for _, req := range append(append([]corev1.NodeSelectorRequirement{}, t.MatchExpressions...), t.MatchFields...) {
			switch req.Operator {
			case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
				if len(req.Values) == 0 {
					out = append(out, fmt.Sprintf("%s: operator %s needs values", where, req.Operator))
				}
			case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
				if len(req.Values) > 0 {
					out = append(out, fmt.Sprintf("%s: operator %s takes no values", where, req.Operator))
				}
			case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
				if len(req.Values) != 1 {
					out = append(out, fmt.Sprintf("%s: operator %s takes one value", where, req.Operator))
				}
			default:
				out = append(out, fmt.Sprintf("%s: operator must be In, NotIn, Exists, DoesNotExist, Gt or Lt", where))
			}
			if len(validation.IsQualifiedName(req.Key)) > 0 {
				out = append(out, fmt.Sprintf("%s: key %q is not a label key", where, req.Key))
			}
		}
	}
	weight := func(where string, w int32) {
		if w < 1 || w > 100 {
			out = append(out, fmt.Sprintf("%s: weight must be 1 to 100", where))
		}
	}
	podTerm := func(where string, t corev1.PodAffinityTerm) {
		if t.TopologyKey == "" {
			out = append(out, where+": topologyKey is required")
		}
		for _, s := range []*metav1.LabelSelector{t.LabelSelector, t.NamespaceSelector} {
			if s == nil {
				continue
			}
			for _, req := range s.MatchExpressions {
				switch req.Operator {
				case "In", "NotIn":
					if len(req.Values) == 0 {
						out = append(out, fmt.Sprintf("%s: operator %s needs values", where, req.Operator))
					}
				case "Exists", "DoesNotExist":
					if len(req.Values) > 0 {
						out = append(out, fmt.Sprintf("%s: operator %s takes no values", where, req.Operator))
					}
				default:
					out = append(out, where+": a label selector's operator must be In, NotIn, Exists or DoesNotExist")
				}
			}
		}
	}
	if n := a.NodeAffinity; n != nil {
		if req := n.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
			if len(req.NodeSelectorTerms) == 0 {
				out = append(out, "nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution needs nodeSelectorTerms")
			}
			for _, t := range req.NodeSelectorTerms {
				nodeTerm("nodeAffinity", t)
			}
		}
		for _, p := range n.PreferredDuringSchedulingIgnoredDuringExecution {
			weight("nodeAffinity", p.Weight)
			nodeTerm("nodeAffinity", p.Preference)
		}
	}
	podAffinity := func(name string, required []corev1.PodAffinityTerm, preferred []corev1.WeightedPodAffinityTerm) {
		for _, t := range required {
			podTerm(name, t)
		}
		for _, w := range preferred {
			weight(name, w.Weight)
			podTerm(name, w.PodAffinityTerm)
		}
	}
	if pa := a.PodAffinity; pa != nil {
		podAffinity("podAffinity", pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	if pa := a.PodAntiAffinity; pa != nil {
		podAffinity("podAntiAffinity", pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	return out
}
