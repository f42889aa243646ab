// Command harvestersim runs the local Harvester stand-in for demos and by-hand use:
//
//	harvestersim up [flags]   start it in the background; prints the kubeconfig to use
//	harvestersim down         stop it and remove everything it made
//	harvestersim prepare      build and cache what it needs (Kubernetes binaries, CRDs, root filesystems;
//	                          with -rke-images also RKE's images)
//	harvestersim sweep        remove what crashed stand-ins left behind
//
// The state directory (default ~/.cache/harvesterrke/sim, -state) holds the kubeconfig, the daemon's
// pid and log.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/logtail"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "harvestersim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: harvestersim up|down|prepare|sweep [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	state := fs.String("state", defaultStateDir(), "state directory (kubeconfig, pid, log)")
	var opts harvestersim.Options
	fs.DurationVar(&opts.BootDelay, "boot-delay", 0, "time from a VM's start until it runs with an address")
	fs.StringVar(&opts.DefaultUser, "default-user", "", "cloud-init default user of the images (default debian)")
	fs.BoolVar(&opts.NoHosts, "no-hosts", false, "simulate VMs without fake hosts (no root needed)")
	fs.BoolVar(&opts.KubernetesOnly, "kubernetes-only", false, "only etcd, kube-apiserver and kube-controller-manager")
	fs.BoolVar(&opts.RKEImages, "rke-images", false, "hosts ready for RKE: its images preloaded (built on first use)")
	fs.BoolVar(&opts.Registry, "registry", false, "hosts ready for RKE: its images in a private registry (see state/registry.env)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	d := daemon{state: *state}
	switch args[0] {
	case "up":
		return d.up(args[1:])
	case "serve": // the background process "up" starts
		return d.serve(opts)
	case "down":
		return d.down()
	case "prepare":
		opts.Logf = logTo(os.Stderr)
		return harvestersim.Prepare(context.Background(), opts)
	case "sweep":
		harvestersim.Sweep(logTo(os.Stderr))
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func defaultStateDir() string {
	root, err := diskcache.Root()
	if err != nil {
		return "" // -state is then required
	}
	return filepath.Join(root, "sim")
}

func logTo(w io.Writer) func(string, ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(w, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}

// daemon is the background stand-in of a state directory. While it runs it holds an flock on
// state/lock, so "up" can tell it runs and "down" can wait for its exit without polling.
type daemon struct{ state string }

func (d daemon) path(name string) string { return filepath.Join(d.state, name) }

func (d daemon) up(args []string) error {
	if err := os.MkdirAll(d.state, 0o700); err != nil {
		return err
	}
	if running, err := d.running(); err != nil {
		return err
	} else if running {
		return fmt.Errorf("already running (state %s); export KUBECONFIG=%s", d.state, d.path("kubeconfig"))
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(d.path("harvestersim.log"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	ready, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer ready.Close()
	cmd := exec.Command(self, append([]string{"serve"}, args...)...)
	cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = logf, logf, []*os.File{readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this command and its terminal
	if err := cmd.Start(); err != nil {
		readyW.Close()
		return fmt.Errorf("start the daemon: %w", err)
	}
	readyW.Close()
	fmt.Fprintf(os.Stderr, "starting the stand-in (pid %d, log %s)...\n", cmd.Process.Pid, d.path("harvestersim.log"))
	// The daemon writes "ok" on its end of the pipe when ready; EOF without it means it failed.
	msg, _ := io.ReadAll(ready)
	if strings.TrimSpace(string(msg)) != "ok" {
		data, _ := os.ReadFile(d.path("harvestersim.log"))
		return fmt.Errorf("the stand-in did not start:\n%s", logtail.Last(string(data), 30))
	}
	_ = cmd.Process.Release()
	fmt.Printf("export KUBECONFIG=%s\n", d.path("kubeconfig"))
	return nil
}

func (d daemon) serve(opts harvestersim.Options) error {
	lock, ok, err := diskcache.TryLock(d.path("lock"))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("another stand-in runs with state %s", d.state)
	}
	defer lock.Close()
	// Inherited without close-on-exec: set it, or the stand-in's processes would keep the pipe open.
	syscall.CloseOnExec(3)
	ready := os.NewFile(3, "ready")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts.Logf = logTo(os.Stderr)
	start := time.Now()
	sim, err := harvestersim.New(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		opts.Logf("stopping")
		if err := sim.Close(); err != nil {
			opts.Logf("stop: %v", err)
		}
		for _, f := range []string{"kubeconfig", "pid", registryCAFile, registryEnvFile} {
			_ = os.Remove(d.path(f))
		}
		opts.Logf("stopped")
	}()
	if err := os.WriteFile(d.path("kubeconfig"), sim.Kubeconfig, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(d.path("pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return err
	}
	if sim.Registry != nil {
		if err := d.writeRegistry(sim.Registry); err != nil {
			return err
		}
		opts.Logf("%s: its CA in %s, credentials in %s", sim.Registry, d.path(registryCAFile), d.path(registryEnvFile))
	}
	opts.Logf("ready in %s: API %s, images %v, networks %v", time.Since(start).Round(time.Millisecond), sim.Server, sim.Images, sim.Networks)
	if ready != nil {
		fmt.Fprintln(ready, "ok")
		ready.Close()
	}
	<-ctx.Done()
	return nil
}

// The files of the state directory that say how to reach the stand-in's registry, for the driver's
// private-registry-* options.
const (
	registryCAFile  = "registry-ca.pem"
	registryEnvFile = "registry.env"
)

// writeRegistry writes the registry's CA and, as shell variables, its URL and credentials.
func (d daemon) writeRegistry(r *harvestersim.Registry) error {
	if err := os.WriteFile(d.path(registryCAFile), r.CACert, 0o600); err != nil {
		return err
	}
	env := fmt.Sprintf("REGISTRY_URL=%s\nREGISTRY_USERNAME=%s\nREGISTRY_PASSWORD=%s\n", r.URL, r.Username, r.Password)
	return os.WriteFile(d.path(registryEnvFile), []byte(env), 0o600)
}

// running reports whether a daemon holds the state's lock.
func (d daemon) running() (bool, error) {
	f, ok, err := diskcache.TryLock(d.path("lock"))
	if err != nil || !ok {
		return !ok, err
	}
	f.Close()
	return false, nil
}

func (d daemon) down() error {
	data, err := os.ReadFile(d.path("pid"))
	if errors.Is(err, os.ErrNotExist) {
		harvestersim.Sweep(logTo(os.Stderr)) // a killed daemon leaves no pid file but may leave hosts
		fmt.Fprintln(os.Stderr, "not running")
		return nil
	} else if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("read %s: %w", d.path("pid"), err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop pid %d: %w", pid, err)
	}
	// The daemon holds the lock until it has torn everything down and exited.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	lock, err := diskcache.Lock(ctx, d.path("lock"))
	cancel()
	if errors.Is(err, context.DeadlineExceeded) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		lock, err = diskcache.Lock(context.Background(), d.path("lock"))
	}
	if err != nil {
		return err
	}
	defer lock.Close()
	// A daemon that was killed (by us above, or earlier) could not clean up after itself.
	harvestersim.Sweep(logTo(os.Stderr))
	for _, f := range []string{"kubeconfig", "pid"} {
		_ = os.Remove(d.path(f))
	}
	fmt.Fprintln(os.Stderr, "stopped")
	return nil
}
