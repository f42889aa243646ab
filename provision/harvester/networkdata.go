package harvester

import (
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// NetworkConfig is a cloud-init network-config (version 1 or 2) as the driver reads the user's.
type NetworkConfig struct {
	Version int
	// FixedAddresses tells whether it gives any interface a fixed address: every node would get it.
	FixedAddresses bool
	doc            map[string]interface{} // unwrapped from a top-level "network:" key
}

// ParseNetworkConfig reads a cloud-init network-config; empty means none (a zero NetworkConfig).
func ParseNetworkConfig(s string) (NetworkConfig, error) {
	var nc NetworkConfig
	if strings.TrimSpace(s) == "" {
		return nc, nil
	}
	if err := yaml.Unmarshal([]byte(s), &nc.doc); err != nil {
		return nc, fmt.Errorf("not YAML: %s", YAMLProblem(err))
	}
	// cloud-init accepts the configuration wrapped in "network:" as well.
	if inner, ok := nc.doc["network"].(map[string]interface{}); ok && len(nc.doc) == 1 {
		nc.doc = inner
	}
	switch v := nc.doc["version"].(type) {
	case float64:
		nc.Version = int(v)
	case string:
		fmt.Sscan(v, &nc.Version)
	}
	switch nc.Version {
	case 1:
		cfg, ok := nc.doc["config"].([]interface{})
		if !ok {
			return nc, fmt.Errorf("version 1 needs a config list")
		}
		for _, e := range cfg {
			m, _ := e.(map[string]interface{})
			subnets, _ := m["subnets"].([]interface{})
			for _, sn := range subnets {
				sm, _ := sn.(map[string]interface{})
				if t, _ := sm["type"].(string); strings.HasPrefix(t, "static") {
					nc.FixedAddresses = true
				}
			}
		}
	case 2:
		for _, kind := range []string{"ethernets", "bonds", "bridges", "vlans"} {
			devs, _ := nc.doc[kind].(map[string]interface{})
			for _, d := range devs {
				dm, _ := d.(map[string]interface{})
				if a, _ := dm["addresses"].([]interface{}); len(a) > 0 {
					nc.FixedAddresses = true
				}
			}
		}
	default:
		return nc, fmt.Errorf("version must be 1 or 2")
	}
	return nc, nil
}

// NetworkData renders the cloud-init network-config of a node. In a cluster without static
// addresses it is the user's network-config as given (or none). With them, the driver's version 2
// configuration lists every NIC of every node by MAC under its name in the VM (nic-0, nic-1, ...): the
// node's static address, gateway and DNS servers on its pool's address NIC, DHCP on the others; the
// user's network-config (version 2) is merged in like user data: maps key by key, lists appended, the
// driver's values win.
func NetworkData(cl Cluster, node VM) (string, error) {
	t := cl.Template
	if len(t.StaticAddresses) == 0 {
		return t.NetworkData, nil
	}
	nics := NICsOf(t, node.Pool)
	static := -1
	pool := AddressPoolOf(t, node.Pool)
	switch {
	case pool != nil && node.StaticAddress == "":
		return "", fmt.Errorf("network data for %s: pool %s has static addresses, but the VM has none recorded", node.Name, node.Pool)
	case pool == nil && node.StaticAddress != "":
		return "", fmt.Errorf("network data for %s: it has static address %s, but pool %s has no static addresses", node.Name, node.StaticAddress, node.Pool)
	case pool != nil:
		if static = nicIndex(nics, pool.Network); static < 0 {
			return "", fmt.Errorf("network data for %s: pool %s has no NIC on network %s", node.Name, node.Pool, pool.Network)
		}
	}
	ethernets := map[string]interface{}{}
	for i, nic := range nics {
		mac, err := nicMAC(cl.Owner, node.Name, node.Index, i, nic, true)
		if err != nil {
			return "", fmt.Errorf("network data for %s: %w", node.Name, err)
		}
		e := map[string]interface{}{"match": map[string]interface{}{"macaddress": mac}}
		if i != static {
			e["dhcp4"] = true
			ethernets[nicName(i)] = e
			continue
		}
		e["addresses"] = []interface{}{node.StaticAddress}
		if pool.Gateway.IsValid() {
			e["routes"] = []interface{}{map[string]interface{}{"to": "0.0.0.0/0", "via": pool.Gateway.String()}}
		}
		if len(pool.DNS) > 0 {
			dns := make([]interface{}, len(pool.DNS))
			for j, d := range pool.DNS {
				dns[j] = d.String()
			}
			e["nameservers"] = map[string]interface{}{"addresses": dns}
		}
		ethernets[nicName(i)] = e
	}
	cfg := map[string]interface{}{"version": 2, "ethernets": ethernets}
	user, err := ParseNetworkConfig(t.NetworkData)
	if err != nil {
		return "", fmt.Errorf("network data for %s: network-data: %w", node.Name, err)
	}
	if user.doc != nil {
		if user.Version != 2 {
			return "", fmt.Errorf("network data for %s: network-data must be version 2 to be merged with static addresses", node.Name)
		}
		cfg = mergeCloudConfig(cfg, user.doc)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("network data for %s: render: %w", node.Name, err)
	}
	return string(out), nil
}
