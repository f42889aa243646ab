package rke

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/rancher/rke/metadata"
	"github.com/rancher/rke/util"
)

// Version is the RKE release linked into the driver; its metadata decides the Kubernetes versions.
const Version = "v1.8.6"

var (
	metadataOnce sync.Once
	metadataErr  error
)

// loadMetadata parses RKE's embedded metadata (12 MB of JSON) once, on first use: the binary
// starts for every Rancher call and most calls need no version list.
func loadMetadata() error {
	metadataOnce.Do(func() {
		// Used as a library, RKE's version is unset and it would filter the Kubernetes versions
		// as its development build v1.8.99 does.
		metadata.RKEVersion = Version
		// RKE would load its metadata, which decides every system image, from wherever this
		// variable points: a cluster's images are the ones this driver release was tested with.
		os.Unsetenv(metadata.RancherMetadataURLEnv)
		if err := metadata.InitMetadata(context.Background()); err != nil {
			metadataErr = fmt.Errorf("load RKE %s metadata: %w", Version, err)
		}
	})
	return metadataErr
}

// SupportedVersions are all Kubernetes versions RKE v1.8.6 can install or upgrade to, oldest
// first; nil if its metadata cannot be loaded.
func SupportedVersions() []string {
	if loadMetadata() != nil {
		return nil
	}
	var out []string
	for v := range metadata.K8sVersionToRKESystemImages {
		if !metadata.K8sBadVersions[v] {
			out = append(out, v)
		}
	}
	return sortVersions(out)
}

// CurrentVersions are the newest patch release of each Kubernetes minor version RKE offers for
// new clusters, oldest first.
func CurrentVersions() []string {
	if loadMetadata() != nil {
		return nil
	}
	return sortVersions(slices.Clone(metadata.K8sVersionsCurrent))
}

// IsSupportedVersion reports whether RKE can install Kubernetes version v.
func IsSupportedVersion(v string) bool {
	if loadMetadata() != nil {
		return false
	}
	_, known := metadata.K8sVersionToRKESystemImages[v]
	return known && !metadata.K8sBadVersions[v]
}

// DefaultVersion is the Kubernetes version RKE installs when none is given.
func DefaultVersion() string {
	if loadMetadata() != nil {
		return ""
	}
	return metadata.DefaultK8sVersion
}

// DockerVersions are the Docker versions RKE accepts for a Kubernetes version, as patterns such
// as "28.1.x"; nil for an unknown version.
func DockerVersions(k8sVersion string) []string {
	if loadMetadata() != nil {
		return nil
	}
	v, err := util.StrToSemVer(k8sVersion)
	if err != nil {
		return nil
	}
	return slices.Clone(metadata.K8sVersionToDockerVersions[fmt.Sprintf("%d.%d", v.Major, v.Minor)])
}

// sortVersions orders RKE version strings by semantic version; a plain string sort would put
// v1.9 after v1.10.
func sortVersions(vs []string) []string {
	slices.SortFunc(vs, func(a, b string) int {
		va, errA := util.StrToSemVer(a)
		vb, errB := util.StrToSemVer(b)
		if errA != nil || errB != nil {
			return strings.Compare(a, b)
		}
		return va.Compare(*vb)
	})
	return vs
}
