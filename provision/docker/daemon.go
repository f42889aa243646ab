package docker

import (
	"encoding/json"
	"fmt"
	"strings"
)

// daemonJSON renders /etc/docker/daemon.json from cfg, or "" when cfg sets nothing (the file is
// then left as the image has it). Keys are sorted, so equal settings give equal bytes and the
// script can tell whether the file changes.
func daemonJSON(cfg Config) (string, error) {
	m := map[string]any{}
	if len(cfg.RegistryMirrors) > 0 {
		m["registry-mirrors"] = cfg.RegistryMirrors
	}
	if len(cfg.InsecureRegistries) > 0 {
		m["insecure-registries"] = cfg.InsecureRegistries
	}
	if len(cfg.Labels) > 0 {
		for _, l := range cfg.Labels {
			if k, _, ok := strings.Cut(l, "="); !ok || k == "" {
				return "", fmt.Errorf("docker engine label %q is not key=value", l)
			}
		}
		m["labels"] = cfg.Labels
	}
	if cfg.StorageDriver != "" {
		m["storage-driver"] = cfg.StorageDriver
	}
	for k, v := range cfg.Options {
		if k == "" {
			return "", fmt.Errorf("docker daemon option with an empty name")
		}
		if _, dup := m[k]; dup {
			return "", fmt.Errorf("docker daemon option %s is already set by its own setting", k)
		}
		if json.Valid([]byte(v)) {
			m[k] = json.RawMessage(v)
		} else {
			m[k] = v
		}
	}
	if len(m) == 0 {
		return "", nil
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", fmt.Errorf("render docker daemon.json: %w", err)
	}
	return string(b), nil
}
