package harvester

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels every object of a cluster carries, so Remove finds them without any state.
const (
	LabelCluster = "harvesterrke.io/cluster"
	LabelPool    = "harvesterrke.io/pool"
	// LabelCreator is Harvester's own creator label; Harvester's node driver sets it to
	// "docker-machine-driver-harvester", we set our own value so the two are told apart.
	LabelCreator = "harvesterhci.io/creator"
	CreatorValue = "harvesterrke"
)

// Harvester's label and annotation keys (harvester/harvester pkg/builder and pkg/util).
const (
	labelVMName              = "harvesterhci.io/vmName"
	annotationDescription    = "field.cattle.io/description"
	annotationVolumeClaims   = "harvesterhci.io/volumeClaimTemplates"
	annotationImageID        = "harvesterhci.io/imageId"
	annotationReservedMemory = "harvesterhci.io/reservedMemory"
	annotationRemovedPVCs    = "harvesterhci.io/removedPersistentVolumeClaims"
	cloudInitSecretSuffix    = "-cloudinit"
	rootDiskPVCSuffix        = "-disk-0"
	anchorSecretSuffix       = "-ssh"
	secretKeyUserData        = "userdata"
)

// VMName is the name of the n-th VM (n from 1) of a pool.
func VMName(prefix, pool string, n int) string {
	return fmt.Sprintf("%s-%s-%d", prefix, pool, n)
}

// CloudInitSecretName is the name of a VM's cloud-init Secret, as Harvester's node driver names it.
func CloudInitSecretName(vm string) string { return vm + cloudInitSecretSuffix }

// RootDiskPVCName is the name of the PVC Harvester creates for a VM's root disk.
func RootDiskPVCName(vm string) string { return vm + rootDiskPVCSuffix }

// AnchorSecretName is the name of a cluster's anchor Secret.
func AnchorSecretName(prefix string) string { return prefix + anchorSecretSuffix }

// nodeIndex returns n of a VM named <prefix>-<pool>-<n>.
func nodeIndex(name, pool string) (int, bool) {
	i := strings.LastIndex(name, "-")
	if i < 0 || !strings.HasSuffix(name[:i], "-"+pool) {
		return 0, false
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n < 1 || strconv.Itoa(n) != name[i+1:] {
		return 0, false
	}
	return n, true
}

// checkClusterName refuses names that are not label values; an empty one would select other
// objects labelled with an empty value.
func checkClusterName(cluster string) error {
	if errs := validation.IsValidLabelValue(cluster); cluster == "" || len(errs) > 0 {
		return fmt.Errorf("cluster name %q is not a label value", cluster)
	}
	return nil
}

// clusterSelector selects every object of a cluster.
func clusterSelector(cluster string) string {
	return labels.Set{LabelCluster: cluster}.String()
}

// clusterLabels are the labels of every object of a cluster.
func clusterLabels(cluster string) map[string]string {
	return map[string]string{LabelCluster: cluster}
}
