package rke

import (
	"context"
	"fmt"
	"regexp"

	"github.com/rancher/rke/cluster"
	"github.com/rancher/rke/cmd"
	"github.com/rancher/rke/hosts"
	"github.com/rancher/rke/types"
)

// snapshotName keeps names usable as file names on the etcd hosts (/opt/rke/etcd-snapshots).
var snapshotName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$`)

func checkSnapshotName(name string) error {
	if !snapshotName.MatchString(name) {
		return fmt.Errorf("snapshot name %q: use letters, digits, '.', '_', ':' and '-'", name)
	}
	return nil
}

// SnapshotSave takes an etcd snapshot called name on every etcd host; RKE puts its state file
// into the snapshot, so a restore needs nothing else.
func SnapshotSave(ctx context.Context, c Config, files Files, d Dialers, name string) error {
	if err := checkSnapshotName(name); err != nil {
		return err
	}
	_, err := withRKE(ctx, c, files, d, allNodes, func(cfg *types.RancherKubernetesEngineConfig, dialers hosts.DialersOptions, flags cluster.ExternalFlags) error {
		return rkeError("snapshot save", cmd.SnapshotSaveEtcdHosts(ctx, cfg, dialers, flags, name))
	})
	return err
}

// SnapshotRestore rolls etcd back to the snapshot called name and rebuilds the cluster from it.
// Like Up, on error the Result holds only the files RKE left.
func SnapshotRestore(ctx context.Context, c Config, files Files, d Dialers, name string) (Result, error) {
	if err := checkSnapshotName(name); err != nil {
		return Result{Files: files}, err
	}
	var res Result
	out, err := withRKE(ctx, c, files, d, allNodes, func(cfg *types.RancherKubernetesEngineConfig, dialers hosts.DialersOptions, flags cluster.ExternalFlags) error {
		// As Rancher does: RKE then rebuilds the cluster without its rolling-upgrade logic.
		cfg.Restore = types.RestoreConfig{Restore: true, SnapshotName: name}
		endpoint, ca, cert, key, _, err := cmd.RestoreEtcdSnapshot(ctx, cfg, dialers, flags, map[string]interface{}{}, name)
		if err != nil {
			return rkeError("snapshot restore", err)
		}
		res = Result{Endpoint: endpoint, CACert: ca, ClientCert: cert, ClientKey: key}
		return nil
	})
	if err != nil {
		return Result{Files: out}, err
	}
	res.Files = out
	return res, nil
}

// SnapshotRemove deletes the snapshot called name from every etcd host.
func SnapshotRemove(ctx context.Context, c Config, files Files, d Dialers, name string) error {
	if err := checkSnapshotName(name); err != nil {
		return err
	}
	_, err := withRKE(ctx, c, files, d, allNodes, func(cfg *types.RancherKubernetesEngineConfig, dialers hosts.DialersOptions, flags cluster.ExternalFlags) error {
		return rkeError("snapshot remove", cmd.SnapshotRemoveFromEtcdHosts(ctx, cfg, dialers, flags, name))
	})
	return err
}
