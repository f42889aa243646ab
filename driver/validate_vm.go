package driver

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
)

// The VM options as the option entries that give them, for comparing and for messages.

func nicEntries(t harvester.VMTemplate) []string {
	var out []string
	for _, n := range t.NICs {
		e := n.Key() + ",model=" + n.Model
		if n.MAC != "" {
			e += ",mac=" + n.MAC
		}
		out = append(out, e+poolsSuffix(n.Pools))
	}
	return out
}

func diskEntries(t harvester.VMTemplate) []string {
	var out []string
	for _, d := range t.Disks {
		e := d.Size.String()
		if d.Image.IsZero() {
			e += ",storage-class=" + d.StorageClass
		} else {
			e += ",image=" + d.Image.String()
		}
		e += ",bus=" + d.Bus
		if d.BootOrder > 0 {
			e += fmt.Sprintf(",boot-order=%d", d.BootOrder)
		}
		out = append(out, e+poolsSuffix(d.Pools))
	}
	return out
}

func poolsSuffix(pools []string) string {
	if len(pools) == 0 {
		return ""
	}
	return ",pools=" + strings.Join(pools, "+")
}

func affinityText(t harvester.VMTemplate) string {
	if t.Placement.Affinity == nil {
		return ""
	}
	b, _ := json.Marshal(t.Placement.Affinity)
	return string(b)
}

func antiAffinityText(t harvester.VMTemplate) string {
	if t.Placement.HardAntiAffinity {
		return "hard"
	}
	return defaultAntiAffinity
}

// addressPoolText is what of a pool's static addresses cannot change once it has nodes: all but
// the range, which may grow.
func addressPoolText(ap harvester.AddressPool) string {
	e := fmt.Sprintf("/%d", ap.Prefix)
	if ap.Gateway.IsValid() {
		e += ",gateway=" + ap.Gateway.String()
	}
	var dns []string
	for _, d := range ap.DNS {
		dns = append(dns, d.String())
	}
	if len(dns) > 0 {
		e += ",dns=" + strings.Join(dns, "+")
	}
	if ap.Network != "" {
		e += ",network=" + ap.Network
	}
	return e
}

// staticAddressChanges reports changes to the static addresses of pools that already exist: they
// may not gain, lose or change them, except for a range that grows (the addresses recorded on the
// pool's VMs stay in it). New pools may get any.
func staticAddressChanges(r *optionReader, old, spec provision.Spec) {
	for _, p := range spec.Pools {
		existed := false
		for _, o := range old.Pools {
			existed = existed || o.Name == p.Name
		}
		if !existed {
			continue
		}
		was, is := harvester.AddressPoolOf(old.Template, p.Name), harvester.AddressPoolOf(spec.Template, p.Name)
		switch {
		case was == nil && is == nil:
		case was == nil:
			r.problem(optStaticAddrs, "pool %q was created without static addresses; they cannot be added to it (add a new pool)", p.Name)
		case is == nil:
			r.problem(optStaticAddrs, "pool %q has static addresses (%s); they cannot be removed from it", p.Name, was)
		case addressPoolText(*was) != addressPoolText(*is):
			r.problem(optStaticAddrs, "the static addresses of pool %q can change only by a larger range (was %s%s)", p.Name, was, strings.TrimPrefix(addressPoolText(*was), fmt.Sprintf("/%d", was.Prefix)))
		case !is.Contains(was.Start) || !is.Contains(was.End):
			r.problem(optStaticAddrs, "the range of pool %q may only grow: %s does not hold %s", p.Name, is, was)
		}
	}
}
