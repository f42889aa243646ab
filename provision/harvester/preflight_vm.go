package harvester

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Option names of the NICs and extra disks, for pre-flight problems.
const (
	optNetworks   = "networks"
	optExtraDisks = "extra-disks"
)

// preflightDevices checks the NICs' networks and the extra disks' images and storage classes, and
// records the storage classes of the disks' images in env.
func (c *Client) preflightDevices(ctx context.Context, t VMTemplate, env *Environment) []error {
	var problems []error
	seen := map[string]bool{}
	for _, n := range t.NICs {
		if n.Network.IsZero() || seen[n.Key()] {
			continue
		}
		seen[n.Key()] = true
		if _, err := c.get(ctx, gvrNetwork, n.Network); err != nil {
			problems = append(problems, fmt.Errorf("%s: NetworkAttachmentDefinition %s: %w", optNetworks, n.Network, notFoundOr(err)))
		}
	}
	largest := map[string]resource.Quantity{}
	var images []ObjectRef
	for _, d := range t.Disks {
		if d.Image.IsZero() {
			if seen["sc:"+d.StorageClass] {
				continue
			}
			seen["sc:"+d.StorageClass] = true
			if err := c.checkStorageClass(ctx, d.StorageClass); err != nil {
				problems = append(problems, err)
			}
			continue
		}
		k := d.Image.String()
		if q, ok := largest[k]; !ok {
			images = append(images, d.Image)
			largest[k] = d.Size
		} else if d.Size.Cmp(q) < 0 {
			largest[k] = d.Size // the smallest disk of an image must still hold it
		}
	}
	for _, img := range images {
		sc, err := c.checkImage(ctx, img, largest[img.String()], optExtraDisks, optExtraDisks)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if env.ImageStorageClasses == nil {
			env.ImageStorageClasses = map[string]string{}
		}
		env.ImageStorageClasses[img.String()] = sc
	}
	return problems
}

// checkStorageClass finds an empty disk's storage class. Users who may not read storage classes
// (cluster-scoped) are not stopped: Harvester reports a missing one when it makes the PVC.
func (c *Client) checkStorageClass(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, c.preflightTimeout())
	defer cancel()
	_, err := c.Core.StorageV1().StorageClasses().Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil, apierrors.IsForbidden(err):
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s: storage class %q does not exist", optExtraDisks, name)
	default:
		return fmt.Errorf("%s: get storage class %q: %w", optExtraDisks, name, err)
	}
}
