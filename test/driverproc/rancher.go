package driverproc

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"
)

// Schedule is how Rancher waits for a driver it started (pkg/kontainer-engine/service,
// RunningDriver.Start): a fixed wait, then GetCapabilities, retried after each of Retries.
type Schedule struct {
	Wait    time.Duration
	Retries []time.Duration
}

// RancherSchedule is Rancher's: 5 s, then retries after 1, 4, 9, 16, 25 and 36 s.
var RancherSchedule = Schedule{Wait: 5 * time.Second, Retries: []time.Duration{
	1 * time.Second, 4 * time.Second, 9 * time.Second, 16 * time.Second, 25 * time.Second, 36 * time.Second}}

func (s Schedule) isZero() bool { return s.Wait == 0 && s.Retries == nil }

// Rancher runs a driver as Rancher does: every call in a fresh process in the jail, started on a
// free port with Rancher's wait and retries and killed with SIGKILL when the call ends.
type Rancher struct {
	// Client is the driver as Rancher sees it; each call starts and kills its own process.
	Client types.Driver
	jail   *Jail

	mu      sync.Mutex
	running map[*Process]bool
	log     lockedBuffer
	calls   int
}

// Start builds a jail for bin and returns the Rancher-like caller of its driver.
func Start(t testing.TB, bin string) *Rancher {
	t.Helper()
	return StartInJail(NewJail(t, bin, JailOptions{}))
}

// StartInJail is Start for a jail built with options.
func StartInJail(j *Jail) *Rancher {
	r := &Rancher{jail: j, running: map[*Process]bool{}}
	r.Client = perCall{r}
	return r
}

// Kill ends the calls in flight with SIGKILL, as when Rancher's pod dies mid-call.
func (r *Rancher) Kill() {
	r.mu.Lock()
	procs := make([]*Process, 0, len(r.running))
	for p := range r.running {
		procs = append(procs, p)
	}
	r.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
}

// Log returns what the driver processes logged so far, call by call.
func (r *Rancher) Log() string { return r.log.String() }

// Calls is the number of driver processes started.
func (r *Rancher) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// call runs fn against a fresh driver process and kills the process afterwards.
func (r *Rancher) call(ctx context.Context, method string, fn func(types.CloseableDriver) error) error {
	p, err := r.jail.Start(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	r.mu.Lock()
	r.calls++
	r.running[p] = true
	r.mu.Unlock()
	defer func() {
		p.Kill()
		r.mu.Lock()
		delete(r.running, p)
		r.mu.Unlock()
		fmt.Fprintf(&r.log, "--- %s (process %d)\n%s", method, p.cmd.Process.Pid, p.Log())
	}()
	return fn(p.Client)
}

// Start starts one driver process in the jail and waits for it as Rancher does.
func (j *Jail) Start(ctx context.Context) (*Process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &Process{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan error, 1), log: &lockedBuffer{}}
	p.cmd = j.command(port)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start driver in the jail: %w", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	if err := p.waitLikeRancher(ctx, j.opts.Schedule); err != nil {
		p.Kill()
		return nil, fmt.Errorf("%w; log:\n%s", err, p.Log())
	}
	return p, nil
}

// waitLikeRancher sleeps, then asks GetCapabilities until it answers or the retries run out.
func (p *Process) waitLikeRancher(ctx context.Context, s Schedule) error {
	sleep := func(d time.Duration) error {
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("driver exited: %v", err)
		}
	}
	if err := sleep(s.Wait); err != nil {
		return err
	}
	c, err := types.NewClient("harvesterrke", p.Addr)
	if err != nil {
		return err
	}
	p.Client = c
	for i := 0; ; i++ {
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c.GetCapabilities(attempt)
		cancel()
		if err == nil {
			return nil
		}
		if i == len(s.Retries) {
			return fmt.Errorf("error checking driver is up: %w", err)
		}
		if err := sleep(s.Retries[i]); err != nil {
			return err
		}
	}
}

// perCall is the driver as Rancher calls it.
type perCall struct{ r *Rancher }

var _ types.Driver = perCall{}

func (c perCall) GetDriverCreateOptions(ctx context.Context) (out *types.DriverFlags, err error) {
	err = c.r.call(ctx, "GetDriverCreateOptions", func(d types.CloseableDriver) (err error) { out, err = d.GetDriverCreateOptions(ctx); return })
	return
}

