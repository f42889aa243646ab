package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

// TestLifecycle: create, look at it every way, change it every way, remove it.
func TestLifecycle(t *testing.T) {
	h := newHarness(t)
	_, _, progress := h.run("create", "demo", "--worker-count", "2")
	for _, want := range []string{"Creating cluster demo: 4 nodes", "demo-worker-2 (worker): SSH", "[harvesterrke] step docker", "Cluster demo is up"} {
		if !strings.Contains(progress, want) {
			t.Errorf("progress lacks %q:\n%s", want, progress)
		}
	}

	// The record: kontainer-engine's layout and field names, private modes.
	for path, mode := range map[string]os.FileMode{h.clusterDir("demo"): 0o700 | os.ModeDir, filepath.Join(h.clusterDir("demo"), "config.json"): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != mode {
			t.Errorf("%s: %v %v, want mode %v", path, fi.Mode(), err, mode)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(h.clusterDir("demo"), "config.json"))
	var fields map[string]interface{}
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"driverName", "name", "status", "version", "endpoint", "rootCACert", "clientCertificate", "clientKey", "nodeCount", "metadata", "driverOptions"} {
		if fields[k] == nil {
			t.Errorf("config.json has no %s", k)
		}
	}
	if fields["driverName"] != "harvesterrke" || fields["status"] != "Running" {
		t.Errorf("config.json: driver %v, status %v", fields["driverName"], fields["status"])
	}

	v := h.inspect("demo")
	if v.Status != statusRunning || v.Endpoint != "https://10.0.0.10:6443" || v.Version != "v1.32.7" || len(v.Nodes) != 4 {
		t.Fatalf("inspect: %+v", v)
	}
	for _, n := range v.Nodes {
		if n.Phase != "kubernetes" || n.Address == "" || n.Pool == "" {
			t.Errorf("node %+v", n)
		}
	}
	if v.Options["token"] != "(secret)" || v.Harvester != "https://harvester.test:6443" || v.Image != "default/debian-12" {
		t.Errorf("inspect: options %v, harvester %q, image %q", v.Options, v.Harvester, v.Image)
	}
	text := h.ok("inspect", "demo")
	for _, want := range []string{"Status:", "Running", "demo-worker-2", "worker=2:worker", "host keys derived"} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect lacks %q:\n%s", want, text)
		}
	}
	var list []clusterView
	if err := json.Unmarshal([]byte(h.ok("ls", "--output", "json")), &list); err != nil || len(list) != 1 || list[0].Name != "demo" {
		t.Errorf("ls -o json: %v %+v", err, list)
	}
	if out := h.ok("ls"); !strings.Contains(out, "4 (4 at Kubernetes)") {
		t.Errorf("ls:\n%s", out)
	}

	if out := h.ok("kubeconfig", "demo"); out != testKubeconfig {
		t.Errorf("kubeconfig printed %q", out)
	}
	kc := filepath.Join(t.TempDir(), "kc")
	os.WriteFile(kc, []byte("old"), 0o644)
	h.ok("kubeconfig", "demo", "-o", kc)
	if fi, err := os.Stat(kc); err != nil || fi.Mode() != 0o600 {
		t.Errorf("kubeconfig -o: %v %v", fi.Mode(), err)
	}
	if got := h.ok("ip", "demo", "worker-2"); got != "10.0.0.13\n" {
		t.Errorf("ip demo worker-2 = %q", got)
	}
	if got := h.ok("ip", "demo"); strings.Count(got, "\n") != 4 || !strings.Contains(got, "demo-etcd-1 10.0.0.10") {
		t.Errorf("ip demo = %q", got)
	}
	if code, _, errOut := h.run("ip", "demo", "worker-9"); code != 1 || !strings.Contains(errOut, "its nodes: demo-control-plane-1, demo-etcd-1") {
		t.Errorf("ip of a missing node: %d %q", code, errOut)
	}
	if got := h.ok("get-version", "demo"); got != "v1.32.7\n" {
		t.Errorf("get-version = %q", got)
	}
	if got := h.ok("get-cluster-size", "demo"); got != "4\n" {
		t.Errorf("get-cluster-size = %q", got)
	}
	if code, _, errOut := h.run("create", "demo"); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("second create: %d %q", code, errOut)
	}

	// set-cluster-size changes the stored options too, so a later update keeps the size.
	h.ok("set-cluster-size", "demo", "5")
	if n := len(h.inspect("demo").Nodes); n != 5 {
		t.Fatalf("after set-cluster-size 5: %d nodes", n)
	}
	if got := h.record("demo").DriverOptions.IntOptions["worker-count"]; got != 3 {
		t.Errorf("stored worker-count after set-cluster-size = %d, want 3", got)
	}
	h.ok("update", "demo", "--ingress-provider", "none")
	if v := h.inspect("demo"); len(v.Nodes) != 5 || v.Options["ingress-provider"] != "none" {
		t.Errorf("after update: %d nodes, options %v", len(v.Nodes), v.Options)
	}
	h.ok("update", "demo", "--worker-count", "1")
	if n := len(h.inspect("demo").Nodes); n != 3 {
		t.Errorf("after update --worker-count 1: %d nodes", n)
	}
	h.ok("set-version", "demo", "v1.31.11-rancher1-1")
	if got := h.record("demo").DriverOptions.StringOptions["kubernetes-version"]; got != "v1.31.11-rancher1-1" {
		t.Errorf("stored version after set-version = %q", got)
	}

	for _, action := range []string{"save", "restore", "rm"} {
		h.ok("snapshot", action, "demo", "nightly")
	}
	calls := strings.Join(h.fake.calls, ",")
	if !strings.Contains(calls, "snapshot-save nightly,snapshot-restore nightly,snapshot-rm nightly") {
		t.Errorf("provisioner calls: %s", calls)
	}

	h.ok("rm", "demo")
	if _, err := os.Stat(h.clusterDir("demo")); !os.IsNotExist(err) {
		t.Errorf("rm left %s: %v", h.clusterDir("demo"), err)
	}
	if last := h.fake.started[len(h.fake.started)-1]; len(last.Nodes) != 3 {
		t.Errorf("Remove got %d nodes, want 3", len(last.Nodes))
	}
}

