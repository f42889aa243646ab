package hosts

import (
	"fmt"
	"os"
	"strings"
)

// machineTunables are the sysctls that are not per network namespace and that software in a host
// could change for the whole machine: the kubelet sets the first four when it starts (the hyperkube
// image's entrypoint gives it private copies, this is the check that it does), and the keys' quotas
// are raised by some container runtimes.
var machineTunables = []string{
	"kernel/panic", "kernel/panic_on_oops", "vm/overcommit_memory", "vm/panic_on_oom",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// tunables are sysctl values by /proc/sys path.
type tunables map[string]string

func readTunables() (tunables, error) {
	t := tunables{}
	for _, name := range machineTunables {
		v, err := os.ReadFile("/proc/sys/" + name)
		if err != nil {
			return nil, fmt.Errorf("read sysctl %s: %w", name, err)
		}
		t[name] = strings.TrimSpace(string(v))
	}
	return t, nil
}

// changed lists the tunables whose value differs now, as "kernel.panic: 10 (was 0)", with their
// /proc/sys paths.
func (t tunables) changed() (descriptions, paths []string, err error) {
	now, err := readTunables()
	if err != nil {
		return nil, nil, err
	}
	for _, name := range machineTunables {
		if was, ok := t[name]; ok && now[name] != was {
			descriptions = append(descriptions, fmt.Sprintf("%s: %s (was %s)", strings.ReplaceAll(name, "/", "."), now[name], was))
			paths = append(paths, name)
		}
	}
	return descriptions, paths, nil
}

// restore writes back the values that changed and reports them as an error.
func (t tunables) restore() error {
	changed, paths, err := t.changed()
	if err != nil || len(changed) == 0 {
		return err
	}
	for _, name := range paths {
		if err := os.WriteFile("/proc/sys/"+name, []byte(t[name]+"\n"), 0o644); err != nil {
			return fmt.Errorf("restore sysctl %s: %w", name, err)
		}
	}
	return fmt.Errorf("the hosts changed the machine's sysctls (restored): %s", strings.Join(changed, ", "))
}
