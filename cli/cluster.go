package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/driver"
)

// create creates a cluster, or resumes the create of one that was interrupted or failed: the
// stored options (overridden by any given) and ClusterInfo go to the driver again, which finds
// what the earlier run made. As kontainer-engine does, PostCheck follows a successful Create.
func (a *App) create(ctx context.Context, args []string) error {
	fs, c := a.newFlagSet("create", true)
	of := addOptionFlags(fs, driver.Options())
	pos, err := a.parse(fs, args, 1, 1, -1, func(w io.Writer) { printOptionHelp(w, driver.Options()) })
	if err != nil {
		return err
	}
	name := pos[0]
	if err := checkName(name); err != nil {
		return err
	}
	if err := of.fromEnv(a.getenv); err != nil {
		return err
	}
	st, err := c.store()
	if err != nil {
		return err
	}
	unlock, err := st.lock(name)
	if err != nil {
		return err
	}
	defer unlock()

	opts := of.given()
	var previous *types.ClusterInfo
	rec, err := st.get(name)
	switch {
	case errors.Is(err, errNotFound):
		rec = &record{DriverName: driver.Name, Name: name, CreatedAt: time.Now().UTC()}
	case err != nil:
		return err
	case rec.Status == statusCreating || rec.Status == statusError:
		opts = merge(rec.DriverOptions, opts)
		previous = rec.info()
	case rec.Status == statusRemoving:
		return fmt.Errorf("cluster %s is being removed: run rm %s again", name, name)
	default:
		return fmt.Errorf("cluster %s already exists (status %s): update changes it", name, rec.Status)
	}
	opts.StringOptions["name"] = name
	spec, err := driver.ParseOptions(opts)
	if err != nil {
		if previous == nil {
			_ = st.remove(name) // only the lock is there
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	rec.DriverOptions, rec.Status, rec.LastError = opts, statusCreating, ""
	if err := st.put(rec); err != nil {
		return err
	}

	var s *session
	s, err = a.openDriver(ctx, c, saver(st, rec, func() *progress { return s.progress }))
	if err != nil {
		return a.failed(st, rec, statusError, err)
	}
	if previous != nil {
		s.progress.seed(nodesOf(previous))
		s.progress.printf("Resuming the create of cluster %s (%d nodes)", name, spec.NodeCount())
	} else {
		s.progress.printf("Creating cluster %s: %d nodes in namespace %s from image %s", name, spec.NodeCount(),
			spec.Template.Namespace, spec.Template.Image)
	}
	info, err := s.Create(s.ctx, opts, previous)
	rec.apply(info)
	if err == nil {
		info, err = s.PostCheck(s.ctx, rec.info())
		rec.apply(info)
	}
	s.progress.checkpoint(nodesOf(rec.info())) // over gRPC the nodes come only now
	err = errors.Join(err, s.close())
	if err != nil {
		a.summary(s.progress, rec, "create", err)
		return a.failed(st, rec, statusError, err)
	}
	rec.Status = statusRunning
	if err := st.put(rec); err != nil {
		return err
	}
	a.summary(s.progress, rec, "create", nil)
	return nil
}

// update changes the options that may change, merged over the stored ones, then runs PostCheck as
// kontainer-engine does. The stored options change only when the update succeeds.
func (a *App) update(ctx context.Context, args []string) error {
	fs, c := a.newFlagSet("update", true)
	mutable := mutableOptions()
	of := addOptionFlags(fs, mutable)
	pos, err := a.parse(fs, args, 1, 1, -1, func(w io.Writer) { printOptionHelp(w, mutable) })
	if err != nil {
		return err
	}
	if err := of.fromEnv(a.getenv); err != nil {
		return err
	}
	st, rec, unlock, err := a.openCluster(c, pos[0])
	if err != nil {
		return err
	}
	defer unlock()
	if err := requireState(rec); err != nil {
		return err
	}
	view, err := driver.Inspect(rec.info())
	if err != nil {
		return fmt.Errorf("cluster %s: %w", rec.Name, err)
	}
	opts := merge(view.CurrentOptions(rec.DriverOptions), of.given())
	opts.StringOptions["name"] = rec.Name
	if _, err := driver.ParseOptions(opts); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return a.call(ctx, c, st, rec, "update", func(s *session) error {
		info, err := s.Update(s.ctx, rec.info(), opts)
		rec.apply(info)
		if err != nil {
			return err
		}
		rec.DriverOptions = opts
		if !created(rec) {
			return nil // call runs PostCheck
		}
		info, err = s.PostCheck(s.ctx, rec.info())
		rec.apply(info)
		return err
	})
}

// remove deletes the cluster's objects on Harvester, then its local state. With force the state
// goes even when the driver fails (kontainer-engine's forceRemove), with a warning to check
// Harvester for leftovers.
func (a *App) remove(ctx context.Context, args []string) error {
	fs, c := a.newFlagSet("rm", true)
	var force bool
	fs.BoolVar(&force, "f", false, "remove the local state even if removing the cluster fails")
	fs.BoolVar(&force, "force", false, "the same as -f")
	pos, err := a.parse(fs, args, 1, 1, -1, nil)
	if err != nil {
		return err
	}
	st, rec, unlock, err := a.openCluster(c, pos[0])
	if err != nil {
		return err
	}
	defer unlock()
	rec.Status = statusRemoving
	if err := st.put(rec); err != nil {
		return err
	}
	s, err := a.openDriver(ctx, c, func(*types.ClusterInfo) {})
	if err != nil {
		return err
	}
	s.progress.printf("Removing cluster %s", rec.Name)
	err = errors.Join(s.remove(rec), s.close())
	if err != nil && !force {
		rec.LastError = err.Error()
		if perr := st.put(rec); perr != nil {
			err = errors.Join(err, perr)
		}
		return fmt.Errorf("remove cluster %s: %w (run rm again, or rm -f to drop the local state anyway)", rec.Name, err)
	}
	if err != nil {
		s.progress.Warnf("removing cluster %s failed: %v; its local state is removed anyway: check Harvester for objects labelled harvesterrke.io/cluster=%s", rec.Name, err, rec.Name)
	}
	if err := st.remove(rec.Name); err != nil {
		return err
	}
	s.progress.printf("Removed cluster %s (%s)", rec.Name, clock(s.progress.elapsed()))
	return nil
}

// openCluster locks a stored cluster and reads its record. A missing cluster is an error before
// anything is created on disk.
func (a *App) openCluster(c *commonFlags, name string) (store, *record, func(), error) {
	if err := checkName(name); err != nil {
		return store{}, nil, nil, err
	}
	st, err := c.store()
	if err != nil {
		return st, nil, nil, err
	}
	if _, err := st.get(name); err != nil {
		return st, nil, nil, err
	}
	unlock, err := st.lock(name)
	if err != nil {
		return st, nil, nil, err
	}
	rec, err := st.get(name) // again: it may have changed while another command held the lock
	if err != nil {
		unlock()
		return st, nil, nil, err
	}
	return st, rec, unlock, nil
}

// requireState refuses to change a cluster that has nothing on Harvester yet or is being removed.
// A cluster whose create stopped part way can change: the driver converges all of it again.
func requireState(rec *record) error {
	if rec.Status == statusRemoving {
		return fmt.Errorf("cluster %s is being removed: run rm %s again", rec.Name, rec.Name)
	}
	if _, err := driver.Inspect(rec.info()); err != nil {
		return fmt.Errorf("cluster %s has no state yet (status %s): create %s resumes it", rec.Name, rec.Status, rec.Name)
	}
	return nil
}

// created reports whether the cluster's create finished.
func created(rec *record) bool {
	return rec.Status == statusRunning || rec.Status == statusUpdating
}

// call runs a driver call that changes a cluster, saving its record at every checkpoint and at the
// end. A created cluster is Updating meanwhile and Running after, with the error if it failed. On
// a cluster whose create had not finished the call carries on that create: it is Creating
// meanwhile, then Running after PostCheck as a create would leave it, or Error.
func (a *App) call(ctx context.Context, c *commonFlags, st store, rec *record, what string, fn func(*session) error) error {
	wasCreated := created(rec)
	during, after, afterFailure := statusUpdating, statusRunning, statusRunning
	if !wasCreated {
		during, afterFailure = statusCreating, statusError
	}
	rec.Status, rec.LastError = during, ""
	if err := st.put(rec); err != nil {
		return err
	}
	var s *session
	s, err := a.openDriver(ctx, c, saver(st, rec, func() *progress { return s.progress }))
	if err != nil {
		return a.failed(st, rec, afterFailure, err)
	}
	s.progress.seed(nodesOf(rec.info()))
	err = fn(s)
	if err == nil && !wasCreated {
		var info *types.ClusterInfo
		info, err = s.PostCheck(s.ctx, rec.info())
		rec.apply(info)
	}
	s.progress.checkpoint(nodesOf(rec.info())) // over gRPC the nodes come only now
	err = errors.Join(err, s.close())
	a.summary(s.progress, rec, what, err)
	if err != nil {
		return a.failed(st, rec, afterFailure, err)
	}
	rec.Status = after
	return st.put(rec)
}

// saver stores the record with each checkpointed ClusterInfo. A failed write is a warning: the
// next checkpoint or the end of the command writes again.
func saver(st store, rec *record, p func() *progress) func(*types.ClusterInfo) {
	return func(info *types.ClusterInfo) {
		rec.apply(info)
		if err := st.put(rec); err != nil && p() != nil {
			p().Warnf("%v", err)
		}
	}
}

// failed records a failed command: the status to leave and the error, for inspect and ls.
func (a *App) failed(st store, rec *record, status string, err error) error {
	rec.Status, rec.LastError = status, err.Error()
	if perr := st.put(rec); perr != nil {
		return errors.Join(err, perr)
	}
	return err
}

func mutableOptions() []driver.Option {
	var out []driver.Option
	for _, o := range driver.Options() {
		if o.Mutable {
			out = append(out, o)
		}
	}
	return out
}
