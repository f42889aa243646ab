package controlplane

import (
	"os/exec"
	"strings"
	"testing"
)

// TestKubeVirtAPIVersion: the CRDs are generated from the kubevirt.io/api the driver compiles against
// (go.mod's), so the stand-in rejects what a real KubeVirt of that version would.
func TestKubeVirtAPIVersion(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", kubevirtAPIModule).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", kubevirtAPIModule, err)
	}
	if got := strings.TrimSpace(string(out)); got != kubevirtAPIVersion {
		t.Errorf("go.mod requires %s %s, the CRDs are generated from %s", kubevirtAPIModule, got, kubevirtAPIVersion)
	}
}
