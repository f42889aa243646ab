// Package e2e drives the real driver binary through kontainer-engine's gRPC client, as Rancher does.
package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/driver"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
)

func newOptions(strs map[string]string, ints map[string]int64) *types.DriverOptions {
	return &types.DriverOptions{StringOptions: strs, IntOptions: ints, BoolOptions: map[string]bool{},
		StringSliceOptions: map[string]*types.StringSlice{}}
}

func TestContractEveryMethodAnswers(t *testing.T) {
	// Every method in its own jailed process, as Rancher calls them; the start-up wait is cut short
	// here because this test makes many calls and every other test waits Rancher's 5 s.
	p := driverproc.StartInJail(driverproc.NewJail(t, driverproc.Binary(t), driverproc.JailOptions{
		Schedule: driverproc.Schedule{Wait: 50 * time.Millisecond, Retries: driverproc.RancherSchedule.Retries}}))
	c := p.Client
	// Bounds a hang, not the speed: on a loaded machine a process that misses the short wait costs
	// a retry of Rancher's schedule (1 s, then 4 s), and this test starts sixteen.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	caps, err := c.GetCapabilities(ctx)
	if err != nil || len(caps.Capabilities) == 0 {
		t.Fatalf("GetCapabilities: %v %+v", err, caps)
	}
	create, err := c.GetDriverCreateOptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range driver.Options() {
		names = append(names, o.Name)
		f := create.Options[o.Name]
		if f == nil || f.Usage == "" || f.Type != o.Type || f.Default == nil {
			t.Errorf("option %s: flag %+v", o.Name, f)
		}
	}
	if len(create.Options) != len(names) {
		t.Errorf("create options: %d flags for %d options", len(create.Options), len(names))
	}
	update, err := c.GetDriverUpdateOptions(ctx)
	if err != nil || len(update.Options) == 0 || len(update.Options) >= len(create.Options) {
		t.Errorf("GetDriverUpdateOptions: %v (%d options)", err, len(update.Options))
	}
	k8s, err := c.GetK8SCapabilities(ctx, newOptions(map[string]string{}, nil))
	if err != nil || !k8s.NodePoolScalingSupported {
		t.Errorf("GetK8SCapabilities: %v %+v", err, k8s)
	}

	// Calls about a cluster the driver knows nothing of must fail clearly, not crash the process.
	empty := &types.ClusterInfo{}
	for name, call := range map[string]func() error{
		"Update":             func() error { _, err := c.Update(ctx, empty, newOptions(nil, nil)); return err },
		"PostCheck":          func() error { _, err := c.PostCheck(ctx, empty); return err },
		"GetVersion":         func() error { _, err := c.GetVersion(ctx, empty); return err },
		"SetVersion":         func() error { return c.SetVersion(ctx, empty, &types.KubernetesVersion{Version: "v1.32.7-rancher1-1"}) },
		"GetClusterSize":     func() error { _, err := c.GetClusterSize(ctx, empty); return err },
		"SetClusterSize":     func() error { return c.SetClusterSize(ctx, empty, &types.NodeCount{Count: 3}) },
		"ETCDSave":           func() error { return c.ETCDSave(ctx, empty, newOptions(nil, nil), "s1") },
		"ETCDRestore":        func() error { _, err := c.ETCDRestore(ctx, empty, newOptions(nil, nil), "s1"); return err },
		"ETCDRemoveSnapshot": func() error { return c.ETCDRemoveSnapshot(ctx, empty, newOptions(nil, nil), "s1") },
		"RemoveLegacySA":     func() error { return c.RemoveLegacyServiceAccount(ctx, empty) },
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), "holds no driver state") {
			t.Errorf("%s on empty cluster info: %v", name, err)
		}
	}
	// Remove of a cluster that never returned state has nothing to do.
	if err := c.Remove(ctx, empty); err != nil {
		t.Errorf("Remove: %v", err)
	}
	if _, err := c.GetCapabilities(ctx); err != nil {
		t.Fatalf("driver died: %v\n%s", err, p.Log())
	}
}

