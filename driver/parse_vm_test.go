package driver

import (
	"encoding/base64"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
)

// vmOptions is a valid request with two pools and the VM options given.
func vmOptions(strs map[string]string, bools map[string]bool, slices map[string][]string) *types.DriverOptions {
	o := validOptions()
	o.StringSliceOptions["node-pools"] = &types.StringSlice{Value: []string{"master=1:etcd+controlplane", "worker=3:worker"}}
	for k, v := range strs {
		o.StringOptions[k] = v
	}
	for k, v := range bools {
		o.BoolOptions[k] = v
	}
	for k, v := range slices {
		o.StringSliceOptions[k] = &types.StringSlice{Value: v}
	}
	return o
}

func TestParseVMOptions(t *testing.T) {
	affinity := `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}]}}}`
	opts := vmOptions(map[string]string{
		"address-network": "vlan1",
		"network-data":    base64.StdEncoding.EncodeToString([]byte("version: 2\nethernets: {nic-0: {mtu: 9000}}\n")),
		"cpu-model":       "host-passthrough",
		"vm-affinity":     base64.StdEncoding.EncodeToString([]byte(affinity)),
		"anti-affinity":   "hard",
	}, map[string]bool{"cpu-pinning": true, "isolate-emulator-thread": true, "secure-boot": true, "tpm": true}, map[string][]string{
		"networks": {"default/vlan1", "pod,model=e1000", "storage,mac=02:00:00:00:00:10,pools=worker"},
		"static-addresses": {"10.0.0.20-10.0.0.29/24,gateway=10.0.0.1,dns=10.0.0.2+10.0.0.3,pools=master",
			"10.0.1.0/29,network=default/storage,pools=worker"},
		"extra-disks": {"100Gi,storage-class=harvester-longhorn,bus=scsi,pools=worker", "20Gi,image=data,boot-order=2"},
	})
	spec, err := ParseOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	tm := spec.Template
	want := harvester.VMTemplate{
		NICs: []harvester.NIC{
			{Network: harvester.ObjectRef{Namespace: "default", Name: "vlan1"}, Model: "virtio"},
			{Model: "e1000"},
			{Network: harvester.ObjectRef{Namespace: "default", Name: "storage"}, Model: "virtio", MAC: "02:00:00:00:00:10", Pools: []string{"worker"}},
		},
		StaticAddresses: []harvester.AddressPool{
			{Start: netip.MustParseAddr("10.0.0.20"), End: netip.MustParseAddr("10.0.0.29"), Prefix: 24, Gateway: netip.MustParseAddr("10.0.0.1"),
				DNS: []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")}, Pools: []string{"master"}},
			{Start: netip.MustParseAddr("10.0.1.0"), End: netip.MustParseAddr("10.0.1.7"), Prefix: 29, Network: "default/storage", Pools: []string{"worker"}},
		},
		AddressNetwork: "default/vlan1",
		NetworkData:    "version: 2\nethernets: {nic-0: {mtu: 9000}}\n",
		Hardware:       harvester.Hardware{CPUModel: "host-passthrough", DedicatedCPU: true, IsolateEmulatorThread: true, EFI: true, SecureBoot: true, TPM: true},
	}
	for what, pair := range map[string][2]interface{}{
		"NICs":             {tm.NICs, want.NICs},
		"static addresses": {tm.StaticAddresses, want.StaticAddresses},
		"address network":  {tm.AddressNetwork, want.AddressNetwork},
		"network data":     {tm.NetworkData, want.NetworkData},
		"hardware":         {tm.Hardware, want.Hardware},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s = %+v, want %+v", what, pair[0], pair[1])
		}
	}
	if got := diskEntries(tm); !reflect.DeepEqual(got, []string{"100Gi,storage-class=harvester-longhorn,bus=scsi,pools=worker", "20Gi,image=default/data,bus=virtio,boot-order=2"}) {
		t.Errorf("disks %q", got)
	}
	if a := tm.Placement; !a.HardAntiAffinity || a.Affinity == nil || a.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Key != "zone" {
		t.Errorf("placement %+v", a)
	}
	// A CIDR's range leaves out the subnet's own address and broadcast: 6 for 3 workers.
	if n := tm.StaticAddresses[1].Size(); n != 6 {
		t.Errorf("10.0.1.0/29 holds %d addresses, want 6", n)
	}

	// Nothing given: one NIC from network, soft anti-affinity, nothing else.
	spec, err = ParseOptions(validOptions())
	if err != nil {
		t.Fatal(err)
	}
	if tm := spec.Template; tm.NICs != nil || tm.Disks != nil || tm.StaticAddresses != nil || tm.Hardware != (harvester.Hardware{}) ||
		tm.Placement != (harvester.Placement{}) || tm.NetworkData != "" || tm.AddressNetwork != "" {
		t.Errorf("defaults: %+v", tm)
	}
}

