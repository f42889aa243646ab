package savedstate

import (
	"fmt"
	"net/netip"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
)

// fromVMOptions stores the VM options of t in out.
func fromVMOptions(t harvester.VMTemplate, out *v2Template) {
	for _, n := range t.NICs {
		out.NICs = append(out.NICs, v2NIC{Network: refOrNil(n.Network), Model: n.Model, MAC: n.MAC, Pools: n.Pools})
	}
	for _, d := range t.Disks {
		out.Disks = append(out.Disks, v2Disk{Size: quantityString(d.Size), Image: refOrNil(d.Image), StorageClass: d.StorageClass,
			Bus: d.Bus, BootOrder: d.BootOrder, Pools: d.Pools})
	}
	for _, a := range t.StaticAddresses {
		p := v2AddressPool{Start: a.Start.String(), End: a.End.String(), Prefix: a.Prefix, Network: a.Network, Pools: a.Pools}
		if a.Gateway.IsValid() {
			p.Gateway = a.Gateway.String()
		}
		for _, d := range a.DNS {
			p.DNS = append(p.DNS, d.String())
		}
		out.StaticAddresses = append(out.StaticAddresses, p)
	}
	out.NetworkData, out.AddressNetwork = t.NetworkData, t.AddressNetwork
	if h := t.Hardware; h != (harvester.Hardware{}) {
		out.Hardware = &v2Hardware{CPUModel: h.CPUModel, DedicatedCPU: h.DedicatedCPU, IsolateEmulatorThread: h.IsolateEmulatorThread,
			EFI: h.EFI, SecureBoot: h.SecureBoot, TPM: h.TPM}
	}
	if p := t.Placement; p.Affinity != nil || p.HardAntiAffinity {
		out.Placement = &v2Placement{Affinity: p.Affinity, HardAntiAffinity: p.HardAntiAffinity}
	}
}

// toVMOptions reads the VM options of in into t.
func toVMOptions(in v2Template, t *harvester.VMTemplate) error {
	for _, n := range in.NICs {
		t.NICs = append(t.NICs, harvester.NIC{Network: refOf(n.Network), Model: n.Model, MAC: n.MAC, Pools: n.Pools})
	}
	for i, d := range in.Disks {
		size, err := parseQuantity(fmt.Sprintf("disks[%d].size", i), d.Size)
		if err != nil {
			return err
		}
		t.Disks = append(t.Disks, harvester.Disk{Size: size, Image: refOf(d.Image), StorageClass: d.StorageClass,
			Bus: d.Bus, BootOrder: d.BootOrder, Pools: d.Pools})
	}
	for i, p := range in.StaticAddresses {
		a := harvester.AddressPool{Prefix: p.Prefix, Network: p.Network, Pools: p.Pools}
		var errs [3]error
		a.Start, errs[0] = netip.ParseAddr(p.Start)
		a.End, errs[1] = netip.ParseAddr(p.End)
		if p.Gateway != "" {
			a.Gateway, errs[2] = netip.ParseAddr(p.Gateway)
		}
		for _, err := range errs {
			if err != nil {
				return fmt.Errorf("decode state: spec.template.staticAddresses[%d]: %w", i, err)
			}
		}
		for _, d := range p.DNS {
			addr, err := netip.ParseAddr(d)
			if err != nil {
				return fmt.Errorf("decode state: spec.template.staticAddresses[%d].dns: %w", i, err)
			}
			a.DNS = append(a.DNS, addr)
		}
		t.StaticAddresses = append(t.StaticAddresses, a)
	}
	t.NetworkData, t.AddressNetwork = in.NetworkData, in.AddressNetwork
	if h := in.Hardware; h != nil {
		t.Hardware = harvester.Hardware{CPUModel: h.CPUModel, DedicatedCPU: h.DedicatedCPU, IsolateEmulatorThread: h.IsolateEmulatorThread,
			EFI: h.EFI, SecureBoot: h.SecureBoot, TPM: h.TPM}
	}
	if p := in.Placement; p != nil {
		t.Placement = harvester.Placement{Affinity: p.Affinity, HardAntiAffinity: p.HardAntiAffinity}
	}
	return nil
}

func refOrNil(r harvester.ObjectRef) *v2ObjectRef {
	if r.IsZero() {
		return nil
	}
	v := v2ObjectRef(r)
	return &v
}

func refOf(r *v2ObjectRef) harvester.ObjectRef {
	if r == nil {
		return harvester.ObjectRef{}
	}
	return harvester.ObjectRef(*r)
}
