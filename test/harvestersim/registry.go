package harvestersim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hosts"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/registry"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/rkeimages"
)

// With Options.Registry a stand-in runs a private registry (package registry) on the machine's
// address on the hosts' switch, holding RKE's images. Its storage is cached per image set, so the
// images are pushed once per machine; each stand-in's registry has its own configuration, CA,
// credentials and log in the slot's directory, and only reads from the cached storage.

// registryPort is the port of a stand-in's registry.
const registryPort = 5443

// registryUser is the user of a stand-in's registry; the password is made at each start.
const registryUser = "harvestersim"

// Registry says how to reach a stand-in's private registry: what a cluster's private-registry-*
// options are set to.
type Registry struct {
	URL                string // host:port, as image names and Docker's certs.d spell it
	CACert             []byte // PEM of the CA that signed the registry's certificate
	Username, Password string // made at each start
	r                  *registry.Registry
}

// Pulls lists the images pulled from the registry since the stand-in started, with the user.
func (r *Registry) Pulls() ([]registry.Pull, error) { return r.r.Pulls() }

// String leaves out the password, so that logging a Registry does not reveal it.
func (r *Registry) String() string { return "registry " + r.URL + " (user " + r.Username + ")" }

func (r *Registry) close() error { return r.r.Close() }

// startRegistry starts the slot's registry with RKE's images in it, in the slot's directory.
func (s *Sim) startRegistry(ctx context.Context, set *rkeimages.Set) error {
	password, err := newPassword()
	if err != nil {
		return err
	}
	dir := filepath.Join(s.slot.Dir, "registry")
	opts := registry.Options{Addr: hosts.MachineServiceAddr(s.slot.N, registryPort), Dir: dir, Username: registryUser, Password: password}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("harvestersim: registry directory: %w", err)
	}
	if opts.Storage, err = registryStorage(ctx, opts, set, s.opts.Logf); err != nil {
		return err
	}
	r, err := registry.Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("harvestersim: %w", err)
	}
	s.Registry = &Registry{URL: r.URL(), CACert: r.CAPEM(), Username: registryUser, Password: password, r: r}
	return nil
}

// registryStorage returns the cached registry storage holding the set's images, filling it first
// when missing: a registry on opts, with the storage being built, gets the images pushed, then stops.
func registryStorage(ctx context.Context, opts registry.Options, set *rkeimages.Set, logf func(string, ...any)) (string, error) {
	root, err := diskcache.Root()
	if err != nil {
		return "", err
	}
	const prefix = "rkeimages-"
	dir := filepath.Join(root, "registry", prefix+filepath.Base(set.Dir))
	dir, err = diskcache.Dir(ctx, dir, func(ctx context.Context, tmp string) error {
		opts.Storage = tmp
		return pushImages(ctx, opts, set, logf)
	})
	if err != nil {
		return "", err
	}
	if err := diskcache.PruneSiblings(dir, prefix); err != nil {
		logf("harvestersim: remove old registry storages: %v", err)
	}
	return dir, nil
}

// pushImages runs a registry with opts just long enough to push the set's images into it.
func pushImages(ctx context.Context, opts registry.Options, set *rkeimages.Set, logf func(string, ...any)) (err error) {
	r, err := registry.Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("harvestersim: registry to push RKE's images to: %w", err)
	}
	defer func() {
		if cerr := r.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("harvestersim: stop the registry after the push: %w", cerr)
		}
	}()
	start := time.Now()
	if err := r.Push(ctx, set.Archive); err != nil {
		return fmt.Errorf("harvestersim: %w", err)
	}
	logf("harvestersim: RKE's images pushed to the registry storage in %s (once per image set)", time.Since(start).Round(time.Millisecond))
	return nil
}

// newPassword makes a password for one run of a registry.
func newPassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("harvestersim: registry password: %w", err)
	}
	return hex.EncodeToString(b), nil
}