func (c perCall) GetDriverUpdateOptions(ctx context.Context) (out *types.DriverFlags, err error) {
	err = c.r.call(ctx, "GetDriverUpdateOptions", func(d types.CloseableDriver) (err error) { out, err = d.GetDriverUpdateOptions(ctx); return })
	return
}

func (c perCall) Create(ctx context.Context, opts *types.DriverOptions, info *types.ClusterInfo) (out *types.ClusterInfo, err error) {
	err = c.r.call(ctx, "Create", func(d types.CloseableDriver) (err error) { out, err = d.Create(ctx, opts, info); return })
	return
}

func (c perCall) Update(ctx context.Context, info *types.ClusterInfo, opts *types.DriverOptions) (out *types.ClusterInfo, err error) {
	err = c.r.call(ctx, "Update", func(d types.CloseableDriver) (err error) { out, err = d.Update(ctx, info, opts); return })
	return
}

func (c perCall) PostCheck(ctx context.Context, info *types.ClusterInfo) (out *types.ClusterInfo, err error) {
	err = c.r.call(ctx, "PostCheck", func(d types.CloseableDriver) (err error) { out, err = d.PostCheck(ctx, info); return })
	return
}

func (c perCall) Remove(ctx context.Context, info *types.ClusterInfo) error {
	return c.r.call(ctx, "Remove", func(d types.CloseableDriver) error { return d.Remove(ctx, info) })
}

func (c perCall) GetVersion(ctx context.Context, info *types.ClusterInfo) (out *types.KubernetesVersion, err error) {
	err = c.r.call(ctx, "GetVersion", func(d types.CloseableDriver) (err error) { out, err = d.GetVersion(ctx, info); return })
	return
}

func (c perCall) SetVersion(ctx context.Context, info *types.ClusterInfo, v *types.KubernetesVersion) error {
	return c.r.call(ctx, "SetVersion", func(d types.CloseableDriver) error { return d.SetVersion(ctx, info, v) })
}

func (c perCall) GetClusterSize(ctx context.Context, info *types.ClusterInfo) (out *types.NodeCount, err error) {
	err = c.r.call(ctx, "GetClusterSize", func(d types.CloseableDriver) (err error) { out, err = d.GetClusterSize(ctx, info); return })
	return
}

func (c perCall) SetClusterSize(ctx context.Context, info *types.ClusterInfo, n *types.NodeCount) error {
	return c.r.call(ctx, "SetClusterSize", func(d types.CloseableDriver) error { return d.SetClusterSize(ctx, info, n) })
}

func (c perCall) GetCapabilities(ctx context.Context) (out *types.Capabilities, err error) {
	err = c.r.call(ctx, "GetCapabilities", func(d types.CloseableDriver) (err error) { out, err = d.GetCapabilities(ctx); return })
	return
}

func (c perCall) RemoveLegacyServiceAccount(ctx context.Context, info *types.ClusterInfo) error {
	return c.r.call(ctx, "RemoveLegacyServiceAccount", func(d types.CloseableDriver) error { return d.RemoveLegacyServiceAccount(ctx, info) })
}

func (c perCall) ETCDSave(ctx context.Context, info *types.ClusterInfo, opts *types.DriverOptions, name string) error {
	return c.r.call(ctx, "ETCDSave", func(d types.CloseableDriver) error { return d.ETCDSave(ctx, info, opts, name) })
}

func (c perCall) ETCDRestore(ctx context.Context, info *types.ClusterInfo, opts *types.DriverOptions, name string) (out *types.ClusterInfo, err error) {
	err = c.r.call(ctx, "ETCDRestore", func(d types.CloseableDriver) (err error) { out, err = d.ETCDRestore(ctx, info, opts, name); return })
	return
}

func (c perCall) ETCDRemoveSnapshot(ctx context.Context, info *types.ClusterInfo, opts *types.DriverOptions, name string) error {
	return c.r.call(ctx, "ETCDRemoveSnapshot", func(d types.CloseableDriver) error { return d.ETCDRemoveSnapshot(ctx, info, opts, name) })
}

func (c perCall) GetK8SCapabilities(ctx context.Context, opts *types.DriverOptions) (out *types.K8SCapabilities, err error) {
	err = c.r.call(ctx, "GetK8SCapabilities", func(d types.CloseableDriver) (err error) { out, err = d.GetK8SCapabilities(ctx, opts); return })
	return
}