func TestParseVMOptionsProblems(t *testing.T) {
	for _, tc := range []struct {
		name   string
		strs   map[string]string
		bools  map[string]bool
		slices map[string][]string
		option string
		want   string
	}{
		{"network and networks", map[string]string{"network": "default/vlan1"}, nil, map[string][]string{"networks": {"default/vlan2"}},
			"networks", "cannot be combined with network"},
		{"unknown NIC setting", nil, nil, map[string][]string{"networks": {"default/vlan1,speed=10G"}}, "networks", `unknown setting "speed=10G"`},
		{"bad model", nil, nil, map[string][]string{"networks": {"default/vlan1,model=virtio2"}}, "networks", "model must be one of"},
		{"MAC for every pool", nil, nil, map[string][]string{"networks": {"default/vlan1,mac=02:00:00:00:00:01"}}, "networks", "exactly one pool"},
		{"multicast MAC", nil, nil, map[string][]string{"networks": {"default/vlan1,mac=01:00:00:00:00:01,pools=worker"}}, "networks", "unicast"},
		{"MACs that meet", nil, nil, map[string][]string{"networks": {"default/vlan1,mac=02:00:00:00:00:01,pools=worker", "pod,mac=02:00:00:00:00:03,pools=worker"}},
			"networks", "overlap"},
		{"a pool without a NIC", nil, nil, map[string][]string{"networks": {"default/vlan1,pools=worker"}}, "networks", `pool "master" has no NIC`},
		{"two NICs on a network", nil, nil, map[string][]string{"networks": {"default/vlan1", "vlan1"}}, "networks", "two NICs on default/vlan1"},
		{"an unknown pool", nil, nil, map[string][]string{"networks": {"default/vlan1", "pod,pools=workers"}}, "networks", `pool "workers" is not in node-pools`},
		{"a bad network name", nil, nil, map[string][]string{"networks": {"Default/VLAN"}}, "networks", "neither pod nor"},
		{"address network no pool has", map[string]string{"address-network": "default/vlan9"}, nil, nil, "address-network", `pool "master" has no NIC on default/vlan9`},
		{"range without prefix", nil, nil, map[string][]string{"static-addresses": {"10.0.0.1-10.0.0.9"}}, "static-addresses", "prefix length"},
		{"range backwards", map[string]string{"network": "vlan1"}, nil, map[string][]string{"static-addresses": {"10.0.0.9-10.0.0.1/24"}}, "static-addresses", "comes after"},
		{"range over two subnets", map[string]string{"network": "vlan1"}, nil, map[string][]string{"static-addresses": {"10.0.0.200-10.0.1.9/24"}}, "static-addresses", "not in one /24 subnet"},
		{"IPv6", map[string]string{"network": "vlan1"}, nil, map[string][]string{"static-addresses": {"fd00::/64"}}, "static-addresses", "IPv4"},
		{"range too small", map[string]string{"network": "vlan1"}, nil, map[string][]string{"static-addresses": {"10.0.0.1-10.0.0.3/24,gateway=10.0.0.2"}},
			"static-addresses", "has 2 addresses for 4 nodes"},
		{"gateway off the subnet", map[string]string{"network": "vlan1"}, nil, map[string][]string{"static-addresses": {"10.0.0.0/24,gateway=10.1.0.1"}},
			"static-addresses", "gateway must be an IPv4 address in 10.0.0.0/24"},
		{"bad DNS", map[string]string{"network": "vlan1"}, nil, map[string][]string{"static-addresses": {"10.0.0.0/24,dns=dns.example"}}, "static-addresses", "dns must be IPv4"},
		{"on the pod network", nil, nil, map[string][]string{"static-addresses": {"10.0.0.0/24"}}, "static-addresses", "first NIC of pool \"master\" is on the pod network"},
		{"a pool twice", map[string]string{"network": "vlan1"}, nil, map[string][]string{"static-addresses": {"10.0.0.0/24", "10.0.1.0/24,pools=worker"}},
			"static-addresses", `pool "worker" is in two entries`},
		{"overlapping ranges", map[string]string{"network": "vlan1"}, nil, map[string][]string{"static-addresses": {"10.0.0.0/24,pools=master", "10.0.0.100-10.0.0.110/24,pools=worker"}},
			"static-addresses", "overlap"},
		{"a network the pool lacks", map[string]string{"network": "vlan1"}, nil, map[string][]string{"static-addresses": {"10.0.0.0/24,network=default/vlan2"}},
			"static-addresses", `pool "master" has no NIC on default/vlan2`},
		{"network data not YAML", map[string]string{"network-data": "version: [2"}, nil, nil, "network-data", "syntax error"},
		{"network data version 3", map[string]string{"network-data": "version: 3"}, nil, nil, "network-data", "version must be 1 or 2"},
		{"network data v1 with static addresses", map[string]string{"network": "vlan1", "network-data": "version: 1\nconfig: []\n"}, nil,
			map[string][]string{"static-addresses": {"10.0.0.0/24"}}, "network-data", "must be version 2"},
		{"network data fixing an address for 4 nodes", map[string]string{"network-data": "version: 2\nethernets: {eth0: {addresses: [10.0.0.5/24]}}"}, nil, nil,
			"network-data", "every one of the 4 nodes"},
		{"disk without size", nil, nil, map[string][]string{"extra-disks": {"storage-class=x"}}, "extra-disks", "size must come first"},
		{"disk from neither", nil, nil, map[string][]string{"extra-disks": {"10Gi"}}, "extra-disks", "needs image"},
		{"disk from both", nil, nil, map[string][]string{"extra-disks": {"10Gi,image=a/b,storage-class=c"}}, "extra-disks", "not both"},
		{"disk bus", nil, nil, map[string][]string{"extra-disks": {"10Gi,storage-class=c,bus=ide"}}, "extra-disks", "bus must be"},
		{"boot order 1", nil, nil, map[string][]string{"extra-disks": {"10Gi,storage-class=c,boot-order=1"}}, "extra-disks", "boot-order must be a number from 2"},
		{"boot order twice", nil, nil, map[string][]string{"extra-disks": {"10Gi,storage-class=c,boot-order=2", "10Gi,storage-class=d,boot-order=2,pools=worker"}},
			"extra-disks", `pool "worker" has two disks with boot-order 2`},
		{"cpu model", map[string]string{"cpu-model": "host model"}, nil, nil, "cpu-model", "CPU model name"},
		{"emulator thread without pinning", nil, map[string]bool{"isolate-emulator-thread": true}, nil, "isolate-emulator-thread", "requires cpu-pinning"},
		{"affinity misspelled", map[string]string{"vm-affinity": `{"nodeAfinity":{}}`}, nil, nil, "vm-affinity", `unknown field "nodeAfinity"`},
		{"affinity mistyped", map[string]string{"vm-affinity": `{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{}}}`}, nil, nil, "vm-affinity", "must be []v1.PodAffinityTerm"},
		{"affinity operator", map[string]string{"vm-affinity": `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"Is"}]}]}}}`},
			nil, nil, "vm-affinity", "operator must be In"},
		{"affinity weight", map[string]string{"vm-affinity": `{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":0,"podAffinityTerm":{"topologyKey":"zone"}}]}}`},
			nil, nil, "vm-affinity", "weight must be 1 to 100"},
		{"affinity without topology", map[string]string{"vm-affinity": `{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{}}]}}`},
			nil, nil, "vm-affinity", "topologyKey is required"},
		{"anti-affinity", map[string]string{"anti-affinity": "strict"}, nil, nil, "anti-affinity", "soft or hard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOptions(vmOptions(tc.strs, tc.bools, tc.slices))
			if got := problemOptions(t, err); !reflect.DeepEqual(got, []string{tc.option}) && !(len(got) > 0 && got[0] == tc.option) {
				t.Errorf("problems about %v, want %s: %v", got, tc.option, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// An entry naming a pool that no longer exists is fine on Update: pools may go.
func TestParseVMOptionsOfAGonePool(t *testing.T) {
	opts := vmOptions(nil, nil, map[string][]string{"extra-disks": {"10Gi,storage-class=c,pools=old"}})
	if _, err := ParseOptions(opts); err == nil {
		t.Fatal("an unknown pool must be refused at creation")
	}
	old, err := ParseOptions(vmOptions(nil, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseOptions(opts, &old); err != nil {
		t.Errorf("on update: %v", err)
	}
}

func TestStaticAddressChanges(t *testing.T) {
	parse := func(pools []string, static ...string) *types.DriverOptions {
		o := vmOptions(map[string]string{"network": "vlan1"}, nil, map[string][]string{"static-addresses": static})
		o.StringSliceOptions["node-pools"] = &types.StringSlice{Value: pools}
		return o
	}
	base := []string{"master=1:etcd+controlplane", "worker=3:worker"}
	old, err := ParseOptions(parse(base, "10.0.0.10-10.0.0.13/24,gateway=10.0.0.1,pools=worker"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		opts   *types.DriverOptions
		errors []string
	}{
		{"unchanged", parse(base, "10.0.0.10-10.0.0.13/24,gateway=10.0.0.1,pools=worker"), nil},
		{"the range grows with the pool", parse([]string{"master=1:etcd+controlplane", "worker=6:worker"}, "10.0.0.5-10.0.0.20/24,gateway=10.0.0.1,pools=worker"), nil},
		{"a new pool gets addresses", parse(append(base, "big=2:worker"), "10.0.0.10-10.0.0.13/24,gateway=10.0.0.1,pools=worker", "10.0.1.0/24,pools=big"), nil},
		{"the range shrinks", parse(base, "10.0.0.11-10.0.0.15/24,gateway=10.0.0.1,pools=worker"), []string{"may only grow"}},
		{"the gateway changes", parse(base, "10.0.0.10-10.0.0.13/24,gateway=10.0.0.254,pools=worker"), []string{"can change only by a larger range (was 10.0.0.10-10.0.0.13/24,gateway=10.0.0.1)"}},
		{"an existing pool gets addresses", parse(base, "10.0.0.10-10.0.0.13/24,gateway=10.0.0.1"), []string{`pool "master" was created without static addresses`}},
		{"addresses removed", parse(base), []string{`pool "worker" has static addresses (10.0.0.10-10.0.0.13/24)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := parseOptions(tc.opts, &old)
			if err != nil {
				t.Fatal(err)
			}
			err = immutableChanges(old, spec)
			if tc.errors == nil {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			wantOnly(t, err, optStaticAddrs, tc.errors...)
		})
	}
}

// wantOnly checks that err is about option alone and says each of want.
func wantOnly(t *testing.T, err error, option string, want ...string) {
	t.Helper()
	if got := problemOptions(t, err); len(got) == 0 || got[0] != option || got[len(got)-1] != option {
		t.Errorf("problems about %v, want %s: %v", got, option, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// The VM options are fixed once the cluster exists, and a change names the option.
func TestVMOptionsFixedAfterCreate(t *testing.T) {
	old, err := ParseOptions(vmOptions(nil, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	for option, opts := range map[string]*types.DriverOptions{
		"networks":                vmOptions(nil, nil, map[string][]string{"networks": {"pod"}}),
		"address-network":         vmOptions(map[string]string{"address-network": "pod"}, nil, nil),
		"network-data":            vmOptions(map[string]string{"network-data": "version: 2"}, nil, nil),
		"extra-disks":             vmOptions(nil, nil, map[string][]string{"extra-disks": {"10Gi,storage-class=c"}}),
		"cpu-model":               vmOptions(map[string]string{"cpu-model": "host-passthrough"}, nil, nil),
		"cpu-pinning":             vmOptions(nil, map[string]bool{"cpu-pinning": true}, nil),
		"efi":                     vmOptions(nil, map[string]bool{"efi": true}, nil),
		"tpm":                     vmOptions(nil, map[string]bool{"tpm": true}, nil),
		"vm-affinity":             vmOptions(map[string]string{"vm-affinity": `{"nodeAffinity":{}}`}, nil, nil),
		"anti-affinity":           vmOptions(map[string]string{"anti-affinity": "hard"}, nil, nil),
		"isolate-emulator-thread": vmOptions(nil, map[string]bool{"cpu-pinning": true, "isolate-emulator-thread": true}, nil),
	} {
		spec, err := parseOptions(opts, &old)
		if err != nil {
			t.Fatalf("%s: %v", option, err)
		}
		err = immutableChanges(old, spec)
		if err == nil || !strings.Contains(err.Error(), option+": cannot change after creation") {
			t.Errorf("%s: %v", option, err)
		}
	}
	// secure-boot implies efi: both change.
	spec, _ := parseOptions(vmOptions(nil, map[string]bool{"secure-boot": true}, nil), &old)
	if got := problemOptions(t, immutableChanges(old, spec)); !reflect.DeepEqual(got, []string{"efi", "secure-boot"}) {
		t.Errorf("secure-boot: problems about %v", got)
	}
}
