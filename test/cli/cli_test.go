// Package cli_test drives the driver binary's command line against the local Harvester stand-in,
// as an operator would from a terminal or CI.
package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// cluster is what the tests read of `inspect -o json`.
type cluster struct {
	Name      string
	Status    string
	LastError string
	Endpoint  string
	Nodes     []struct{ Name, Pool, Address, Phase string }
}

// cliEnv runs the binary with a private state directory and the stand-in's access in HARVESTER_*
// variables, as the seed docker-machine driver reads them.
type cliEnv struct {
	t   *testing.T
	bin string
	env []string
}

func newCLIEnv(t *testing.T, sim *harvestersim.Sim) *cliEnv {
	home := t.TempDir()
	return &cliEnv{t: t, bin: driverproc.Binary(t), env: append(os.Environ(),
		"KONTAINER_HOME="+home,
		"HARVESTER_KUBECONFIG_CONTENT="+string(sim.Kubeconfig),
		"HARVESTER_IMAGE="+sim.Images[0],
		// Small VMs; Kubernetes settings that need no images beyond RKE's core ones.
		"HARVESTER_CPUS=1", "HARVESTER_MEMORY=1Gi", "HARVESTER_DISK_SIZE=10Gi",
		"HARVESTER_DOCKER_INSTALL_METHOD=none", "HARVESTER_NETWORK_PLUGIN=none", "HARVESTER_INGRESS_PROVIDER=none",
		"HARVESTER_DNS_PROVIDER=none", "HARVESTER_MONITORING_PROVIDER=none",
		"HARVESTER_VM_READY_TIMEOUT=120", "HARVESTER_SSH_READY_TIMEOUT=120",
	)}
}

func (e *cliEnv) home() string {
	for _, kv := range e.env {
		if v, ok := strings.CutPrefix(kv, "KONTAINER_HOME="); ok {
			return v
		}
	}
	return ""
}

func (e *cliEnv) command(args ...string) *exec.Cmd {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.env
	return cmd
}

