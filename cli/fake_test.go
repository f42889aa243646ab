package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rancher/rke/log"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/ssh"
)

// childEnv makes the test binary act as the driver binary (see TestMain), with a fake provisioner
// configured by the fake* variables: for --via-grpc children and for processes a test kills.
const childEnv = "HARVESTERRKE_CLI_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		f := &fakeProvisioner{failAt: provision.Phase(os.Getenv("FAKE_FAIL_AT")), blockAt: provision.Phase(os.Getenv("FAKE_BLOCK_AT"))}
		if d, err := time.ParseDuration(os.Getenv("FAKE_STEP")); err == nil {
			f.step = d
		}
		app := &App{Version: "test", Stdout: os.Stdout, Stderr: os.Stderr, Provisioner: f}
		os.Exit(app.Run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeProvisioner converges a cluster's nodes through the phases without creating anything.
type fakeProvisioner struct {
	failAt  provision.Phase // the phase whose step fails, as RKE does when it cannot pull images
	blockAt provision.Phase // the phase whose step waits until the call is cancelled
	step    time.Duration   // how long each step takes

	mu      sync.Mutex
	calls   []string
	started []provision.State // the state each Create or Update started from
	removed error             // Remove's result
}

const errPull = "[pull] failed to pull image rancher/hyperkube:v1.32.7-rancher1: no registry reachable"

func (f *fakeProvisioner) record(call string, st provision.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	f.started = append(f.started, st)
}

func (f *fakeProvisioner) Create(ctx context.Context, spec provision.Spec, st *provision.State, save func(provision.State)) error {
	f.record("create", *st)
	return f.converge(ctx, spec, st, save)
}

func (f *fakeProvisioner) Update(ctx context.Context, spec provision.Spec, st *provision.State, save func(provision.State)) error {
	f.record("update", *st)
	return f.converge(ctx, spec, st, save)
}

func (f *fakeProvisioner) converge(ctx context.Context, spec provision.Spec, st *provision.State, save func(provision.State)) error {
	if len(st.HostKeySeed) == 0 {
		seed, err := ssh.NewHostKeySeed()
		if err != nil {
			return err
		}
		key, err := ssh.GenerateClientKey("test")
		if err != nil {
			return err
		}
		st.HostKeySeed, st.ClientKey = seed, key.PrivatePEM
	}
	save(*st)
	known := map[string]provision.Node{}
	for _, n := range st.Nodes {
		known[n.Name] = n
	}
	var nodes []provision.Node
	for _, p := range spec.Pools {
		for i := 1; i <= p.Count; i++ {
			name := fmt.Sprintf("%s-%s-%d", spec.Template.NamePrefix, p.Name, i)
			n, ok := known[name]
			if !ok {
				n = provision.Node{Name: name, Pool: p.Name, Phase: provision.PhaseVM}
			}
			nodes = append(nodes, n)
		}
	}
	st.Nodes = nodes
	save(*st)
	for _, ph := range []provision.Phase{provision.PhaseAddress, provision.PhaseSSH, provision.PhaseDocker, provision.PhaseKubernetes} {
		log.Infof(ctx, "[harvesterrke] step %s", ph)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(f.step):
		}
		if ph == f.blockAt {
			<-ctx.Done()
			return fmt.Errorf("step %s: %w", ph, ctx.Err())
		}
		if ph == f.failAt {
			return fmt.Errorf("run RKE cluster up: %s", errPull)
		}
		for i := range st.Nodes {
			st.Nodes[i].Address = fmt.Sprintf("10.0.0.%d", i+10)
			if phaseIndex(st.Nodes[i].Phase) < phaseIndex(ph) {
				st.Nodes[i].Phase = ph
			}
		}
		if ph == provision.PhaseKubernetes {
			st.RKE.State, st.RKE.Kubeconfig = []byte(`{}`), []byte(testKubeconfig)
		}
		save(*st)
	}
	return nil
}

func (f *fakeProvisioner) Remove(_ context.Context, spec provision.Spec, st provision.State) error {
	f.record("remove", st)
	return f.removed
}

func (f *fakeProvisioner) SnapshotSave(_ context.Context, _ provision.Spec, st provision.State, name string) error {
	f.record("snapshot-save "+name, st)
	return nil
}

func (f *fakeProvisioner) SnapshotRestore(_ context.Context, _ provision.Spec, st *provision.State, name string) error {
	f.record("snapshot-restore "+name, *st)
	return nil
}

func (f *fakeProvisioner) SnapshotRemove(_ context.Context, _ provision.Spec, st provision.State, name string) error {
	f.record("snapshot-rm "+name, st)
	return nil
}

func (f *fakeProvisioner) Cluster(_ context.Context, st provision.State) (provision.Cluster, error) {
	if len(st.RKE.Kubeconfig) == 0 {
		return nil, errors.New("the cluster has no Kubernetes yet: create has not finished")
	}
	return fakeCluster{nodes: len(st.Nodes)}, nil
}

type fakeCluster struct{ nodes int }

func (fakeCluster) ServiceAccountToken(context.Context) (string, error) { return testToken, nil }
func (fakeCluster) Version(context.Context) (string, error)             { return "v1.32.7", nil }
func (c fakeCluster) NodeCount(context.Context) (int, error)            { return c.nodes, nil }
func (fakeCluster) RemoveLegacyServiceAccount(context.Context) error    { return nil }

// Secrets the tests look for in every output.
const (
	testToken   = "sa-token-must-not-show"
	testHvToken = "harvester-token-must-not-show"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://10.0.0.10:6443", certificate-authority-data: Q0E=}
users:
- name: admin
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
`

// harness runs the command line in process against a fake provisioner and a temporary home.
type harness struct {
	t    *testing.T
	home string
	env  map[string]string
	fake *fakeProvisioner
}

func newHarness(t *testing.T) *harness {
	home := t.TempDir()
	return &harness{t: t, home: home, fake: &fakeProvisioner{}, env: map[string]string{
		"KONTAINER_HOME":    home,
		"HARVESTER_API_URL": "https://harvester.test:6443",
		"HARVESTER_TOKEN":   testHvToken,
		"HARVESTER_IMAGE":   "default/debian-12",
	}}
}

// run runs one command; it fails the test if any output shows a secret.
func (h *harness) run(args ...string) (code int, stdout, stderr string) {
	h.t.Helper()
	var out, errOut bytes.Buffer
	app := &App{Version: "test", Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader(""),
		Getenv: func(k string) string { return h.env[k] }, Provisioner: h.fake}
	code = app.Run(args)
	for _, s := range []string{testToken, testHvToken, "PRIVATE KEY"} {
		if strings.Contains(out.String()+errOut.String(), s) && args[0] != "kubeconfig" {
			h.t.Errorf("%v printed a secret (%q)", args, s)
		}
	}
	return code, out.String(), errOut.String()
}

// ok runs a command that must succeed and returns its standard output.
func (h *harness) ok(args ...string) string {
	h.t.Helper()
	code, out, errOut := h.run(args...)
	if code != 0 {
		h.t.Fatalf("%v: exit %d\n%s", args, code, errOut)
	}
	return out
}

func (h *harness) inspect(name string) clusterView {
	h.t.Helper()
	var v clusterView
	if err := json.Unmarshal([]byte(h.ok("inspect", name, "-o", "json")), &v); err != nil {
		h.t.Fatal(err)
	}
	return v
}

func (h *harness) record(name string) *record {
	h.t.Helper()
	r, err := store{dir: h.home}.get(name)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *harness) clusterDir(name string) string { return filepath.Join(h.home, "clusters", name) }
