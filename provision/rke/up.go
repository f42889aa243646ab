package rke

import (
	"context"

	"github.com/rancher/rke/cluster"
	"github.com/rancher/rke/cmd"
	"github.com/rancher/rke/hosts"
	"github.com/rancher/rke/log"
	"github.com/rancher/rke/types"
)

// Up builds the cluster, or brings an existing one (previous holds its files) to c: new nodes
// join, removed nodes leave, a new Kubernetes version is rolled out. On error the Result holds
// only the files RKE left, which the next Up must be given.
func Up(ctx context.Context, c Config, previous Files, d Dialers) (Result, error) {
	var res Result
	files, err := withRKE(ctx, c, previous, d, allNodes, func(cfg *types.RancherKubernetesEngineConfig, dialers hosts.DialersOptions, flags cluster.ExternalFlags) error {
		log.Infof(ctx, "Running RKE %s for Kubernetes %s on %d nodes", Version, cfg.Version, len(cfg.Nodes))
		if err := cmd.ClusterInit(ctx, cfg, dialers, flags); err != nil {
			return rkeError("init", err)
		}
		// Empty data: RKE takes its templates and service options from its embedded metadata.
		endpoint, ca, cert, key, _, err := cmd.ClusterUp(ctx, dialers, flags, map[string]interface{}{})
		if err != nil {
			return rkeError("up", err)
		}
		res = Result{Endpoint: endpoint, CACert: ca, ClientCert: cert, ClientKey: key}
		return nil
	})
	if err != nil {
		return Result{Files: files}, err
	}
	res.Files = files
	return res, nil
}

// Remove tears Kubernetes down on the nodes: containers, certificates and data. It is best
// effort: nodes that cannot be reached are left as they are, and the error says which.
func Remove(ctx context.Context, c Config, d Dialers) error {
	_, err := withRKE(ctx, c, Files{}, d, reachableNodes, func(cfg *types.RancherKubernetesEngineConfig, dialers hosts.DialersOptions, flags cluster.ExternalFlags) error {
		return rkeError("remove", cmd.ClusterRemove(ctx, cfg, dialers, flags))
	})
	return err
}
