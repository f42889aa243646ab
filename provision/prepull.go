package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rancher/rke/log"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/docker"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

// pullConcurrency bounds a node's pulls at once: a few streams fill the node's link without
// making each image wait behind all the others.
const pullConcurrency = 3

// The driver's options a registry failure asks the user to check.
const (
	optionsRegistryCredentials = "private-registry-username and private-registry-password"
	optionRegistryCA           = "private-registry-ca-cert"
)

// prepull pulls the images RKE will need on the node with roles, through dial (its Docker API),
// and logs one line with the counts.
func prepull(ctx context.Context, spec Spec, node string, roles []string, dial docker.Dial) error {
	images, err := rke.NodeImages(spec.Kubernetes, spec.Registry.URL, roles)
	if err != nil {
		return fmt.Errorf("images for node %s: %w", node, err)
	}
	start := time.Now()
	opts := docker.PullOptions{
		Concurrency: pullConcurrency,
		Registry:    docker.Registry{URL: spec.Registry.URL, Username: spec.Registry.Username, Password: spec.Registry.Password},
	}
	res, err := docker.Pull(ctx, node, dial, images, opts)
	log.Infof(ctx, "[harvesterrke] %s: %d of %d images already present, %d pulled (%s)",
		node, res.Present, len(images), res.Pulled, time.Since(start).Round(time.Millisecond))
	if err != nil {
		return registryHint(spec.Registry, err)
	}
	return nil
}

// registryHint names the option to fix when the private registry refused the credentials or its
// certificate.
func registryHint(reg Registry, err error) error {
	if reg.URL == "" {
		return err
	}
	switch {
	case errors.Is(err, docker.ErrRegistryAuth):
		return fmt.Errorf("registry %s refused the pull: check %s: %w", reg.URL, optionsRegistryCredentials, err)
	case errors.Is(err, docker.ErrRegistryCA):
		return fmt.Errorf("the certificate of registry %s is not trusted by Docker: check %s: %w", reg.URL, optionRegistryCA, err)
	}
	return err
}
