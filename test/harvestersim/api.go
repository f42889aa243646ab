package harvestersim

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"
)

// InjectFault sets the fault of a VM ("<namespace>/<name>") or of AllVMs, replacing the target's
// previous fault. A creation rejection is in force at the API server when InjectFault returns.
func (s *Sim) InjectFault(ctx context.Context, target string, f Fault) error {
	return s.setFault(ctx, target, &f)
}

// ClearFault removes the fault of a VM or of AllVMs.
func (s *Sim) ClearFault(ctx context.Context, target string) error {
	return s.setFault(ctx, target, nil)
}

func (s *Sim) setFault(ctx context.Context, target string, f *Fault) error {
	if s.faults == nil {
		return fmt.Errorf("inject fault: the simulator is not running (KubernetesOnly)")
	}
	if ns, name, ok := strings.Cut(target, "/"); target != AllVMs && (!ok || ns == "" || name == "") {
		return fmt.Errorf("inject fault: target %q: want <namespace>/<name> or %q", target, AllVMs)
	}
	before := s.faults.rejections()
	s.faults.mu.Lock()
	if f == nil {
		delete(s.faults.byVM, target)
	} else {
		s.faults.byVM[target] = *f
	}
	s.faults.mu.Unlock()
	if after := s.faults.rejections(); !maps.Equal(before, after) {
		if err := setRejections(ctx, s.clients, after); err != nil {
			return err
		}
		probe := target
		if target == AllVMs {
			probe = "default/harvestersim-probe" // a VM without a fault of its own
		}
		if err := waitRejection(ctx, s.clients, probe, s.faults.get(probe).RejectCreate != ""); err != nil {
			return err
		}
	}
	s.faults.onSet()
	return nil
}

// RestartAPIServer stops kube-apiserver and starts it again on the same port with the same data, as a
// restart of Harvester's API looks to clients (their connections and watches end); it returns once it
// serves again. The stand-in's own controllers (simulator, kube-controller-manager) restart with it, so
// they resume at once rather than after client-go's reconnect backoff (up to a minute).
func (s *Sim) RestartAPIServer(ctx context.Context) error {
	s.stopController()
	s.kcm.stop(3 * time.Second)
	if err := s.api.restart(ctx); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	var err error
	if s.kcm, err = s.startKCM(); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	if s.ctrl != nil {
		if err := s.runController(); err != nil {
			return fmt.Errorf("restart kube-apiserver: %w", err)
		}
	}
	return nil
}

// Exec runs argv as root inside the fake host of VM "<namespace>/<name>" and returns its standard
// output (its standard error is in the error when it fails).
func (s *Sim) Exec(ctx context.Context, vm string, argv ...string) ([]byte, error) {
	if s.hosts == nil || s.hosts.noHosts {
		return nil, fmt.Errorf("exec on %s: this stand-in runs no fake hosts", vm)
	}
	h, err := s.hosts.host(vm)
	if err != nil {
		return nil, fmt.Errorf("exec on %s: %w", vm, err)
	}
	return h.exec(ctx, argv...)
}

// PIDs returns the process IDs of the stand-in's components ("etcd", "kube-apiserver",
// "kube-controller-manager") and of each fake host's init ("host <namespace>/<name>"), e.g. to measure
// their memory.
func (s *Sim) PIDs() map[string]int {
	out := map[string]int{}
	for name, p := range map[string]*proc{"etcd": s.etcdProc(), "kube-apiserver": s.apiProc(), "kube-controller-manager": s.kcm} {
		if p != nil {
			out[name] = p.cmd.Process.Pid
		}
	}
	if s.hosts != nil && !s.hosts.noHosts {
		for _, k := range s.hosts.keys() {
			if h, err := s.hosts.host(k); err == nil {
				if pid, err := h.initPID(); err == nil {
					out["host "+k] = pid
				}
			}
		}
	}
	return out
}
