package harvestersim

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/controller"
)

// AllVMs targets a fault at every VM; a fault for a VM's own name takes precedence over it.
const AllVMs = controller.AllVMs

// Fault changes how the stand-in treats a VM, to test the driver's handling of failures (see
// controller.Fault).
type Fault = controller.Fault

// errNoSimulator is the error of what needs the simulator on a stand-in started without it.
var errNoSimulator = errors.New("the simulator is not running (KubernetesOnly)")

// InjectFault sets the fault of a VM ("<namespace>/<name>") or of AllVMs, replacing the target's
// previous fault. A creation rejection is in force at the API server when InjectFault returns.
func (s *Sim) InjectFault(ctx context.Context, target string, f Fault) error {
	if s.ctrl == nil {
		return fmt.Errorf("inject fault: %w", errNoSimulator)
	}
	return s.ctrl.SetFault(ctx, target, &f)
}

// ClearFault removes the fault of a VM or of AllVMs.
func (s *Sim) ClearFault(ctx context.Context, target string) error {
	if s.ctrl == nil {
		return fmt.Errorf("clear fault: %w", errNoSimulator)
	}
	return s.ctrl.SetFault(ctx, target, nil)
}

// RestartAPIServer stops kube-apiserver and starts it again on the same port with the same data, as a
// restart of Harvester's API looks to clients (their connections and watches end); it returns once it
// serves again. The stand-in's own controllers (simulator, kube-controller-manager) restart with it, so
// they resume at once rather than after client-go's reconnect backoff (up to a minute).
func (s *Sim) RestartAPIServer(ctx context.Context) error {
	s.stopController()
	if err := s.cp.RestartAPIServer(ctx); err != nil {
		return err
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
	if s.hosts == nil {
		return nil, fmt.Errorf("exec on %s: %w", vm, errNoSimulator)
	}
	return s.hosts.Exec(ctx, vm, argv...)
}

// PIDs returns the process IDs of the stand-in's components ("etcd", "kube-apiserver",
// "kube-controller-manager") and of each fake host's init ("host <namespace>/<name>"), e.g. to measure
// their memory.
func (s *Sim) PIDs() map[string]int {
	out := s.cp.PIDs()
	if s.hosts != nil {
		maps.Copy(out, s.hosts.InitPIDs())
	}
	return out
}
