package rke

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/rancher/rke/cluster"
	"github.com/rancher/rke/hosts"
	"github.com/rancher/rke/types"
)

// rkeCall is one RKE operation on a configuration, with the dialers and file locations it needs.
type rkeCall func(cfg *types.RancherKubernetesEngineConfig, dialers hosts.DialersOptions, flags cluster.ExternalFlags) error

// reach says what to do about nodes whose Docker socket cannot be reached.
type reach int

const (
	allNodes       reach = iota // fail before RKE runs
	reachableNodes              // leave them out, run RKE on the others, and report them
)

// errUnreachable heads the list of nodes that could not be reached.
var errUnreachable = errors.New("nodes cannot be reached")

// withRKE runs call in a fresh work directory seeded with files, and returns the files RKE left
// there, also when call fails: a half-built cluster's state (its CA above all) is what the retry
// must start from.
func withRKE(ctx context.Context, c Config, files Files, d Dialers, r reach, call rkeCall) (out Files, err error) {
	if err := ctx.Err(); err != nil {
		return files, err
	}
	// Before RKE runs: left to itself, it would load its metadata as its development version.
	if err := loadMetadata(); err != nil {
		return files, err
	}
	cfg, err := buildConfig(c)
	if err != nil {
		return files, err
	}
	dialers, err := newNodeDialers(ctx, d, c.Nodes)
	if err != nil {
		return files, err
	}
	var skipped error
	if unreachable := dialers.probe(c.Nodes); len(unreachable) > 0 {
		if r == allNodes || len(unreachable) == len(c.Nodes) {
			return files, dialers.explain(errUnreachable)
		}
		skipped = dialers.explain(fmt.Errorf("%w, left out", errUnreachable))
		cfg.Nodes = slices.DeleteFunc(cfg.Nodes, func(n types.RKEConfigNode) bool { return unreachable[n.Address] })
	}
	dir, err := newWorkDir(files)
	if err != nil {
		return files, err
	}
	defer func() {
		err = errors.Join(err, dir.remove())
	}()

	callErr := call(cfg, dialers.options(), dir.flags())
	out, readErr := dir.files()
	if readErr != nil {
		// Without what RKE wrote, the caller keeps what it had.
		out = files
	}
	if callErr != nil {
		callErr = dialers.explain(callErr)
	} else {
		callErr = skipped
	}
	return out, errors.Join(callErr, readErr)
}

// rkeError wraps an RKE failure with the operation's name.
func rkeError(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("rke %s: %w", op, err)
}
