package harvester

import "testing"

func TestNodeIndex(t *testing.T) {
	for _, tc := range []struct {
		name, pool string
		want       int
		ok         bool
	}{
		{"demo-worker-1", "worker", 1, true},
		{"demo-worker-12", "worker", 12, true},
		{"my-demo-control-plane-3", "control-plane", 3, true},
		{"demo-worker-0", "worker", 0, false},
		{"demo-worker-01", "worker", 0, false},
		{"demo-worker-x", "worker", 0, false},
		{"demo-worker", "worker", 0, false},
		{"demo-cp-1", "worker", 0, false},
		{"demo-xworker-1", "worker", 0, false},
		{"worker-1", "worker", 0, false},
	} {
		n, ok := nodeIndex(tc.name, tc.pool)
		if n != tc.want || ok != tc.ok {
			t.Errorf("nodeIndex(%q, %q) = %d, %v; want %d, %v", tc.name, tc.pool, n, ok, tc.want, tc.ok)
		}
	}
}

func TestNames(t *testing.T) {
	for got, want := range map[string]string{
		VMName("demo", "worker", 3):          "demo-worker-3",
		CloudInitSecretName("demo-worker-3"): "demo-worker-3-cloudinit",
		RootDiskPVCName("demo-worker-3"):     "demo-worker-3-disk-0",
		AnchorSecretName("demo"):             "demo-ssh",
		clusterSelector("c-abc12"):           "harvesterrke.io/cluster=c-abc12",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
