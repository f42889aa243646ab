package rke

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/rancher/rke/cluster"
)

// EtcdMembers are the addresses of the etcd hosts in RKE's current state: the members its last
// completed cluster up left. None before the first.
func EtcdMembers(files Files) ([]string, error) {
	if len(files.State) == 0 {
		return nil, nil
	}
	// Decoded as plain JSON: RKE's own reader logs the whole state, secrets included, at trace level.
	var fs cluster.FullState
	if err := json.Unmarshal(files.State, &fs); err != nil {
		return nil, fmt.Errorf("read RKE's state: %w", err)
	}
	cfg := fs.CurrentState.RancherKubernetesEngineConfig
	if cfg == nil {
		return nil, nil
	}
	var out []string
	for _, n := range cfg.Nodes {
		if slices.Contains(n.Role, RoleEtcd) {
			out = append(out, n.Address)
		}
	}
	return out, nil
}
