package provision

import (
	"context"
	"fmt"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

// SnapshotSave takes an etcd snapshot called name on every etcd node.
func (p *Provisioner) SnapshotSave(ctx context.Context, spec Spec, st State, name string) error {
	return p.withRKE(spec, st, func(cfg rke.Config, d rke.Dialers) error {
		return rke.SnapshotSave(ctx, cfg, st.RKE, d, name)
	})
}

// SnapshotRestore restores etcd from the snapshot called name and brings the cluster back up.
func (p *Provisioner) SnapshotRestore(ctx context.Context, spec Spec, st *State, name string) error {
	return p.withRKE(spec, *st, func(cfg rke.Config, d rke.Dialers) error {
		res, err := rke.SnapshotRestore(ctx, cfg, st.RKE, d, name)
		if len(res.Files.State) > 0 {
			st.RKE = res.Files
		}
		return err
	})
}

// SnapshotRemove deletes the snapshot called name from the etcd nodes.
func (p *Provisioner) SnapshotRemove(ctx context.Context, spec Spec, st State, name string) error {
	return p.withRKE(spec, st, func(cfg rke.Config, d rke.Dialers) error {
		return rke.SnapshotRemove(ctx, cfg, st.RKE, d, name)
	})
}

// withRKE runs fn with RKE's view of a built cluster and dialers to its nodes.
func (p *Provisioner) withRKE(spec Spec, st State, fn func(rke.Config, rke.Dialers) error) error {
	if len(st.RKE.State) == 0 {
		return errNoCluster
	}
	keys, err := keysFromState(spec, st)
	if err != nil {
		return err
	}
	cfg, err := rkeConfig(spec, st.Nodes, keys)
	if err != nil {
		return fmt.Errorf("cluster %s: %w", spec.Name, err)
	}
	set, err := p.connect(spec, st.Nodes, keys)
	if err != nil {
		return err
	}
	defer set.close()
	return fn(cfg, set.dialers())
}
