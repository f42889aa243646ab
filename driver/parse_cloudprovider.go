package driver

import (
	"net/url"
	"strings"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/addons"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
)

// parseCloudProvider reads the cloud-provider options. On Update an absent harvester-cloud-provider
// keeps what the cluster has: a cluster made before the option has none, and an edit that does not
// mention it must not deploy it.
func parseCloudProvider(r *optionReader, prefix string, previous *provision.Spec) provision.CloudProvider {
	c := provision.CloudProvider{Enabled: r.boolean(optCloudProvider), APIURL: r.str(optCloudAPIURL)}
	if previous != nil && !r.givenBool(optCloudProvider) {
		c.Enabled = previous.CloudProvider.Enabled
	}
	if c.APIURL != "" {
		if u, err := url.Parse(c.APIURL); err != nil || u.Scheme != "https" || u.Host == "" {
			r.problem(optCloudAPIURL, "must be an https URL such as https://10.0.0.10:6443")
		}
	}
	for _, entry := range r.slice(optAddonImages) {
		component, image, ok := strings.Cut(entry, "=")
		field := c.Images.Component(component)
		switch {
		case !ok || image == "" || strings.ContainsAny(image, " \t"):
			r.problem(optAddonImages, "entries must be component=image, got %q", entry)
		case field == nil:
			r.problem(optAddonImages, "unknown component %q; components are %s", component, strings.Join(addons.Components, ", "))
		default:
			*field = image
		}
	}
	// The cluster's volumes on Harvester are named <vm-name-prefix>-pv-<uuid>, within 63 characters.
	if c.Enabled && len(harvester.GuestVolumePrefix(prefix)) > addons.MaxVolumeNamePrefix {
		r.problem(optPrefix, "with %s at most %d characters: the cluster's volumes on Harvester are named after it (%d given; it defaults to the cluster name)",
			optCloudProvider, addons.MaxVolumeNamePrefix-len(harvester.GuestVolumePrefix("")), len(prefix))
	}
	return c
}
