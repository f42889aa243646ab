// Package addons renders the Harvester cloud provider (CCM, with kube-vip announcing LoadBalancer
// service addresses) and the Harvester CSI driver as plain Kubernetes manifests, which the driver
// applies through the built cluster's API once RKE has brought it up.
//
// These are not helm charts because RKE1 has no helm controller and the driver runs no helm: the
// objects here are written in Go to match what the pinned charts (ChartCloudProvider with its kube-vip
// subchart ChartKubeVip, ChartCSIDriver) render with the values an RKE1 cluster needs: the cloud-config
// that RKE itself writes to /etc/kubernetes/cloud-config on every node, RKE1's node-role taints and
// labels, and no snapshot support (RKE1 ships no snapshot CRDs). Bumping a chart means re-reading it
// and updating these objects, the image defaults and the golden file.
package addons

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// The pinned charts the manifests reproduce.
const (
	ChartCloudProvider = "0.2.15"
	// ChartKubeVip is the kube-vip subchart bundled with ChartCloudProvider.
	ChartKubeVip   = "0.11.0"
	ChartCSIDriver = "0.1.31"
)

// Images are the container images the addons run. An empty field means the DefaultImages one.
type Images struct {
	CloudProvider       string
	KubeVip             string
	CSIDriver           string
	NodeDriverRegistrar string
	Resizer             string
	Provisioner         string
	Attacher            string
}

// DefaultImages are the images the pinned charts deploy. The CSI chart's csi-snapshotter has no
// field: the render drops that container (see csiControllers).
var DefaultImages = Images{
	CloudProvider:       "rancher/harvester-cloud-provider:v0.2.8",
	KubeVip:             "rancher/mirrored-kube-vip-kube-vip-iptables:v1.2.3",
	CSIDriver:           "rancher/harvester-csi-driver:v0.2.9",
	NodeDriverRegistrar: "rancher/mirrored-longhornio-csi-node-driver-registrar:v2.16.0-20260428",
	Resizer:             "rancher/mirrored-longhornio-csi-resizer:v2.1.0-20260428",
	Provisioner:         "rancher/mirrored-longhornio-csi-provisioner:v5.3.0-20260428",
	Attacher:            "rancher/mirrored-longhornio-csi-attacher:v4.11.0-20260428",
}

// Components name the images for people (options, saved state), in the order of Images' fields.
var Components = []string{"cloud-provider", "kube-vip", "csi-driver", "csi-node-driver-registrar", "csi-resizer", "csi-provisioner", "csi-attacher"}

// Component is the image of the named component; nil for an unknown name.
func (i *Images) Component(name string) *string {
	for k, c := range Components {
		if c == name {
			return i.fields()[k]
		}
	}
	return nil
}

// ByComponent lists the images that are set, by component name.
func (i Images) ByComponent() map[string]string {
	out := map[string]string{}
	for k, f := range i.fields() {
		if *f != "" {
			out[Components[k]] = *f
		}
	}
	return out
}

func (i *Images) fields() []*string {
	return []*string{&i.CloudProvider, &i.KubeVip, &i.CSIDriver, &i.NodeDriverRegistrar, &i.Resizer,
		&i.Provisioner, &i.Attacher}
}

// Params say what differs between clusters.
type Params struct {
	// ClusterName is the CCM's --cluster-name. The Harvester LoadBalancers the CCM creates for the
	// guest's LoadBalancer Services carry the label cloudprovider.harvesterhci.io/cluster=<ClusterName>,
	// and Harvester reclaims them with the VMs labelled guestcluster.harvesterhci.io/name=<ClusterName>:
	// use the same value there. It must be a label value; "kubernetes" is refused, as the CCM takes it
	// for "not set".
	ClusterName string
	// Images override DefaultImages field by field.
	Images Images
	// RegistryPrefix, when set, is put with a "/" in front of every image that names no registry host,
	// as RKE does with its system images when a private registry is the default one
	// (PrivateRegistry.IsDefault): pass that registry's URL, e.g. "registry.example.com:5000". An image
	// names a registry host when the part before its first "/" contains "." or ":", is "localhost" or
	// has upper-case letters (Docker's rule); such images are left alone. The kubelet pulls with the
	// credentials RKE writes for all private registries to /var/lib/kubelet/config.json.
	RegistryPrefix string
	// VolumeNamePrefix is csi-provisioner's --volume-name-prefix: the guest PVs, and the PVCs the CSI
	// driver creates for them on Harvester, are named <VolumeNamePrefix>-<guest PVC UID>, so that the
	// cluster's volumes can be found on Harvester at removal. Required: a DNS label of at most
	// MaxVolumeNamePrefix characters, and unique among the clusters of a Harvester namespace (the
	// provisioner's default "pvc" would identify nothing).
	VolumeNamePrefix string
}

