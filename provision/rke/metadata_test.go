package rke

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rancher/rke/metadata"
)

func TestMetadataIsLoadedLazily(t *testing.T) {
	if metadataLoadedAtStart {
		t.Error("RKE metadata was parsed during package initialisation")
	}
}

func TestVersions(t *testing.T) {
	def := DefaultVersion()
	if metadata.RKEVersion != Version {
		t.Errorf("RKE believes it is %q, want %s", metadata.RKEVersion, Version)
	}
	// RKE v1.8.6 installs Kubernetes 1.32 by default and offers 1.30 to 1.32.
	if def != "v1.32.7-rancher1-1" {
		t.Errorf("default version = %s, want v1.32.7-rancher1-1", def)
	}
	current := CurrentVersions()
	if want := []string{"v1.30.14-rancher1-1", "v1.31.11-rancher1-1", "v1.32.7-rancher1-1"}; !slices.Equal(current, want) {
		t.Errorf("current versions = %v, want %v", current, want)
	}
	supported := SupportedVersions()
	for _, v := range append(current, def) {
		if !slices.Contains(supported, v) || !IsSupportedVersion(v) {
			t.Errorf("%s is not supported", v)
		}
	}
	if i, j := slices.Index(supported, "v1.9.7-rancher2-2"), slices.Index(supported, "v1.10.0-rancher1-1"); i < 0 || j < 0 || i > j {
		t.Errorf("supported versions not in semantic order: v1.9.7 at %d, v1.10.0 at %d", i, j)
	}
	if IsSupportedVersion("v1.32.7") || IsSupportedVersion("") {
		t.Error("a version without RKE's suffix is accepted")
	}
}

func TestDockerVersions(t *testing.T) {
	tests := []struct {
		k8s       string
		contains  string
		wantEmpty bool
	}{
		{"v1.32.7-rancher1-1", "28.1.x", false},
		{"v1.30.14-rancher1-1", "27.5.x", false},
		{"v9.9.9-rancher1-1", "", true},
		{"nonsense", "", true},
	}
	for _, tt := range tests {
		got := DockerVersions(tt.k8s)
		if tt.wantEmpty != (len(got) == 0) || (tt.contains != "" && !slices.Contains(got, tt.contains)) {
			t.Errorf("DockerVersions(%s) = %v, want it to contain %q", tt.k8s, got, tt.contains)
		}
	}
}

// RANCHER_METADATA_URL must not change which system images a cluster gets: the test runs itself
// again with the variable pointing at metadata that knows no Kubernetes version.
func TestMetadataIgnoresURLFromEnvironment(t *testing.T) {
	if os.Getenv("HARVESTERRKE_METADATA_CHILD") == "1" {
		if len(SupportedVersions()) == 0 || !IsSupportedVersion(DefaultVersion()) {
			t.Fatal("metadata came from RANCHER_METADATA_URL")
		}
		return
	}
	bogus := filepath.Join(t.TempDir(), "data.json")
	if err := os.WriteFile(bogus, []byte(`{"K8sVersionRKESystemImages": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestMetadataIgnoresURLFromEnvironment$", "-test.count", "1")
	cmd.Env = append(os.Environ(), "HARVESTERRKE_METADATA_CHILD=1", "RANCHER_METADATA_URL="+bogus)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("with RANCHER_METADATA_URL set: %v\n%s", err, out)
	}
}