// run runs the binary and returns its exit code and outputs; secrets must never show in them.
func (e *cliEnv) run(args ...string) (int, string, string) {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := e.command(args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	if strings.Contains(stdout.String()+stderr.String(), "PRIVATE KEY") || strings.Contains(stderr.String(), "client-key-data") {
		e.t.Errorf("%v printed a secret", args)
	}
	return code, stdout.String(), stderr.String()
}

func (e *cliEnv) inspect(name string) cluster {
	e.t.Helper()
	code, out, errOut := e.run("inspect", name, "-o", "json")
	if code != 0 {
		e.t.Fatalf("inspect: %d %s", code, errOut)
	}
	var c cluster
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// expectRunning checks that a create or an update ended with Kubernetes up on every node: exit 0,
// status Running, every node in phase kubernetes with an address.
func (e *cliEnv) expectRunning(name, what string, code int, stderr string, nodes int) cluster {
	e.t.Helper()
	c := e.inspect(name)
	if code != 0 || c.Status != "Running" || len(c.Nodes) != nodes {
		e.t.Fatalf("%s: exit %d, status %s, %d nodes (want %d)\n%s", what, code, c.Status, len(c.Nodes), nodes, stderr)
	}
	for _, n := range c.Nodes {
		if n.Phase != "kubernetes" || n.Address == "" {
			e.t.Errorf("%s: node %+v, want phase kubernetes with an address", what, n)
		}
	}
	return c
}

// clusterNodes lists the cluster's nodes with the kubeconfig the CLI hands out.
func (e *cliEnv) clusterNodes(name string) []string {
	e.t.Helper()
	kubeconfig := filepath.Join(e.t.TempDir(), "kubeconfig")
	if code, _, stderr := e.run("kubeconfig", name, "-o", kubeconfig); code != 0 {
		e.t.Fatalf("kubeconfig: exit %d\n%s", code, stderr)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		e.t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	list, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatalf("list the cluster's nodes: %v", err)
	}
	var names []string
	for _, n := range list.Items {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	return names
}

func noLeftovers(t *testing.T, sim *harvestersim.Sim, e *cliEnv, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := sim.WaitNoLeftovers(ctx, "harvesterrke.io/cluster="+name); err != nil {
		left, _ := sim.Leftovers(context.Background(), "harvesterrke.io/cluster="+name)
		t.Errorf("leftovers of %s: %v: %v", name, err, left)
	}
	if _, err := os.Stat(filepath.Join(e.home(), "clusters", name)); !os.IsNotExist(err) {
		t.Errorf("the state of %s is still there: %v", name, err)
	}
}

func TestCLIOnStandIn(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{RKEImages: true})
	e := newCLIEnv(t, sim)
	t.Run("lifecycle", func(t *testing.T) { testLifecycle(t, sim, e) })
	t.Run("resume after kill", func(t *testing.T) { testResumeAfterKill(t, sim, e) })
}

// create -> inspect -> ssh -> set-cluster-size -> rm leaves no objects and no state.
func testLifecycle(t *testing.T, sim *harvestersim.Sim, e *cliEnv) {
	e.t = t
	start := time.Now()
	code, _, stderr := e.run("create", "c-cli")
	t.Logf("create of 3 nodes: %s", time.Since(start).Round(time.Millisecond))
	e.expectRunning("c-cli", "create", code, stderr, 3)
	for _, want := range []string{"c-cli-worker-1 (worker): SSH", "c-cli-worker-1 (worker): Docker", "[harvesterrke] waiting for SSH on 3 nodes"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, stderr)
		}
	}

	// SSH with the cluster's key and the node's derived host key; the remote exit status passes.
	code, out, stderr := e.run("ssh", "c-cli", "worker-1", "sudo", "docker", "info", "--format", "'{{.ServerVersion}}'")
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Errorf("ssh docker info: exit %d, %q\n%s", code, out, stderr)
	}
	if code, _, stderr := e.run("ssh", "c-cli", "etcd-1", "exit 3"); code != 3 {
		t.Errorf("ssh exit 3: exit %d\n%s", code, stderr)
	}
	cmd := e.command("ssh", "c-cli", "control-plane-1")
	cmd.Stdin = strings.NewReader("hostname\n")
	if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != "c-cli-control-plane-1" {
		t.Errorf("ssh shell reading stdin: %q %v", out, err)
	}
	if code, out, _ := e.run("ip", "c-cli", "worker-1"); code != 0 || strings.Count(out, ".") != 3 {
		t.Errorf("ip: %d %q", code, out)
	}

	start = time.Now()
	code, _, stderr = e.run("set-cluster-size", "c-cli", "4")
	t.Logf("set-cluster-size 4: %s", time.Since(start).Round(time.Millisecond))
	c := e.expectRunning("c-cli", "set-cluster-size", code, stderr, 4)
	if c.Nodes[3].Name != "c-cli-worker-2" {
		t.Errorf("the new node is %+v, want c-cli-worker-2", c.Nodes[3])
	}
	want := []string{"c-cli-control-plane-1", "c-cli-etcd-1", "c-cli-worker-1", "c-cli-worker-2"}
	if got := e.clusterNodes("c-cli"); !slices.Equal(got, want) {
		t.Errorf("the cluster's nodes: %v, want %v", got, want)
	}

	start = time.Now()
	if code, _, stderr := e.run("rm", "c-cli"); code != 0 {
		t.Fatalf("rm: %d\n%s", code, stderr)
	}
	t.Logf("rm: %s", time.Since(start).Round(time.Millisecond))
	noLeftovers(t, sim, e, "c-cli")
	if code, _, stderr := e.run("inspect", "c-cli"); code != 1 || !strings.Contains(stderr, "cluster c-cli not found") {
		t.Errorf("inspect after rm: %d %s", code, stderr)
	}
}

// A create killed while it waits for the nodes is resumed by create with the same name: the same
// VMs and keys, no duplicates.
func testResumeAfterKill(t *testing.T, sim *harvestersim.Sim, e *cliEnv) {
	e.t = t
	cmd := e.command("create", "c-kill")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Kill once the state file records the VMs with their addresses.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if code, out, _ := e.run("ip", "c-kill"); code == 0 && strings.Count(out, ".") == 9 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("create ended before it could be killed: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the addresses never reached the state file")
		}
	}
	cmd.Process.Kill()
	<-done
	before := e.inspect("c-kill")
	if before.Status != "Creating" || len(before.Nodes) != 3 {
		t.Fatalf("after the kill: %+v", before)
	}

	code, _, stderr := e.run("create", "c-kill")
	if !strings.Contains(stderr, "Resuming the create of cluster c-kill") {
		t.Errorf("create did not resume:\n%s", stderr)
	}
	after := e.expectRunning("c-kill", "resumed create", code, stderr, 3)
	for i := range after.Nodes {
		if after.Nodes[i].Name != before.Nodes[i].Name || after.Nodes[i].Address != before.Nodes[i].Address {
			t.Errorf("node %d changed: %+v -> %+v", i, before.Nodes[i], after.Nodes[i])
		}
	}
	if code, _, stderr := e.run("rm", "c-kill"); code != 0 {
		t.Fatalf("rm: %d\n%s", code, stderr)
	}
	noLeftovers(t, sim, e, "c-kill")
}
