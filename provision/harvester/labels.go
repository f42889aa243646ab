package harvester

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels every object of a cluster carries, so Remove finds them without any state.
const (
	// LabelCluster is the cluster's name, for people and for finding a cluster's objects when its
	// state is lost; two clusters may share a name (in different Rancher installations).
	LabelCluster = "harvesterrke.io/cluster"
	// LabelClusterID is the cluster's id, made at its first Create: objects are selected by it.
	LabelClusterID = "harvesterrke.io/cluster-id"
	LabelPool      = "harvesterrke.io/pool"
	// LabelControlPlane marks the VMs (and VMIs) that run Kubernetes' API.
	LabelControlPlane = "harvesterrke.io/control-plane"
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
	secretKeyNetworkData     = "networkdata"
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

// NodeIndex returns n of a VM named <prefix>-<pool>-<n>.
func NodeIndex(name, pool string) (int, bool) {
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

// Owner is the cluster objects on Harvester belong to.
type Owner struct {
	Name string // the cluster's name (Rancher's cluster id, or the command line's name)
	ID   string // made at the first Create; tells two clusters of the same name apart
}

// NewClusterID makes a cluster id: 20 characters of base32, a valid label value.
func NewClusterID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make cluster id: %w", err)
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}

// check refuses names and ids that are not label values; an empty one would select other objects.
func (o Owner) check() error {
	if errs := validation.IsValidLabelValue(o.Name); o.Name == "" || len(errs) > 0 {
		return fmt.Errorf("cluster name %q is not a label value", o.Name)
	}
	if errs := validation.IsValidLabelValue(o.ID); o.ID == "" || len(errs) > 0 {
		return fmt.Errorf("cluster %s: id %q is not a label value", o.Name, o.ID)
	}
	return nil
}

// selector selects every object of the cluster.
func (o Owner) selector() string {
	return labels.Set{LabelClusterID: o.ID}.String()
}

// labels are the labels of every object of the cluster.
func (o Owner) labels() map[string]string {
	return map[string]string{LabelCluster: o.Name, LabelClusterID: o.ID}
}

// owns tells whether an object with these labels is the cluster's. An object carrying the name but
// no id was made by a driver before ids existed and is adopted (see AdoptLegacy).
func (o Owner) owns(l map[string]string) bool {
	return l[LabelClusterID] == o.ID || (l[LabelClusterID] == "" && l[LabelCluster] == o.Name)
}

// notOwned says whose an object is when it is not the cluster's.
func (o Owner) notOwned(what string, l map[string]string) error {
	return fmt.Errorf("%s belongs to another cluster (%s=%q, %s=%q), not to cluster %s (id %s)",
		what, LabelCluster, l[LabelCluster], LabelClusterID, l[LabelClusterID], o.Name, o.ID)
}