// A create that fails part way keeps everything it learned; create again resumes from it.
func TestCreateFailsThenResumes(t *testing.T) {
	h := newHarness(t)
	h.fake.failAt = provision.PhaseKubernetes
	code, _, errOut := h.run("create", "demo")
	if code != exitError || !strings.Contains(errOut, "failed to pull image") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	for _, want := range []string{"create stopped at the Kubernetes step", "3 at Docker", "create demo' again to resume it"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("summary lacks %q:\n%s", want, errOut)
		}
	}
	v := h.inspect("demo")
	if v.Status != statusError || !strings.Contains(v.LastError, "failed to pull image") || len(v.Nodes) != 3 || v.Nodes[0].Phase != "docker" {
		t.Fatalf("after the failed create: %+v", v)
	}
	if code, _, errOut := h.run("kubeconfig", "demo"); code != 1 || !strings.Contains(errOut, "no kubeconfig yet") {
		t.Errorf("kubeconfig before Kubernetes: %d %q", code, errOut)
	}
	// A change carries on the unfinished create; failing, it leaves the cluster to create.
	code, _, errOut = h.run("set-cluster-size", "demo", "4")
	if v := h.inspect("demo"); code != 1 || v.Status != statusError || len(v.Nodes) != 4 || !strings.Contains(errOut, "set-cluster-size stopped at the Kubernetes step") {
		t.Errorf("set-cluster-size on the unfinished cluster: exit %d, %+v\n%s", code, v, errOut)
	}

	// The image option comes from the stored options: the environment no longer has it.
	delete(h.env, "HARVESTER_IMAGE")
	h.fake.failAt = ""
	h.ok("create", "demo")
	if st := h.fake.started[len(h.fake.started)-1]; len(st.Nodes) != 4 || st.Nodes[0].Phase != provision.PhaseDocker {
		t.Errorf("the resumed create started from %+v, want the 4 nodes at docker", st.Nodes)
	}
	// The failed set-cluster-size changed nothing stored: the create converges to 3 nodes.
	if v := h.inspect("demo"); v.Status != statusRunning || v.LastError != "" || len(v.Nodes) != 3 || v.Version == "" {
		t.Errorf("after resuming: %+v", v)
	}
}

// A change that finishes an unfinished create leaves the cluster as create would: PostCheck done.
func TestChangeFinishesCreate(t *testing.T) {
	h := newHarness(t)
	h.fake.failAt = provision.PhaseKubernetes
	h.run("create", "demo")
	h.fake.failAt = ""
	h.ok("set-cluster-size", "demo", "4")
	if v := h.inspect("demo"); v.Status != statusRunning || len(v.Nodes) != 4 || v.Version != "v1.32.7" || v.Nodes[3].Phase != "kubernetes" {
		t.Errorf("after set-cluster-size finished the create: %+v", v)
	}

	// Without any driver state there is nothing to change yet.
	if err := (store{dir: h.home}).put(&record{Name: "empty", Status: statusCreating}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"update", "empty"}, {"set-cluster-size", "empty", "4"}, {"snapshot", "save", "empty", "s"}} {
		if code, _, errOut := h.run(args...); code != 1 || !strings.Contains(errOut, "has no state yet (status Creating): create empty resumes it") {
			t.Errorf("%v: %d %q", args, code, errOut)
		}
	}
}

