package provision

import (
	"context"

	"github.com/rancher/rke/log"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
)

// The credentials a call uses on Harvester. Create starts with the user's credential (the options)
// and makes the cluster its own identity there (a service account with exactly the rights the
// driver needs); from then on every call works with that identity, so the user's token may expire
// or be revoked. The user's credential is used where the identity is missing or revoked, and by
// Create and Update to bring the identity up to date.

// openForChange opens Harvester for Create and Update: with the cluster's identity when it has a
// working one, else with the user's credential.
func (p *Provisioner) openForChange(ctx context.Context, spec Spec, st *State, save func(State)) (*harvester.Client, error) {
	if hv := p.openIdentity(ctx, spec, st); hv != nil {
		return hv, nil
	}
	return p.harvesterClient(spec.Access)
}

// openForRemoval is openForChange for Remove.
func (p *Provisioner) openForRemoval(ctx context.Context, spec Spec, st State) (*harvester.Client, error) {
	if hv := p.openIdentity(ctx, spec, &st); hv != nil {
		return hv, nil
	}
	return p.harvesterClient(spec.Access)
}

// openIdentity returns a client with the cluster's identity, or nil when it has none or Harvester
// no longer accepts it (it was revoked or deleted).
func (p *Provisioner) openIdentity(ctx context.Context, spec Spec, st *State) *harvester.Client {
	if st.Identity.Token == "" {
		return nil
	}
	hv, err := p.harvesterClient(st.Identity)
	if err == nil {
		err = hv.CheckAccess(ctx, spec.Template.Namespace)
	}
	if err != nil {
		log.Warnf(ctx, "[harvesterrke] the cluster's own credential on Harvester does not work (%v); using the credential from the options", err)
		return nil
	}
	return hv
}

// ensureIdentity makes or updates the cluster's identity with the user's credential and returns the
// client the rest of the call uses: the identity's. Where the user's credential may not make it
// (no rights to create service accounts and roles) the call goes on with the user's credential, which
// then must stay valid for later calls; where the user's credential no longer works but the
// identity does, the identity stays as it is.
func (p *Provisioner) ensureIdentity(ctx context.Context, current *harvester.Client, spec Spec, st *State) (*harvester.Client, error) {
	user, err := p.harvesterClient(spec.Access)
	if err != nil {
		return nil, err
	}
	creds, err := user.EnsureIdentity(ctx, identityScope(spec), harvester.Owner{Name: spec.Name, ID: st.ClusterID})
	switch {
	case err == nil:
	case st.Identity.Token != "" && (apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err)):
		log.Warnf(ctx, "[harvesterrke] could not bring the cluster's identity on Harvester up to date with the credential from the options: %v", err)
		return current, nil
	case apierrors.IsForbidden(err):
		log.Warnf(ctx, "[harvesterrke] the credential from the options may not create the cluster's own identity on Harvester (%v): later calls need that credential to stay valid", err)
		return user, nil
	default:
		return nil, err
	}
	st.Identity = creds
	hv, err := p.harvesterClient(creds)
	if err == nil {
		err = hv.CheckAccess(ctx, spec.Template.Namespace)
	}
	if err != nil {
		log.Warnf(ctx, "[harvesterrke] the cluster's identity on Harvester does not work yet (%v); this call goes on with the credential from the options", err)
		return user, nil
	}
	hv.AuthOption = "the cluster's identity " + harvester.IdentityName(spec.Template.NamePrefix)
	return hv, nil
}

// identityScope is what the cluster's identity may touch.
func identityScope(spec Spec) harvester.IdentityScope {
	return harvester.IdentityScope{
		Namespace: spec.Template.Namespace,
		Prefix:    spec.Template.NamePrefix,
		Image:     spec.Template.Image,
		Network:   spec.Template.Network,
		KeyPair:   spec.Template.KeyPair,

		CloudProvider:   spec.CloudProvider.Enabled,
		APILoadBalancer: spec.APIEndpoint.Mode == EndpointLoadBalancer,
	}
}

// ensureCloudProvider makes the built cluster's cloud-provider account on Harvester with the user's
// credential (it grants Harvester's ClusterRoles, which the cluster's identity may not), then reads
// its kubeconfig with the call's client. Where the user's credential no longer works, an account
// made earlier is used as it is.
func (p *Provisioner) ensureCloudProvider(ctx context.Context, hv *harvester.Client, spec Spec, st *State) error {
	scope := identityScope(spec)
	owner := harvester.Owner{Name: spec.Name, ID: st.ClusterID}
	user, err := p.harvesterClient(spec.Access)
	if err != nil {
		return err
	}
	if err := user.EnsureCloudProvider(ctx, scope, owner); err != nil {
		if len(st.CloudConfig) == 0 || !(apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err)) {
			return err
		}
		log.Warnf(ctx, "[harvesterrke] could not check the cloud provider's account on Harvester with the credential from the options: %v", err)
	}
	cfg, err := hv.CloudConfig(ctx, scope, spec.CloudProvider.APIURL)
	if err != nil {
		return err
	}
	st.CloudConfig = cfg
	return nil
}
