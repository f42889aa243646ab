package provision

import (
	"context"
	"fmt"

	gossh "golang.org/x/crypto/ssh"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/ssh"
)

// Keys of the cluster's anchor Secret.
const (
	anchorClientKey   = "ssh-privatekey"
	anchorHostKeySeed = "host-key-seed"
)

// clusterKeys are the SSH identities of a cluster: the client key the driver logs in with and the
// seed every node's host key derives from.
type clusterKeys struct {
	clientPEM []byte
	signer    gossh.Signer
	seed      []byte
}

// ensureKeys loads the cluster's keys and id from its anchor Secret on Harvester, creating the
// Secret (from the state's keys and id if it has them, else new ones) when it does not exist yet.
func (p *Provisioner) ensureKeys(ctx context.Context, hv *harvester.Client, spec Spec, st *State) (clusterKeys, error) {
	owner := harvester.Owner{Name: spec.Name, ID: st.ClusterID}
	data, id, err := hv.LoadOrCreateAnchor(ctx, spec.Template.Namespace, spec.Template.NamePrefix, owner, func() (map[string][]byte, error) {
		out := map[string][]byte{anchorHostKeySeed: st.HostKeySeed, anchorClientKey: st.ClientKey}
		if len(out[anchorHostKeySeed]) == 0 {
			seed, err := ssh.NewHostKeySeed()
			if err != nil {
				return nil, err
			}
			out[anchorHostKeySeed] = seed
		}
		if len(spec.SSH.PrivateKey) > 0 {
			delete(out, anchorClientKey) // the user's own key stays with the user's options
		} else if len(out[anchorClientKey]) == 0 {
			key, err := ssh.GenerateClientKey("harvesterrke-" + spec.Name)
			if err != nil {
				return nil, err
			}
			out[anchorClientKey] = key.PrivatePEM
		}
		return out, nil
	})
	if err != nil {
		return clusterKeys{}, err
	}
	st.ClusterID = id
	st.HostKeySeed = data[anchorHostKeySeed]
	if len(st.HostKeySeed) != ssh.SeedSize {
		return clusterKeys{}, fmt.Errorf("anchor secret %s/%s holds no valid host-key seed",
			spec.Template.Namespace, harvester.AnchorSecretName(spec.Template.NamePrefix))
	}
	keys := clusterKeys{seed: st.HostKeySeed, clientPEM: spec.SSH.PrivateKey}
	if len(keys.clientPEM) == 0 {
		st.ClientKey = data[anchorClientKey]
		keys.clientPEM = st.ClientKey
	}
	return keys.parse()
}

// keysFromState are the keys of a cluster whose state has them (Remove, snapshots).
func keysFromState(spec Spec, st State) (clusterKeys, error) {
	keys := clusterKeys{seed: st.HostKeySeed, clientPEM: spec.SSH.PrivateKey}
	if len(keys.clientPEM) == 0 {
		keys.clientPEM = st.ClientKey
	}
	return keys.parse()
}

func (k clusterKeys) parse() (clusterKeys, error) {
	signer, err := ssh.ParsePrivateKey(k.clientPEM)
	if err != nil {
		return k, fmt.Errorf("cluster ssh key: %w", err)
	}
	k.signer = signer
	return k, nil
}

// login is what cloud-init sets up on every VM: the user with the client key authorised and, unless
// host keys are trusted on first use, the node's derived host key.
func (k clusterKeys) login(s SSH) harvester.Login {
	l := harvester.Login{User: s.User, AuthorizedKeys: []string{ssh.MarshalPublicKey(k.signer.PublicKey())}}
	if !s.TrustOnFirstUse {
		l.HostKey = func(vm string) (harvester.HostKey, error) {
			hk, err := ssh.DeriveHostKey(k.seed, vm)
			if err != nil {
				return harvester.HostKey{}, err
			}
			return harvester.HostKey{PrivatePEM: string(hk.PrivatePEM), AuthorizedKey: ssh.MarshalPublicKey(hk.Public)}, nil
		}
	}
	return l
}

// NodeAccess is how to log in to a node of the cluster as the driver does: the dialer configuration
// with the cluster's client key, and the endpoint with the host key the node must present.
func NodeAccess(spec Spec, st State, node string) (ssh.Config, ssh.Endpoint, error) {
	for _, n := range st.Nodes {
		if n.Name != node {
			continue
		}
		if n.Address == "" {
			return ssh.Config{}, ssh.Endpoint{}, fmt.Errorf("node %s has no address yet", node)
		}
		keys, err := keysFromState(spec, st)
		if err != nil {
			return ssh.Config{}, ssh.Endpoint{}, err
		}
		ep, err := keys.endpoint(spec.SSH, n)
		return keys.dialerConfig(spec.SSH), ep, err
	}
	return ssh.Config{}, ssh.Endpoint{}, fmt.Errorf("cluster %s has no node %s", spec.Name, node)
}

func (k clusterKeys) dialerConfig(s SSH) ssh.Config {
	return ssh.Config{Signer: k.signer, TrustOnFirstUse: s.TrustOnFirstUse}
}

// endpoint is how to reach node n over SSH, with the host key it must present.
func (k clusterKeys) endpoint(s SSH, n Node) (ssh.Endpoint, error) {
	ep := ssh.Endpoint{Name: n.Name, Address: n.Address, User: s.User}
	switch {
	case !s.TrustOnFirstUse:
		hk, err := ssh.DeriveHostKey(k.seed, n.Name)
		if err != nil {
			return ep, err
		}
		ep.HostKey = hk.Public
	case n.HostKey != "":
		key, err := ssh.ParsePublicKey(n.HostKey)
		if err != nil {
			return ep, fmt.Errorf("recorded host key of %s: %w", n.Name, err)
		}
		ep.HostKey = key
	}
	return ep, nil
}
