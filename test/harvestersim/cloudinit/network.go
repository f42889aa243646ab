package cloudinit

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// A VM's network-config (cloud-init's NoCloud network data, version 1 or 2) as a fake host applies
// it: per interface, matched by MAC or name, its name, DHCP or static addresses, MTU and DNS servers.
// Routes (gateways) are recorded, never installed: a fake host must have no way off the machine.

// Network is a parsed network-config.
type Network struct {
	given       bool
	ifaces      []ifaceConfig
	nameservers []string
	search      []string
	ignored     []string // what the stand-in does not apply, for the host's log
	problem     string   // why it could not be applied: cloud-init then falls back to DHCP on the first NIC
}

type ifaceConfig struct {
	id        string
	matchMAC  string // lower case
	matchName string // a glob
	setName   string
	dhcp4     bool
	addresses []string // CIDRs
	mtu       int
	routes    []Route
}

// Route is a route the network-config asks for.
type Route struct{ To, Via string }

func (r Route) String() string { return r.To + " via " + r.Via }

// Link is a NIC of a host as it comes up: its kernel name and MAC.
type Link struct{ Name, MAC string }

// LinkConfig is what a host does with one of its links.
type LinkConfig struct {
	Name      string   // the link's name after renaming
	DHCP      bool     // the stand-in gives it an address of its network
	Addresses []string // static, CIDRs
	MTU       int      // 0: the default
	Routes    []Route  // recorded only
}

// ParseNetwork reads a network-config as cloud-init does; empty means none (cloud-init's fallback).
func ParseNetwork(data []byte) Network {
	var n Network
	if len(strings.TrimSpace(string(data))) == 0 {
		return n
	}
	n.given = true
	var doc map[string]json.RawMessage
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Network{problem: fmt.Sprintf("network-config is not YAML: %v", err)}
	}
	if inner, ok := doc["network"]; ok && len(doc) == 1 {
		doc = nil
		if err := json.Unmarshal(inner, &doc); err != nil {
			return Network{problem: fmt.Sprintf("network-config: network is not a map: %v", err)}
		}
	}
	var version int
	_ = json.Unmarshal(doc["version"], &version)
	var err error
	switch version {
	case 1:
		err = n.parseV1(doc)
	case 2:
		err = n.parseV2(doc)
	default:
		err = fmt.Errorf("unknown version %s", doc["version"])
	}
	if err != nil {
		return Network{problem: "network-config: " + err.Error()}
	}
	sort.Strings(n.ignored)
	return n
}

// flexBool reads YAML 1.1 booleans as netplan and cloud-init take them ("yes", "true", true).
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*b = flexBool(x)
	case string:
		*b = flexBool(x == "yes" || x == "true" || x == "on")
	}
	return nil
}

// stringOrList reads a string or a list of strings.
type stringOrList []string

func (l *stringOrList) UnmarshalJSON(data []byte) error {
	var s string
	if json.Unmarshal(data, &s) == nil {
		*l = strings.Fields(strings.ReplaceAll(s, ",", " "))
		return nil
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return err
	}
	*l = list
	return nil
}

type v2Ethernet struct {
	Match *struct {
		MACAddress string `json:"macaddress"`
		Name       string `json:"name"`
	} `json:"match"`
	SetName     string   `json:"set-name"`
	DHCP4       flexBool `json:"dhcp4"`
	Addresses   []any    `json:"addresses"`
	Gateway4    string   `json:"gateway4"`
	MTU         int      `json:"mtu"`
	Routes      []Route  `json:"routes"`
	Nameservers struct {
		Addresses []string `json:"addresses"`
		Search    []string `json:"search"`
	} `json:"nameservers"`
}

var v2EthernetKeys = map[string]bool{"match": true, "set-name": true, "dhcp4": true, "addresses": true, "gateway4": true,
	"mtu": true, "routes": true, "nameservers": true}

func (r *Route) UnmarshalJSON(data []byte) error {
	var m struct{ To, Via string }
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	r.To, r.Via = m.To, m.Via
	if r.To == "default" {
		r.To = "0.0.0.0/0"
	}
	return nil
}

