package cloudinit

import (
	"reflect"
	"strings"
	"testing"
)

func TestNetworkApply(t *testing.T) {
	links := []Link{{"eth0", "02:00:00:00:00:01"}, {"eth1", "02:00:00:00:00:02"}, {"eth2", "02:00:00:00:00:03"}}
	for _, tc := range []struct {
		name        string
		data        string
		want        []LinkConfig
		resolv      string
		log         []string // substrings of the log lines, in order
		problemLike string
	}{
		{name: "none: DHCP on the first NIC only", data: "",
			want: []LinkConfig{{Name: "eth0", DHCP: true}, {Name: "eth1"}, {Name: "eth2"}}},
		{name: "v2 as the driver writes it: by MAC, static, routes recorded", data: `version: 2
ethernets:
  nic-0:
    match: {macaddress: "02:00:00:00:00:01"}
    dhcp4: true
  nic-1:
    match: {macaddress: "02:00:00:00:00:02"}
    addresses: [10.0.0.21/24]
    routes: [{to: 0.0.0.0/0, via: 10.0.0.1}]
    nameservers: {addresses: [10.0.0.2, 10.0.0.3], search: [example.lan]}
`,
			want:   []LinkConfig{{Name: "eth0", DHCP: true}, {Name: "eth1", Addresses: []string{"10.0.0.21/24"}, Routes: []Route{{"0.0.0.0/0", "10.0.0.1"}}}, {Name: "eth2"}},
			resolv: "nameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch example.lan\n",
			log:    []string{"route 0.0.0.0/0 via 10.0.0.1 dev eth1 recorded, not installed"}},
		{name: "v2 wrapped, by name and glob, set-name, gateway4, mtu, yes", data: `network:
  version: 2
  ethernets:
    eth0:
      dhcp4: "yes"
      mtu: 1400
    lan:
      match: {name: "eth[12]"}
      set-name: lan1
      addresses: [192.168.5.9/24]
      gateway4: 192.168.5.1
      ipv6-privacy: true
  bonds: {bond0: {}}
`,
			want: []LinkConfig{{Name: "eth0", DHCP: true, MTU: 1400},
				{Name: "lan1", Addresses: []string{"192.168.5.9/24"}, Routes: []Route{{"0.0.0.0/0", "192.168.5.1"}}}, {Name: "eth2"}},
			log: []string{"not applied (not simulated): bonds, ethernets.lan.ipv6-privacy", "via 192.168.5.1 dev lan1"}},
		{name: "v1: by MAC and renamed, netmask, nameserver entry, by name", data: `version: 1
config:
- type: physical
  name: ens3
  mac_address: "02:00:00:00:00:01"
  subnets:
  - type: static
    address: 10.1.0.5
    netmask: 255.255.0.0
    gateway: 10.1.0.1
    dns_nameservers: [10.1.0.2]
- type: physical
  name: eth2
  subnets: [{type: dhcp}]
- {type: nameserver, address: [10.1.0.3], search: [corp]}
- {type: bond, name: bond0}
`,
			want:   []LinkConfig{{Name: "ens3", Addresses: []string{"10.1.0.5/16"}, Routes: []Route{{"0.0.0.0/0", "10.1.0.1"}}}, {Name: "eth1"}, {Name: "eth2", DHCP: true}},
			resolv: "nameserver 10.1.0.2\nnameserver 10.1.0.3\nsearch corp\n",
			log:    []string{"config[3] type bond"}},
		{name: "not YAML: the fallback", data: "version: [2", want: []LinkConfig{{Name: "eth0", DHCP: true}, {Name: "eth1"}, {Name: "eth2"}},
			problemLike: "not YAML", log: []string{"falling back to DHCP on the first NIC"}},
		{name: "a bad address: the fallback", data: "version: 2\nethernets: {eth0: {addresses: [10.0.0.300/24]}}",
			want: []LinkConfig{{Name: "eth0", DHCP: true}, {Name: "eth1"}, {Name: "eth2"}}, problemLike: "is not <address>/<prefix length>"},
		{name: "version 3", data: "version: 3", want: []LinkConfig{{Name: "eth0", DHCP: true}, {Name: "eth1"}, {Name: "eth2"}}, problemLike: "unknown version 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := ParseNetwork([]byte(tc.data))
			if !strings.Contains(n.problem, tc.problemLike) || (tc.problemLike == "" && n.problem != "") {
				t.Errorf("problem %q, want %q", n.problem, tc.problemLike)
			}
			got := n.Apply(links)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Apply = %+v\nwant    %+v", got, tc.want)
			}
			if r := string(n.resolvConf()); r != tc.resolv {
				t.Errorf("resolv.conf %q, want %q", r, tc.resolv)
			}
			lines := strings.Join(n.log(got), "\n")
			for _, l := range tc.log {
				if !strings.Contains(lines, l) {
					t.Errorf("log %q lacks %q", lines, l)
				}
			}
		})
	}
}

// The host's boot log says what of its network-config it did not apply.
func TestRenderNetworkLog(t *testing.T) {
	n := ParseNetwork([]byte("version: 2\nethernets: {eth0: {dhcp4: true, gateway4: 10.0.0.1, nameservers: {addresses: [10.0.0.2]}}}\nvlans: {}\n"))
	b := Boot{VMName: "vm", DefaultUser: "debian", Network: n, Links: n.Apply([]Link{{"eth0", "02:00:00:00:00:01"}})}
	s := Render(b, Parse(nil))
	init := string(s[StateDir+"/init.sh"].Data)
	for _, want := range []string{"not applied (not simulated): vlans", "route 0.0.0.0/0 via 10.0.0.1 dev eth0 recorded, not installed"} {
		if !strings.Contains(init, want) {
			t.Errorf("init.sh does not log %q", want)
		}
	}
	if got := string(s["/etc/resolv.conf"].Data); got != "nameserver 10.0.0.2\n" {
		t.Errorf("resolv.conf %q", got)
	}
}
