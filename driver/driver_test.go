package driver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

// fakeProvisioner records calls and plays back scripted results.
type fakeProvisioner struct {
	createErr  error
	updateErr  error
	removeErr  error
	createdVMs int
	removed    []string
	updates    []provision.Spec
	cluster    fakeCluster
}

func (f *fakeProvisioner) Create(_ context.Context, spec provision.Spec, st *provision.State, save func(provision.State)) error {
	for i := 0; i < spec.NodeCount() && i < f.createdVMs; i++ {
		st.Nodes = append(st.Nodes, provision.Node{Name: fmt.Sprintf("n%d", i), Phase: provision.PhaseVM})
		save(*st)
	}
	if f.createErr != nil {
		return f.createErr
	}
	st.RKE.Kubeconfig = []byte(testClusterKubeconfig)
	return nil
}

func (f *fakeProvisioner) Update(_ context.Context, spec provision.Spec, st *provision.State, _ func(provision.State)) error {
	f.updates = append(f.updates, spec)
	return f.updateErr
}

func (f *fakeProvisioner) Remove(_ context.Context, spec provision.Spec, _ provision.State) error {
	f.removed = append(f.removed, spec.Name)
	return f.removeErr
}

func (f *fakeProvisioner) SnapshotSave(context.Context, provision.Spec, provision.State, string) error {
	return nil
}

func (f *fakeProvisioner) SnapshotRestore(context.Context, provision.Spec, *provision.State, string) error {
	return nil
}

func (f *fakeProvisioner) SnapshotRemove(context.Context, provision.Spec, provision.State, string) error {
	return nil
}

func (f *fakeProvisioner) Cluster(context.Context, provision.State) (provision.Cluster, error) {
	return f.cluster, nil
}

type fakeCluster struct{}

func (fakeCluster) ServiceAccountToken(context.Context) (string, error) { return "sa-token", nil }
func (fakeCluster) Version(context.Context) (string, error)             { return "v1.32.7", nil }
func (fakeCluster) NodeCount(context.Context) (int, error)              { return 3, nil }
func (fakeCluster) RemoveLegacyServiceAccount(context.Context) error    { return nil }

const testClusterKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://10.0.0.5:6443", certificate-authority-data: Q0E=}
users:
- name: admin
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
`

func TestCreateFillsInfo(t *testing.T) {
	d := New(&fakeProvisioner{createdVMs: 3})
	info, err := d.Create(context.Background(), validOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Endpoint != "https://10.0.0.5:6443" || info.NodeCount != 3 {
		t.Errorf("info = %+v", info)
	}
	if ca, _ := base64.StdEncoding.DecodeString(info.RootCaCertificate); string(ca) != "CA" {
		t.Errorf("root CA = %q", info.RootCaCertificate)
	}
	st, err := decodeState(info)
	if err != nil || st.Spec.Name != "c-abc12" || len(st.State.Nodes) != 3 {
		t.Fatalf("state: %v %+v", err, st)
	}
	out, err := d.PostCheck(context.Background(), info)
	if err != nil || out.ServiceAccountToken != "sa-token" || out.Version != "v1.32.7" {
		t.Fatalf("post-check: %v %+v", err, out)
	}
}

// A failed Create returns the partial state with the error; the next Create resumes from it.
func TestCreateFailureReturnsPartialInfo(t *testing.T) {
	p := &fakeProvisioner{createdVMs: 2, createErr: errors.New("vm c-abc12-worker-1: no address")}
	var checkpoints int
	d := New(p, WithCheckpoint(func(*types.ClusterInfo) { checkpoints++ }))
	info, err := d.Create(context.Background(), validOptions(), nil)
	if err == nil || info == nil {
		t.Fatalf("want partial info and error, got %v %v", info, err)
	}
	st, derr := decodeState(info)
	if derr != nil || len(st.State.Nodes) != 2 {
		t.Fatalf("partial state: %v %+v", derr, st.State)
	}
	if checkpoints != 3 {
		t.Errorf("checkpoints = %d, want one per step and one at the end", checkpoints)
	}

	p.createErr, p.createdVMs = nil, 0
	info, err = d.Create(context.Background(), validOptions(), info)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := decodeState(info); len(st.State.Nodes) != 2 {
		t.Errorf("resumed create lost the nodes of the first attempt: %+v", st.State.Nodes)
	}
}

// Rancher retries a failed Create with the options of the form, which may have changed since: what
// Update may not change, a resumed Create may not either, or the first attempt's VMs, disks and
// keys would be left behind in the old namespace.
func TestResumedCreateKeepsWhatCannotChange(t *testing.T) {
	p := &fakeProvisioner{createdVMs: 2, createErr: errors.New("vm c-abc12-worker-1: no address")}
	d := New(p)
	info, err := d.Create(context.Background(), validOptions(), nil)
	if err == nil || info == nil {
		t.Fatalf("want partial info and error, got %v %v", info, err)
	}
	p.createErr = nil
	for option, value := range map[string]string{"vm-namespace": "elsewhere", "image": "default/other", "network": "default/vlan2"} {
		opts := validOptions()
		opts.StringOptions[option] = value
		out, err := d.Create(context.Background(), opts, info)
		if got := problemOptions(t, errors.Unwrap(err)); !contains(got, option) {
			t.Errorf("changed %s: error %v names %v", option, err, got)
		}
		if out != info {
			t.Errorf("changed %s: the previous cluster info was not returned as it was", option)
		}
	}
	if st, _ := decodeState(info); len(st.State.Nodes) != 2 {
		t.Errorf("the refused creates lost the first attempt's nodes")
	}
}

func TestCreateRejectsBadOptionsWithoutWork(t *testing.T) {
	p := &fakeProvisioner{}
	opts := validOptions()
	opts.IntOptions["cpus"] = -1
	info, err := New(p).Create(context.Background(), opts, nil)
	if err == nil || info != nil {
		t.Fatalf("want error and no info, got %v %v", info, err)
	}
}

func TestCreateRefusesOtherClustersInfo(t *testing.T) {
	info, err := New(&fakeProvisioner{}).Create(context.Background(), validOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := validOptions()
	opts.StringOptions["name"] = "c-other"
	if _, err := New(&fakeProvisioner{}).Create(context.Background(), opts, info); err == nil || !strings.Contains(err.Error(), "belongs to cluster") {
		t.Fatalf("want refusal, got %v", err)
	}
}

func TestUpdate(t *testing.T) {
	p := &fakeProvisioner{}
	d := New(p)
	info, err := d.Create(context.Background(), validOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := validOptions()
	delete(opts.StringOptions, "kubeconfig-content") // Rancher strips password fields
	opts.IntOptions["workerCount"] = 4
	if _, err := d.Update(context.Background(), info, opts); err != nil {
		t.Fatal(err)
	}
	if len(p.updates) != 1 || p.updates[0].Pools[2].Count != 4 || len(p.updates[0].Access.Kubeconfig) == 0 {
		t.Fatalf("update spec = %+v", p.updates)
	}
	opts.StringOptions["cluster-cidr"] = "10.100.0.0/16"
	if _, err := d.Update(context.Background(), info, opts); err == nil || !strings.Contains(err.Error(), "cluster-cidr: cannot change") {
		t.Fatalf("immutable change accepted: %v", err)
	}
}

// A failed Update keeps the spec the nodes were built from, but the credentials it was given.
func TestFailedUpdateKeepsNewCredentials(t *testing.T) {
	p := &fakeProvisioner{updateErr: errors.New("SSH refused")}
	d := New(p)
	info, err := d.Create(context.Background(), validOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := validOptions()
	fresh := strings.Replace(testKubeconfig, "not-a-real-token", "a-fresh-token", 1)
	opts.StringOptions["kubeconfig-content"] = fresh
	opts.IntOptions["workerCount"] = 4
	out, err := d.Update(context.Background(), info, opts)
	if err == nil {
		t.Fatal("update succeeded")
	}
	st, err := decodeState(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(st.Spec.Access.Kubeconfig)) != strings.TrimSpace(fresh) {
		t.Errorf("stored kubeconfig is not the one the update was given")
	}
	if st.Spec.Pools[2].Count != 1 {
		t.Errorf("stored worker count %d, want the one the nodes were built with (1)", st.Spec.Pools[2].Count)
	}
}

func TestSetClusterSizeScalesWorkers(t *testing.T) {
	p := &fakeProvisioner{}
	d := New(p)
	info, err := d.Create(context.Background(), validOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetClusterSize(context.Background(), info, &types.NodeCount{Count: 5}); err != nil {
		t.Fatal(err)
	}
	if got := p.updates[0].Pools[2]; got.Name != "worker" || got.Count != 3 {
		t.Errorf("worker pool = %+v", got)
	}
	if st, _ := decodeState(info); st.Spec.Pools[2].Count != 3 {
		t.Errorf("stored spec not updated: %+v", st.Spec.Pools)
	}
}

func TestRemove(t *testing.T) {
	p := &fakeProvisioner{}
	d := New(p)
	if err := d.Remove(context.Background(), &types.ClusterInfo{}); err != nil || len(p.removed) != 0 {
		t.Fatalf("remove without state: %v %v", err, p.removed)
	}
	info, _ := d.Create(context.Background(), validOptions(), nil)
	if err := d.Remove(context.Background(), info); err != nil || len(p.removed) != 1 {
		t.Fatalf("remove: %v %v", err, p.removed)
	}
	corrupt := &types.ClusterInfo{Metadata: map[string]string{"state": "garbage"}}
	if err := d.Remove(context.Background(), corrupt); err == nil {
		t.Fatal("corrupt state accepted")
	}
	// The CLI still has the options: removal by label needs no state.
	if err := d.RemoveWithOptions(context.Background(), corrupt, validOptions()); err != nil || len(p.removed) != 2 {
		t.Fatalf("remove with options: %v %v", err, p.removed)
	}
}

// A Create that failed before creating anything leaves a state whose removal cannot fail for good:
// Rancher would otherwise retry a Remove against an unreachable Harvester.
func TestRemoveOfClusterThatCreatedNothing(t *testing.T) {
	p := &fakeProvisioner{createdVMs: 0, createErr: errors.New("pre-flight: harvester unreachable")}
	d := New(p)
	info, _ := d.Create(context.Background(), validOptions(), nil)
	p.removeErr = errors.New("harvester unreachable")
	if err := d.Remove(context.Background(), info); err != nil {
		t.Fatalf("remove: %v", err)
	}
	p.createdVMs, p.createErr = 1, errors.New("vm failed")
	info, _ = d.Create(context.Background(), validOptions(), nil)
	if err := d.Remove(context.Background(), info); err == nil {
		t.Fatal("removal error of a cluster with VMs swallowed")
	}
}

func TestCapabilitiesAndFlags(t *testing.T) {
	d := New(&fakeProvisioner{})
	caps, err := d.GetCapabilities(context.Background())
	if err != nil || caps.Capabilities == nil {
		t.Fatalf("capabilities: %v %+v", err, caps)
	}
	for c, want := range map[int64]bool{
		types.GetVersionCapability: true, types.GetClusterSizeCapability: true, types.EtcdBackupCapability: true,
		// Over gRPC these return no ClusterInfo: what they change would be lost.
		types.SetVersionCapability: false, types.SetClusterSizeCapability: false,
	} {
		if caps.Capabilities[c] != want {
			t.Errorf("capability %d advertised: %v, want %v", c, caps.Capabilities[c], want)
		}
	}
	fl, _ := d.GetDriverCreateOptions(context.Background())
	if len(fl.Options) != len(Options()) {
		t.Errorf("%d flags for %d options", len(fl.Options), len(Options()))
	}
	for name, f := range fl.Options {
		if f.Usage == "" || f.Default == nil {
			t.Errorf("%s: missing usage or default", name)
		}
		if name != camelCase(name) && fl.Options[camelCase(name)] != nil {
			t.Errorf("%s declared twice", name)
		}
	}
	for _, secret := range []string{"kubeconfig-content", "token", "client-key-data", "ssh-private-key"} {
		if !fl.Options[secret].Password {
			t.Errorf("%s is not a password field", secret)
		}
	}
	if f := fl.Options["cpus"]; f.Value != "2" || f.Default.DefaultInt != 2 {
		t.Errorf("cpus default = %q / %d", f.Value, f.Default.DefaultInt)
	}
	up, _ := d.GetDriverUpdateOptions(context.Background())
	if up.Options["worker-count"] == nil || up.Options["cluster-cidr"] != nil {
		t.Errorf("update options = %v", up.Options)
	}
}

func TestK8SCapabilities(t *testing.T) {
	d := New(&fakeProvisioner{})
	c, err := d.GetK8SCapabilities(context.Background(), validOptions())
	if err != nil || !c.NodePoolScalingSupported || len(c.IngressControllers) != 1 || !c.L4LoadBalancer.Enabled || c.L4LoadBalancer.Provider != "Harvester" {
		t.Fatalf("%v %+v", err, c)
	}
	without := validOptions()
	without.BoolOptions["harvester-cloud-provider"] = false
	if c, _ := d.GetK8SCapabilities(context.Background(), without); c.L4LoadBalancer.Enabled {
		t.Errorf("load balancers advertised without Harvester's cloud provider")
	}
	opts := validOptions()
	opts.StringOptions["ingressProvider"] = "none"
	if c, _ := d.GetK8SCapabilities(context.Background(), opts); len(c.IngressControllers) != 0 {
		t.Errorf("ingress advertised with ingress-provider none")
	}
}
