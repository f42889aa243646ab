package docker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// daemonJSON renders /etc/docker/daemon.json from cfg over the node's existing file (its other
// settings, e.g. a runtime the image configures, are kept), or "" when cfg sets nothing (the file
// is then left as the image has it). Keys are sorted, so equal settings give equal bytes and the
// script can tell whether the file changes.
func daemonJSON(cfg Config, existing []byte) (string, error) {
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
	if len(bytes.TrimSpace(existing)) > 0 {
		var current map[string]json.RawMessage
		if err := json.Unmarshal(existing, &current); err != nil {
			return "", fmt.Errorf("the node's /etc/docker/daemon.json is not a JSON object: %w", err)
		}
		for k, v := range current {
			if _, ours := m[k]; !ours {
				m[k] = v
			}
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", fmt.Errorf("render docker daemon.json: %w", err)
	}
	return string(b), nil
}
