package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/rancher/kontainer-engine/types"
	"github.com/rancher/rke/log"
	"golang.org/x/term"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/driver"
)

// session is one command's use of the driver: in this process, or (--via-grpc) this binary as a
// child process reached over gRPC exactly as Rancher reaches it.
type session struct {
	types.Driver
	// ctx carries progress as the rke logger; pass it to every driver call.
	ctx      context.Context
	progress *progress
	close    func() error
}

// openDriver starts a session. In process, checkpoint receives the ClusterInfo after every step
// of Create and Update (and progress its nodes); over gRPC the driver's log is forwarded instead
// and the info comes back only at the end of each call, as in Rancher.
func (a *App) openDriver(ctx context.Context, c *commonFlags, checkpoint func(*types.ClusterInfo)) (*session, error) {
	tty, width := a.terminal(a.Stderr)
	p := newProgress(a.Stderr, tty, width, c.debug)
	restore := routeLogrus(p)
	s := &session{ctx: log.SetLogger(ctx, p), progress: p}
	if c.viaGRPC {
		exe, err := os.Executable()
		if err != nil {
			restore()
			p.finish()
			return nil, fmt.Errorf("find this binary to run it as the driver process: %w", err)
		}
		ch, err := startChild(ctx, exe, p)
		if err != nil {
			restore()
			p.finish()
			return nil, err
		}
		s.Driver = ch
		s.close = func() error {
			err := ch.stop()
			p.finish()
			restore()
			return err
		}
		return s, nil
	}
	s.Driver = driver.New(a.provisioner(), driver.WithCheckpoint(func(info *types.ClusterInfo) {
		if v, err := driver.Inspect(info); err == nil {
			p.checkpoint(v.Nodes())
		}
		checkpoint(info)
	}))
	s.close = func() error {
		p.finish()
		restore()
		return nil
	}
	return s, nil
}

// remove removes a stored cluster. In process, a missing or unreadable state falls back to the
// stored options: everything labelled with the cluster's name is found without it.
func (s *session) remove(rec *record) error {
	if d, ok := s.Driver.(*driver.Driver); ok {
		return d.RemoveWithOptions(s.ctx, rec.info(), rec.DriverOptions)
	}
	return s.Remove(s.ctx, rec.info())
}

// terminal reports whether w is a terminal that can take the live display, and its width.
func (a *App) terminal(w io.Writer) (bool, int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || a.getenv("TERM") == "dumb" {
		return false, 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return true, 0
	}
	return true, width
}