// MaxVolumeNamePrefix keeps <prefix>-<36-character UUID> within 63 characters, a DNS label like the
// provisioner's default pvc-<UUID> names, which is what Harvester-side consumers of the names (the VM
// volumes and disks the PVCs are hot-plugged as) are used to.
const MaxVolumeNamePrefix = 63 - 1 - 36

// Render returns the addons' objects as one multi-document YAML stream, in a fixed order: RBAC before
// the workloads that use it.
func Render(p Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	img := p.images()
	var objs []any
	objs = append(objs, cloudProviderObjects(p.ClusterName, img.CloudProvider)...)
	objs = append(objs, kubeVipObjects(img.KubeVip)...)
	objs = append(objs, csiObjects(p.VolumeNamePrefix, img)...)
	var b strings.Builder
	for _, o := range objs {
		doc, err := toYAML(o)
		if err != nil {
			return "", err
		}
		b.WriteString("---\n")
		b.Write(doc)
	}
	return b.String(), nil
}

// ImageList returns every image the addons of p pull, each once, in a fixed order. It does not
// validate p; Render does.
func ImageList(p Params) []string {
	img := p.images()
	var list []string
	seen := map[string]bool{}
	for _, f := range img.fields() {
		if !seen[*f] {
			seen[*f] = true
			list = append(list, *f)
		}
	}
	return list
}

// images applies the defaults and the registry prefix.
func (p Params) images() Images {
	img := p.Images
	def := DefaultImages
	defaults := def.fields()
	for k, f := range img.fields() {
		if *f == "" {
			*f = *defaults[k]
		}
		if p.RegistryPrefix != "" && !hasRegistryHost(*f) {
			*f = p.RegistryPrefix + "/" + *f
		}
	}
	return img
}

// hasRegistryHost tells, as Docker does, whether the first component of an image reference is a
// registry host rather than a path.
func hasRegistryHost(image string) bool {
	first, _, ok := strings.Cut(image, "/")
	return ok && (strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first)
}

// registryPattern is host[:port] with an optional path, as a registry appears in an image reference.
var registryPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)

func (p Params) validate() error {
	var errs []error
	switch {
	case p.ClusterName == "":
		errs = append(errs, errors.New("ClusterName is required"))
	case p.ClusterName == "kubernetes":
		errs = append(errs, errors.New(`ClusterName "kubernetes" is the CCM's default and means "not set"; use the cluster's own name`))
	default:
		if msgs := validation.IsValidLabelValue(p.ClusterName); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("ClusterName %q is not a label value: %s", p.ClusterName, strings.Join(msgs, "; ")))
		}
	}
	switch {
	case p.VolumeNamePrefix == "":
		errs = append(errs, errors.New("VolumeNamePrefix is required"))
	case len(p.VolumeNamePrefix) > MaxVolumeNamePrefix:
		errs = append(errs, fmt.Errorf("VolumeNamePrefix %q is longer than %d characters", p.VolumeNamePrefix, MaxVolumeNamePrefix))
	default:
		if msgs := validation.IsDNS1123Label(p.VolumeNamePrefix); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("VolumeNamePrefix %q is not a DNS label: %s", p.VolumeNamePrefix, strings.Join(msgs, "; ")))
		}
	}
	// Without a host-like first component the prefix would be read as a Docker Hub path.
	if p.RegistryPrefix != "" && (!registryPattern.MatchString(p.RegistryPrefix) || !hasRegistryHost(p.RegistryPrefix+"/")) {
		errs = append(errs, fmt.Errorf(`RegistryPrefix %q is not a registry host (host[:port][/path], the host with a "." or port, or localhost)`, p.RegistryPrefix))
	}
	return errors.Join(errs...)
}

// toYAML marshals a typed object without the fields only a server fills (metadata.creationTimestamp
// and status marshal as null and {} from the Go types).
func toYAML(obj any) ([]byte, error) {
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	return yaml.Marshal(dropNulls(m))
}

func dropNulls(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
			} else {
				v[k] = dropNulls(e)
			}
		}
	case []any:
		for i, e := range v {
			v[i] = dropNulls(e)
		}
	}
	return v
}
