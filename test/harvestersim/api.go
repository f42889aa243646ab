package harvestersim

import (
	"context"
	"fmt"
	"strings"
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
	s.faults.mu.Lock()
	before := s.faults.byVM[target].RejectCreate
	if f == nil {
		delete(s.faults.byVM, target)
	} else {
		s.faults.byVM[target] = *f
	}
	after := s.faults.byVM[target].RejectCreate
	s.faults.mu.Unlock()
	if before != after {
		if err := setRejections(ctx, s.clients, s.faults.rejections()); err != nil {
			return err
		}
		if err := waitRejection(ctx, s.clients, target, after != ""); err != nil {
			return err
		}
	}
	s.faults.onSet()
	return nil
}

// RestartAPIServer stops kube-apiserver and starts it again on the same port with the same data, as a
// rolling restart of Harvester's API would look to clients; it returns once it serves again.
func (s *Sim) RestartAPIServer(ctx context.Context) error {
	if err := s.api.restart(ctx); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
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
