package rke

import (
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
