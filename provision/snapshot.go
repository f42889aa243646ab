package provision

import (
	"context"
	"fmt"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

// SnapshotSave takes an etcd snapshot called name on every etcd node.
func (p *Provisioner) SnapshotSave(ctx context.Context, spec Spec, st State, name string) error {
	_, err := p.snapshot(ctx, spec, st, snapshotSave, name)
	return err
}

// SnapshotRestore restores etcd from the snapshot called name and brings the cluster back up.
func (p *Provisioner) SnapshotRestore(ctx context.Context, spec Spec, st *State, name string) error {
	files, err := p.snapshot(ctx, spec, *st, snapshotRestore, name)
	if len(files.State) > 0 {
		st.RKE = files
	}
	return err
}

// SnapshotRemove deletes the snapshot called name from the etcd nodes.
func (p *Provisioner) SnapshotRemove(ctx context.Context, spec Spec, st State, name string) error {
	_, err := p.snapshot(ctx, spec, st, snapshotRemove, name)
	return err
}

// snapshot runs a snapshot operation on the nodes of a built cluster; it returns RKE's files after it.
func (p *Provisioner) snapshot(ctx context.Context, spec Spec, st State, op snapshotOp, name string) (rke.Files, error) {
	if len(st.RKE.State) == 0 {
		return rke.Files{}, errNoCluster
	}
	keys, err := keysFromState(spec, st)
	if err != nil {
		return rke.Files{}, err
	}
	cfg, err := rkeConfig(spec, st, st.Nodes)
	if err != nil {
		return rke.Files{}, fmt.Errorf("cluster %s: %w", spec.Name, err)
	}
	session, err := p.steps.open(spec, keys, st.Nodes)
	if err != nil {
		return rke.Files{}, err
	}
	defer session.close()
	res, err := session.snapshot(ctx, op, cfg, st.RKE, name)
	return res.Files, err
}