func TestRemoveFailure(t *testing.T) {
	h := newHarness(t)
	h.ok("create", "demo")
	h.fake.removed = os.ErrDeadlineExceeded
	if code, _, errOut := h.run("rm", "demo"); code != 1 || !strings.Contains(errOut, "rm -f") {
		t.Errorf("rm with a failing driver: %d %q", code, errOut)
	}
	if v := h.inspect("demo"); v.Status != statusRemoving || v.LastError == "" {
		t.Errorf("after a failed rm: %+v", v)
	}
	if code, _, errOut := h.run("create", "demo"); code != 1 || !strings.Contains(errOut, "being removed") {
		t.Errorf("create while removing: %d %q", code, errOut)
	}
	_, _, errOut := h.run("rm", "-f", "demo")
	if !strings.Contains(errOut, "check Harvester for objects labelled harvesterrke.io/cluster=demo") {
		t.Errorf("rm -f did not warn:\n%s", errOut)
	}
	if _, err := os.Stat(h.clusterDir("demo")); !os.IsNotExist(err) {
		t.Errorf("rm -f left the state: %v", err)
	}
}

// A state that cannot be read does not strand the cluster: rm finds its objects by label from the
// stored options.
func TestRemoveWithCorruptState(t *testing.T) {
	h := newHarness(t)
	h.ok("create", "demo")
	rec := h.record("demo")
	rec.Metadata["state"] = "not a state"
	if err := (store{dir: h.home}).put(rec); err != nil {
		t.Fatal(err)
	}
	h.ok("rm", "demo")
	if last := h.fake.calls[len(h.fake.calls)-1]; last != "remove" {
		t.Errorf("last driver call %q, want remove", last)
	}
	if _, err := os.Stat(h.clusterDir("demo")); !os.IsNotExist(err) {
		t.Errorf("rm left the state: %v", err)
	}
}

// Options come from flags over HARVESTER_* variables over the defaults; string slices repeat.
func TestOptionSources(t *testing.T) {
	h := newHarness(t)
	h.env["HARVESTER_CPUS"] = "8"
	h.env["HARVESTER_MEMORY"] = "8Gi"
	h.env["HARVESTER_VM_LABELS"] = "team=a,tier=b"
	h.ok("create", "demo", "--memory", "16Gi", "--node-pools", "all=1:etcd+controlplane+worker",
		"--node-pools", "more=2:worker", "--engine-options", `default-ulimits={"nofile":{"Name":"nofile","Hard":64000,"Soft":64000}}`)
	opts := h.record("demo").DriverOptions
	if opts.IntOptions["cpus"] != 8 || opts.StringOptions["memory"] != "16Gi" || opts.StringOptions["name"] != "demo" {
		t.Errorf("options: %+v", opts)
	}
	if got := opts.StringSliceOptions["vm-labels"].Value; strings.Join(got, "|") != "team=a|tier=b" {
		t.Errorf("vm-labels from the environment = %q", got)
	}
	if got := opts.StringSliceOptions["engine-options"].Value; len(got) != 1 || !strings.Contains(got[0], `"Soft":64000}`) {
		t.Errorf("engine-options = %q", got)
	}
	v := h.inspect("demo")
	if len(v.Pools) != 2 || len(v.Nodes) != 3 || v.CPUs != 8 || v.Memory != "16Gi" {
		t.Errorf("inspect: %+v", v)
	}
	// With node-pools, the stored pools follow set-cluster-size.
	h.ok("set-cluster-size", "demo", "5")
	if got := h.record("demo").DriverOptions.StringSliceOptions["node-pools"].Value; strings.Join(got, " ") != "all=1:etcd+controlplane+worker more=4:worker" {
		t.Errorf("node-pools after set-cluster-size = %q", got)
	}

	h.env["HARVESTER_CPUS"] = "two"
	if code, _, errOut := h.run("create", "other"); code != exitUsage || !strings.Contains(errOut, "HARVESTER_CPUS: want a whole number") {
		t.Errorf("bad environment: %d %q", code, errOut)
	}
}
