package cli

import (
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	h := newHarness(t)
	h.ok("create", "c1")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"create"}, "create: wrong number of arguments"},
		{[]string{"create", "a", "b"}, "create: wrong number of arguments"},
		{[]string{"create", "c2", "--cpus", "many"}, `invalid value "many" for flag -cpus`},
		{[]string{"create", "c2", "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"create", "c2", "--memory", "lots", "--disk-bus", "ide"}, "2 invalid options: disk-bus"},
		{[]string{"create", "Not_A_Name"}, `cluster name "Not_A_Name" must be`},
		{[]string{"update", "c1", "--image", "default/other"}, "flag provided but not defined: -image"},
		{[]string{"inspect", "c1", "-o", "yaml"}, "--output must be text or json"},
		{[]string{"ls", "extra"}, "ls: wrong number of arguments"},
		{[]string{"ssh", "c1"}, "ssh: wrong number of arguments"},
		{[]string{"set-cluster-size", "c1", "three"}, "COUNT must be a whole number"},
		{[]string{"set-cluster-size", "c1", "4", "--via-grpc"}, "cannot run --via-grpc"},
		{[]string{"set-version", "c1", "v1.32.7-rancher1-1", "--via-grpc"}, "cannot run --via-grpc"},
		{[]string{"snapshot", "backup", "c1", "s1"}, `unknown action "backup"`},
		{[]string{"serve"}, "exactly one port"},
		{[]string{"70000"}, "port must be"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, errOut := h.run(tc.args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "Usage:") {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 with %q and usage", code, errOut, tc.want)
			}
		})
	}
	// A refused create leaves nothing behind.
	if _, err := (store{dir: h.home}).get("c2"); err == nil {
		t.Error("a create with bad options left a record")
	}
	if recs, _ := (store{dir: h.home}).list(); len(recs) != 1 {
		t.Errorf("clusters after bad creates: %d, want 1", len(recs))
	}
}

func TestMissingCluster(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{
		{"inspect", "nope"}, {"rm", "nope"}, {"update", "nope"}, {"kubeconfig", "nope"}, {"ip", "nope"},
		{"ssh", "nope", "n1", "true"}, {"get-version", "nope"}, {"set-cluster-size", "nope", "3"},
		{"snapshot", "save", "nope", "s1"},
	} {
		code, _, errOut := h.run(args...)
		if code != exitError || !strings.Contains(errOut, "cluster nope not found in "+h.home) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and a clear message", args, code, errOut)
		}
	}
	if code, out, _ := h.run("ls"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("ls of an empty home: exit %d, %q", code, out)
	}
}

func TestHelp(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"Commands:", "set-cluster-size NAME COUNT"}},
		{[]string{"create", "--help"}, []string{"--kubeconfig-content string", "env HARVESTER_KUBECONFIG_CONTENT (secret", "--node-pools value (repeatable)", `default "4Gi"`, "Harvester access:"}},
		{[]string{"update", "-h"}, []string{"--worker-count int", "--kubernetes-version"}},
		{[]string{"rm", "--help"}, []string{"--force", "--via-grpc"}},
	} {
		out := h.ok(tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
	if out := h.ok("update", "--help"); strings.Contains(out, "--image") {
		t.Error("update offers an option that cannot change")
	}
}
