package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/registry"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

// Clusters whose images all come through a private registry: the stand-in's hosts start with
// nothing in Docker's storage, and its registry (TLS with a CA of its own, basic auth) holds RKE's
// images. The driver's private-registry-* options make RKE pull from it and each node's Docker
// trust its CA.
func TestPrivateRegistryOnStandIn(t *testing.T) {
	testenv.SkipShort(t, "takes minutes: RKE brings up real clusters")
	sim := harvestersim.Start(t, harvestersim.Options{Registry: true})
	p := driverproc.Start(t, driverproc.Binary(t))
	reg := sim.Registry
	t.Logf("stand-in with %s", reg)

	t.Run("wrong password", func(t *testing.T) {
		opts := registryOptions(sim, "k-regpw", "all=1:etcd+controlplane+worker")
		opts.StringOptions["private-registry-password"] = reg.Password + "-wrong"
		failedCreate(t, sim, p, opts, "registry "+reg.URL+" refused the pull: check private-registry-username and private-registry-password", "unauthorized")
	})

	t.Run("unknown CA", func(t *testing.T) {
		opts := registryOptions(sim, "k-regca", "all=1:etcd+controlplane+worker")
		// A real CA, but not the registry's: the stand-in's cluster CA.
		opts.StringOptions["private-registry-ca-cert"] = string(sim.CACert)
		failedCreate(t, sim, p, opts, "is not trusted by Docker: check private-registry-ca-cert", "unknown authority")
	})

	t.Run("three nodes pull every image from the registry", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		opts := registryOptions(sim, "k-reg", "cp=1:etcd+controlplane", "w=2:worker")
		info := createCluster(ctx, t, p, opts, 3)
		defer func() { removeCluster(t, sim, p, info, "k-reg") }()
		nodes := []string{"k-reg-cp-1", "k-reg-w-1", "k-reg-w-2"}
		rancherClient(ctx, t, p, info, nodes)

		pulls, err := reg.Pulls()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d manifests pulled from the registry", len(pulls))
		for _, vm := range nodes {
			images := nodeImages(ctx, t, sim, vm)
			if len(images) == 0 {
				t.Errorf("%s has no images", vm)
			}
			for _, img := range images {
				if !pulledFrom(reg, pulls, img) {
					t.Errorf("%s has image %s (digest %s), which it did not pull from %s as %s", vm, img.name, img.digest, reg.URL, reg.Username)
				}
			}
		}
	})
}

// registryOptions are simOptions with the stand-in's registry as the cluster's private registry.
func registryOptions(sim *harvestersim.Sim, name string, pools ...string) *types.DriverOptions {
	o := simOptions(sim, name, pools...)
	o.StringOptions["private-registry-url"] = sim.Registry.URL
	o.StringOptions["private-registry-username"] = sim.Registry.Username
	o.StringOptions["private-registry-password"] = sim.Registry.Password
	o.StringOptions["private-registry-ca-cert"] = string(sim.Registry.CACert)
	return o
}

// failedCreate runs a Create that must fail because the node's Docker and the registry do not
// agree, and checks that its error says so with each of want and without the password, that no
// image was served, and that Remove leaves nothing. The driver's pre-pull meets the refusal first
// and names the options to fix.
func failedCreate(t *testing.T, sim *harvestersim.Sim, p *driverproc.Rancher, opts *types.DriverOptions, want ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	name := opts.StringOptions["name"]
	before, err := sim.Registry.Pulls()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	info, err := p.Client.Create(ctx, opts, nil)
	t.Logf("create of %s failed after %s: %v", name, time.Since(start).Round(time.Millisecond), err)
	switch {
	case err == nil:
		t.Errorf("create of %s succeeded", name)
	case strings.Contains(err.Error(), opts.StringOptions["private-registry-password"]):
		t.Errorf("the error of the create of %s shows the password", name)
	}
	for _, w := range want {
		if err != nil && !strings.Contains(err.Error(), w) {
			t.Errorf("the error of the create of %s does not say %q", name, w)
		}
	}
	if after, err := sim.Registry.Pulls(); err != nil {
		t.Error(err)
	} else if len(after) != len(before) {
		t.Errorf("the registry served %d manifests to the failed create: %v", len(after)-len(before), after[len(before):])
	}
	if info != nil && info.Metadata["state"] != "" {
		if err := p.Client.Remove(context.Background(), info); err != nil {
			t.Errorf("remove %s: %v", name, err)
		}
	}
	noLeftovers(t, sim, name)
}

// nodeImage is an image in a node's Docker: "repository:tag", and the digest of the manifest it was
// pulled by ("<none>" for an image that was not pulled).
type nodeImage struct{ name, digest string }

// nodeImages lists the images in a node's Docker.
func nodeImages(ctx context.Context, t *testing.T, sim *harvestersim.Sim, vm string) []nodeImage {
	t.Helper()
	out, err := sim.Exec(ctx, "default/"+vm, "docker", "images", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}")
	if err != nil {
		t.Fatalf("list the images of %s: %v", vm, err)
	}
	var images []nodeImage
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, digest, ok := strings.Cut(line, " "); ok {
			images = append(images, nodeImage{name, digest})
		} else if line != "" {
			t.Fatalf("%s: unexpected line of docker images: %q", vm, line)
		}
	}
	return images
}

// pulledFrom reports whether img is named under the registry and the registry served its manifest
// to the registry's user. Docker asks for a tag's digest (HEAD), then gets the manifest by digest.
func pulledFrom(reg *harvestersim.Registry, pulls []registry.Pull, img nodeImage) bool {
	name, ok := strings.CutPrefix(img.name, reg.URL+"/")
	if !ok {
		return false
	}
	repo, _, ok := strings.Cut(name, ":")
	return ok && slices.Contains(pulls, registry.Pull{Repository: repo, Reference: img.digest, User: reg.Username})
}