func (n *Network) parseV2(doc map[string]json.RawMessage) error {
	for k := range doc {
		if k != "version" && k != "ethernets" && k != "renderer" {
			n.ignored = append(n.ignored, k)
		}
	}
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(doc["ethernets"], &raw); err != nil && doc["ethernets"] != nil {
		return fmt.Errorf("ethernets: %w", err)
	}
	ids := make([]string, 0, len(raw))
	for id := range raw {
		ids = append(ids, id)
	}
	sort.Strings(ids) // netplan applies definitions in name order
	for _, id := range ids {
		b, _ := json.Marshal(raw[id])
		var e v2Ethernet
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("ethernets.%s: %w", id, err)
		}
		for k := range raw[id] {
			if !v2EthernetKeys[k] {
				n.ignored = append(n.ignored, "ethernets."+id+"."+k)
			}
		}
		c := ifaceConfig{id: id, setName: e.SetName, dhcp4: bool(e.DHCP4), mtu: e.MTU, routes: e.Routes}
		if e.Match != nil {
			c.matchMAC, c.matchName = strings.ToLower(e.Match.MACAddress), e.Match.Name
		} else {
			c.matchName = id
		}
		for _, a := range e.Addresses {
			s, ok := a.(string)
			if !ok {
				n.ignored = append(n.ignored, "ethernets."+id+".addresses (with options)")
				continue
			}
			if _, err := netip.ParsePrefix(s); err != nil {
				return fmt.Errorf("ethernets.%s.addresses: %q is not <address>/<prefix length>", id, s)
			}
			c.addresses = append(c.addresses, s)
		}
		if e.Gateway4 != "" {
			c.routes = append(c.routes, Route{To: "0.0.0.0/0", Via: e.Gateway4})
		}
		n.nameservers = append(n.nameservers, e.Nameservers.Addresses...)
		n.search = append(n.search, e.Nameservers.Search...)
		n.ifaces = append(n.ifaces, c)
	}
	return nil
}

type v1Entry struct {
	Type       string       `json:"type"`
	Name       string       `json:"name"`
	MACAddress string       `json:"mac_address"`
	MTU        int          `json:"mtu"`
	Subnets    []v1Subnet   `json:"subnets"`
	Address    stringOrList `json:"address"` // type nameserver
	Search     stringOrList `json:"search"`
}

type v1Subnet struct {
	Type           string       `json:"type"`
	Address        string       `json:"address"`
	Netmask        string       `json:"netmask"`
	Gateway        string       `json:"gateway"`
	DNSNameservers stringOrList `json:"dns_nameservers"`
	DNSSearch      stringOrList `json:"dns_search"`
	Routes         []struct {
		Network, Netmask, Gateway string
		Prefix                    json.Number
	} `json:"routes"`
}

func (n *Network) parseV1(doc map[string]json.RawMessage) error {
	var entries []v1Entry
	if err := json.Unmarshal(doc["config"], &entries); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for i, e := range entries {
		switch e.Type {
		case "nameserver":
			n.nameservers = append(n.nameservers, e.Address...)
			n.search = append(n.search, e.Search...)
		case "physical":
			c := ifaceConfig{id: e.Name, setName: e.Name, mtu: e.MTU, matchMAC: strings.ToLower(e.MACAddress)}
			if c.matchMAC == "" {
				c.matchName, c.setName = e.Name, ""
			}
			for _, s := range e.Subnets {
				switch s.Type {
				case "dhcp", "dhcp4":
					c.dhcp4 = true
				case "static", "static4":
					addr, err := v1Address(s.Address, s.Netmask)
					if err != nil {
						return fmt.Errorf("config[%d] (%s): %w", i, e.Name, err)
					}
					c.addresses = append(c.addresses, addr)
					if s.Gateway != "" {
						c.routes = append(c.routes, Route{To: "0.0.0.0/0", Via: s.Gateway})
					}
					for _, r := range s.Routes {
						to := r.Network + "/" + r.Prefix.String()
						if r.Netmask != "" {
							to, _ = v1Address(r.Network, r.Netmask)
						}
						c.routes = append(c.routes, Route{To: to, Via: r.Gateway})
					}
				default:
					n.ignored = append(n.ignored, fmt.Sprintf("config[%d].subnets type %s", i, s.Type))
				}
				n.nameservers = append(n.nameservers, s.DNSNameservers...)
				n.search = append(n.search, s.DNSSearch...)
			}
			n.ifaces = append(n.ifaces, c)
		default:
			n.ignored = append(n.ignored, fmt.Sprintf("config[%d] type %s", i, e.Type))
		}
	}
	return nil
}

