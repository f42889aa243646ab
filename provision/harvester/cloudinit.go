package harvester

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

const cloudConfigHeader = "#cloud-config\n"

// UserData renders the #cloud-config of one VM: the login user with passwordless sudo and the
// authorised keys (the user's and the key pair's), the VM's SSH host key when Login.HostKey is
// set, qemu-guest-agent (Harvester reads bridge-network addresses through it), and the user's own
// #cloud-config deep-merged in. The result holds a private host key: never log it.
func UserData(cl Cluster, env Environment, vm string) (string, error) {
	if cl.Login.User == "" {
		return "", errors.New("cloud-init: no login user")
	}
	keys := authorizedKeys(cl.Login.AuthorizedKeys, env.KeyPairKey)
	if len(keys) == 0 {
		return "", fmt.Errorf("cloud-init for %s: no authorized key for user %s", vm, cl.Login.User)
	}
	var hostKey *HostKey
	if cl.Login.HostKey != nil {
		hk, err := cl.Login.HostKey(vm)
		if err != nil {
			return "", fmt.Errorf("cloud-init for %s: host key: %w", vm, err)
		}
		hostKey = &hk
	}
	extra, err := parseCloudConfig(cl.Template.UserData)
	if err != nil {
		return "", fmt.Errorf("cloud-init for %s: user-data: %w", vm, err)
	}
	out, err := yaml.Marshal(mergeCloudConfig(driverCloudConfig(cl.Login.User, keys, hostKey), extra))
	if err != nil {
		return "", fmt.Errorf("cloud-init for %s: render: %w", vm, err)
	}
	return cloudConfigHeader + string(out), nil
}

// driverCloudConfig is what the driver itself needs on every VM.
func driverCloudConfig(user string, keys []string, hostKey *HostKey) map[string]interface{} {
	cfg := map[string]interface{}{
		"users": []interface{}{map[string]interface{}{
			"name":                user,
			"sudo":                "ALL=(ALL) NOPASSWD:ALL",
			"shell":               "/bin/bash",
			"lock_passwd":         true,
			"ssh_authorized_keys": toList(keys),
		}},
		// Harvester's images expect the guest agent to be installed and started by cloud-init;
		// without it a bridge-network VM never reports an address.
		"package_update": true,
		"packages":       []interface{}{"qemu-guest-agent"},
		"runcmd":         []interface{}{[]interface{}{"systemctl", "enable", "--now", "qemu-guest-agent.service"}},
	}
	if hostKey != nil {
		// The one host key the driver expects: delete the image's keys and generate no others.
		cfg["ssh_keys"] = map[string]interface{}{
			"ed25519_private": hostKey.PrivatePEM,
			"ed25519_public":  strings.TrimSpace(hostKey.AuthorizedKey),
		}
		cfg["ssh_deletekeys"] = true
		cfg["ssh_genkeytypes"] = []interface{}{}
	}
	return cfg
}

// authorizedKeys lists the distinct non-empty keys in order.
func authorizedKeys(keys []string, keyPair string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range append(append([]string{}, keys...), keyPair) {
		k = strings.TrimSpace(k)
		if k != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func toList(s []string) []interface{} {
	out := make([]interface{}, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// parseCloudConfig reads the user's #cloud-config; empty means none.
func parseCloudConfig(s string) (map[string]interface{}, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var cfg map[string]interface{}
	if err := yaml.Unmarshal([]byte(s), &cfg); err != nil {
		return nil, fmt.Errorf("not #cloud-config YAML: %s", YAMLProblem(err))
	}
	return cfg, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// YAMLProblem says what is wrong with a user's YAML without quoting it: the parser's messages
// can quote the content (a key, an anchor), and user data may hold secrets.
func YAMLProblem(err error) string {
	msg := err.Error()
	switch {
	case yamlLine.MatchString(msg):
		return "a syntax error at " + yamlLine.FindString(msg)
	case strings.Contains(msg, "cannot unmarshal"):
		return "it is not a map of cloud-config keys"
	default:
		return "it does not parse as YAML"
	}
}

// mergeCloudConfig deep-merges extra into base: maps are merged key by key, lists are appended
// (base first, so the user's runcmd, write_files and packages run after the driver's), and on any
// other conflict base wins, because the driver's values are what it needs to log in.
func mergeCloudConfig(base, extra map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(base)+len(extra))
	for k, v := range base {
		out[k] = v
	}
	for k, ev := range extra {
		bv, ok := out[k]
		if !ok {
			out[k] = ev
			continue
		}
		switch b := bv.(type) {
		case map[string]interface{}:
			if e, ok := ev.(map[string]interface{}); ok {
				out[k] = mergeCloudConfig(b, e)
			}
		case []interface{}:
			if e, ok := ev.([]interface{}); ok {
				out[k] = append(append([]interface{}{}, b...), e...)
			}
		}
	}
	return out
}