// One Create with many bad options gets one error naming each of them, in either key spelling.
func TestContractBadOptions(t *testing.T) {
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx := context.Background()
	bad := map[string]string{"name": "c-x", "image": "", "memory": "lots", "disk-bus": "ide", "network-plugin": "cilium",
		"api-url": "http://insecure", "token": "secret-token-value"}
	kebab := newOptions(bad, map[string]int64{"cpus": 0, "worker-count": -1})
	camel := newOptions(map[string]string{}, map[string]int64{})
	for k, v := range bad {
		camel.StringOptions[camel2(k)] = v
	}
	for k, v := range kebab.IntOptions {
		camel.IntOptions[camel2(k)] = v
	}
	info1, err1 := p.Client.Create(ctx, kebab, nil)
	info2, err2 := p.Client.Create(ctx, camel, nil)
	if err1 == nil || err2 == nil {
		t.Fatalf("bad options accepted: %v %v", err1, err2)
	}
	if err1.Error() != err2.Error() {
		t.Errorf("kebab and camel errors differ:\n%v\n%v", err1, err2)
	}
	for _, opt := range []string{"image", "memory", "disk-bus", "network-plugin", "api-url", "cpus", "worker-count"} {
		if !strings.Contains(err1.Error(), opt+":") {
			t.Errorf("error does not name %s: %v", opt, err1)
		}
	}
	if strings.Contains(err1.Error(), "secret-token-value") {
		t.Errorf("error leaks the token")
	}
	if info1 != nil && info1.Metadata["state"] != "" || info2 != nil && info2.Metadata["state"] != "" {
		t.Errorf("bad options produced state")
	}
}

// A Create that fails after validation returns its partial ClusterInfo: kontainer-engine moves the
// error into CreateError, Rancher stores the info and passes it to the next Create.
func TestContractPartialCreateRoundTrips(t *testing.T) {
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Nothing listens on port 1: the pre-flight check fails before any object is created.
	opts := newOptions(map[string]string{"name": "c-partial", "image": "default/img",
		"api-url": "https://127.0.0.1:1", "token": "t"}, nil)
	info, err := p.Client.Create(ctx, opts, nil)
	if err == nil || info == nil || info.CreateError == "" || info.Metadata["state"] == "" {
		t.Fatalf("want partial info with CreateError, got %+v, %v", info, err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error does not say what was unreachable: %v", err)
	}
	info.CreateError = ""
	again, err := p.Client.Create(ctx, opts, info)
	if err == nil || again.Metadata["state"] == "" {
		t.Fatalf("resumed create: %+v %v", again, err)
	}
	if err := p.Client.Remove(ctx, again); err != nil {
		t.Errorf("remove of a cluster that created nothing: %v", err)
	}
}

func TestProcessArguments(t *testing.T) {
	bin := driverproc.Binary(t)
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, 2, "Usage:"},
		{[]string{"abc"}, 2, "unknown command"},
		{[]string{"99999"}, 2, "port must be"},
		{[]string{"serve"}, 2, "exactly one port"},
		{[]string{"--version"}, 0, "harvesterrke test"},
	} {
		out, err := exec.Command(bin, tc.args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(string(out), tc.out) {
			t.Errorf("%v: exit %d, output %q; want %d and %q", tc.args, code, out, tc.code, tc.out)
		}
	}
	p, err := driverproc.StartProcess(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Log(), "listening on "+p.Addr) {
		t.Errorf("bound address not logged: %q", p.Log())
	}
	if err := p.Stop(); err != nil || p.ExitCode() != 0 {
		t.Errorf("SIGTERM: %v, exit %d", err, p.ExitCode())
	}
}

func camel2(k string) string {
	parts := strings.Split(k, "-")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

// BenchmarkStartup measures what Rancher pays on every call: process start to the first answered
// GetCapabilities.
func BenchmarkStartup(b *testing.B) {
	bin := driverproc.Binary(b)
	if fi, err := os.Stat(bin); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-binary")
	}
	for i := 0; i < b.N; i++ {
		p, err := driverproc.StartProcess(bin)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		p.Stop()
		b.StartTimer()
	}
}