// v1Address is a v1 subnet's address as a CIDR: given with a prefix length or with a netmask.
func v1Address(addr, netmask string) (string, error) {
	if strings.Contains(addr, "/") {
		if _, err := netip.ParsePrefix(addr); err != nil {
			return "", fmt.Errorf("address %q is not <address>/<prefix length>", addr)
		}
		return addr, nil
	}
	a, err := netip.ParseAddr(addr)
	m, err2 := netip.ParseAddr(netmask)
	if err != nil || err2 != nil || !m.Is4() {
		return "", fmt.Errorf("address %q needs a prefix length or an IPv4 netmask (got %q)", addr, netmask)
	}
	ones := 0
	for _, b := range m.As4() {
		for ; b&0x80 != 0; b <<= 1 {
			ones++
		}
	}
	return a.String() + "/" + strconv.Itoa(ones), nil
}

// Apply says what a host does with its links under this network-config: each link takes the first
// configuration that matches it, by MAC and/or name (netplan's glob; one with set-name takes only the
// first link it matches). Without a network-config (or
// one that could not be read) cloud-init's fallback applies: DHCP on the first link only.
func (n Network) Apply(links []Link) []LinkConfig {
	out := make([]LinkConfig, len(links))
	for i, l := range links {
		out[i].Name = l.Name
	}
	if !n.given || n.problem != "" {
		if len(out) > 0 {
			out[0].DHCP = true
		}
		return out
	}
	done := make([]bool, len(links))
	for _, c := range n.ifaces {
		for i, l := range links {
			if done[i] || (c.matchMAC != "" && strings.ToLower(l.MAC) != c.matchMAC) {
				continue
			}
			if c.matchName != "" {
				if ok, _ := path.Match(c.matchName, l.Name); !ok {
					continue
				}
			}
			done[i] = true
			out[i] = LinkConfig{Name: l.Name, DHCP: c.dhcp4, Addresses: c.addresses, MTU: c.mtu, Routes: c.routes}
			if c.setName != "" {
				// A name fits one link: netplan refuses set-name on a match of several.
				out[i].Name = c.setName
				break
			}
		}
	}
	return out
}

// Nameservers are the DNS servers and search domains of the network-config, for resolv.conf.
func (n Network) resolvConf() []byte {
	var b strings.Builder
	seen := map[string]bool{}
	for _, s := range n.nameservers {
		if !seen[s] {
			seen[s] = true
			fmt.Fprintf(&b, "nameserver %s\n", s)
		}
	}
	if len(n.search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(n.search, " "))
	}
	return []byte(b.String())
}

// log is what the host's cloud-init output says about its network-config: what was not applied.
func (n Network) log(plan []LinkConfig) []string {
	var out []string
	if n.problem != "" {
		out = append(out, "util.py[WARNING]: "+n.problem+"; falling back to DHCP on the first NIC")
	}
	if len(n.ignored) > 0 {
		out = append(out, "harvestersim: network-config not applied (not simulated): "+strings.Join(n.ignored, ", "))
	}
	for _, l := range plan {
		for _, r := range l.Routes {
			out = append(out, fmt.Sprintf("harvestersim: route %s dev %s recorded, not installed (fake hosts have no way off the machine)", r, l.Name))
		}
	}
	return out
}
