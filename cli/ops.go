package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/driver"
)

// errGRPCLosesState refuses set-version and set-cluster-size over gRPC: kontainer-engine's
// protocol returns no ClusterInfo from SetVersion and SetNodeCount, so the new nodes and RKE state
// would be lost. Rancher changes a cluster through Update, which update --via-grpc does.
func errGRPCLosesState(cmd, instead string) error {
	return fmt.Errorf("%w: %s cannot run --via-grpc: kontainer-engine's protocol returns no cluster state from it, so the changed state would be lost; use %s --via-grpc, as Rancher does", errUsage, cmd, instead)
}

func (a *App) getVersion(ctx context.Context, args []string) error {
	return a.query(ctx, "get-version", args, func(s *session, info *types.ClusterInfo) (string, error) {
		v, err := s.GetVersion(s.ctx, info)
		if err != nil {
			return "", err
		}
		return v.Version, nil
	})
}

func (a *App) getClusterSize(ctx context.Context, args []string) error {
	return a.query(ctx, "get-cluster-size", args, func(s *session, info *types.ClusterInfo) (string, error) {
		n, err := s.GetClusterSize(s.ctx, info)
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(n.Count, 10), nil
	})
}

// query runs a driver call that only reads the cluster and prints its answer.
func (a *App) query(ctx context.Context, name string, args []string, fn func(*session, *types.ClusterInfo) (string, error)) error {
	fs, c := a.newFlagSet(name, true)
	pos, err := a.parse(fs, args, 1, 1, -1, nil)
	if err != nil {
		return err
	}
	if err := checkName(pos[0]); err != nil {
		return err
	}
	st, err := c.store()
	if err != nil {
		return err
	}
	rec, err := st.get(pos[0])
	if err != nil {
		return err
	}
	s, err := a.openDriver(ctx, c, func(*types.ClusterInfo) {})
	if err != nil {
		return err
	}
	out, err := fn(s, rec.info())
	if err := errors.Join(err, s.close()); err != nil {
		return fmt.Errorf("%s %s: %w", name, rec.Name, err)
	}
	fmt.Fprintln(a.Stdout, out)
	return nil
}

// setVersion upgrades Kubernetes through the driver's SetVersion; the stored options follow, so a
// later update keeps the version.
func (a *App) setVersion(ctx context.Context, args []string) error {
	fs, c := a.newFlagSet("set-version", true)
	pos, err := a.parse(fs, args, 2, 2, -1, nil)
	if err != nil {
		return err
	}
	if c.viaGRPC {
		return errGRPCLosesState("set-version", "update --kubernetes-version")
	}
	version := &types.KubernetesVersion{Version: pos[1]}
	return a.change(ctx, c, pos[0], "set-version", func(s *session, info *types.ClusterInfo) error {
		return s.SetVersion(s.ctx, info, version)
	})
}

// setClusterSize scales the last worker pool through the driver's SetClusterSize.
func (a *App) setClusterSize(ctx context.Context, args []string) error {
	fs, c := a.newFlagSet("set-cluster-size", true)
	pos, err := a.parse(fs, args, 2, 2, -1, nil)
	if err != nil {
		return err
	}
	count, err := strconv.ParseInt(pos[1], 10, 64)
	if err != nil || count < 1 {
		return fmt.Errorf("%w: set-cluster-size: COUNT must be a whole number of at least 1, got %q", errUsage, pos[1])
	}
	if c.viaGRPC {
		return errGRPCLosesState("set-cluster-size", "update --worker-count (or --node-pools)")
	}
	return a.change(ctx, c, pos[0], "set-cluster-size", func(s *session, info *types.ClusterInfo) error {
		return s.SetClusterSize(s.ctx, info, &types.NodeCount{Count: count})
	})
}

// change runs a driver call that changes the ClusterInfo it is given in place (SetVersion,
// SetClusterSize), then aligns the stored options with the spec it leaves.
func (a *App) change(ctx context.Context, c *commonFlags, name, what string, fn func(*session, *types.ClusterInfo) error) error {
	st, rec, unlock, err := a.openCluster(c, name)
	if err != nil {
		return err
	}
	defer unlock()
	if err := requireState(rec); err != nil {
		return err
	}
	return a.call(ctx, c, st, rec, what, func(s *session) error {
		info := rec.info()
		err := fn(s, info)
		rec.apply(info)
		if v, verr := driver.Inspect(info); verr == nil {
			rec.DriverOptions = v.CurrentOptions(rec.DriverOptions)
		}
		return err
	})
}

// snapshot takes, restores or deletes a named etcd snapshot.
func (a *App) snapshot(ctx context.Context, args []string) error {
	fs, c := a.newFlagSet("snapshot", true)
	pos, err := a.parse(fs, args, 3, 3, -1, nil)
	if err != nil {
		return err
	}
	action, name, snap := pos[0], pos[1], pos[2]
	var fn func(*session, *record) error
	switch action {
	case "save":
		fn = func(s *session, rec *record) error { return s.ETCDSave(s.ctx, rec.info(), rec.DriverOptions, snap) }
	case "restore":
		fn = func(s *session, rec *record) error {
			info, err := s.ETCDRestore(s.ctx, rec.info(), rec.DriverOptions, snap)
			rec.apply(info)
			return err
		}
	case "rm":
		fn = func(s *session, rec *record) error {
			return s.ETCDRemoveSnapshot(s.ctx, rec.info(), rec.DriverOptions, snap)
		}
	default:
		return fmt.Errorf("%w: snapshot: unknown action %q, want save, restore or rm", errUsage, action)
	}
	st, rec, unlock, err := a.openCluster(c, name)
	if err != nil {
		return err
	}
	defer unlock()
	if err := requireState(rec); err != nil {
		return err
	}
	return a.call(ctx, c, st, rec, "snapshot "+action, func(s *session) error { return fn(s, rec) })
}
