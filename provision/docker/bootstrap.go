package docker

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/rancher/rke/log"
)

// tailLines is how many of a node's last output lines a failure reports.
const tailLines = 40

// NodeError is the failure on one node. Its message and Output are masked.
type NodeError struct {
	Node   string
	Err    error
	Output []string // the node's last output lines, if the failure came from the script
	msg    string   // Err's message, masked
}

func (e *NodeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "docker on node %s: %s", e.Node, e.msg)
	if len(e.Output) > 0 {
		fmt.Fprintf(&b, "\nlast output of node %s:", e.Node)
		for _, l := range e.Output {
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}

func (e *NodeError) Unwrap() error { return e.Err }

// Bootstrap runs the bootstrap script on every node, opts.Concurrency at a time, streaming each
// node's output as progress through rke/log (prefixed "[node]"). It returns one Result per node,
// in order, and the failures joined (each a *NodeError): a node running a version outside
// cfg.SupportedVersions fails with ErrUnsupportedVersion unless cfg.IgnoreUnsupportedVersion.
func Bootstrap(ctx context.Context, cfg Config, nodes []Node, opts Options) ([]Result, error) {
	for _, n := range nodes {
		// Fail before touching any node when the settings themselves are wrong.
		if _, err := Script(cfg, n.User); err != nil {
			return nil, fmt.Errorf("docker bootstrap script: %w", err)
		}
	}
	limit := opts.Concurrency
	if limit <= 0 {
		limit = 10
	}
	results := make([]Result, len(nodes))
	for i, n := range nodes {
		results[i].Node = n.Name
	}
	errs := forEach(ctx, len(nodes), limit, func(i int) error {
		var err error
		results[i], err = bootstrapNode(ctx, cfg, nodes[i], opts.Secrets)
		if err == nil && opts.Ready != nil {
			err = opts.Ready(ctx, i)
		}
		return err
	}, func(i int, err error) error { return nodeError(nodes[i].Name, err, nil, nil) })
	return results, errors.Join(errs...)
}

// existingPrefix marks the line with the node's daemon.json (base64) among whatever else the
// command prints: the runner passes stderr on too (e.g. sudo's "unable to resolve host").
const existingPrefix = "DAEMON_JSON_BASE64="

// nodeScript is the bootstrap for one node: when the driver manages daemon.json, the node's
// current file is read first so the settings the driver does not manage survive.
func nodeScript(ctx context.Context, cfg Config, n Node) (string, error) {
	if d, _ := daemonJSON(cfg, nil); d == "" {
		return Script(cfg, n.User)
	}
	f := nodeLayout.daemonJSON
	read := readDaemonJSON(f)
	var encoded string
	found := false
	if err := n.Runner.Run(ctx, command(n.User), strings.NewReader(read), func(line string) {
		if v, ok := strings.CutPrefix(line, existingPrefix); ok {
			encoded, found = v, true
		}
	}); err != nil {
		return "", fmt.Errorf("read %s: %w", f, err)
	}
	if !found {
		return "", fmt.Errorf("read %s: the node printed no %s line", f, strings.TrimSuffix(existingPrefix, "="))
	}
	existing, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", f, err)
	}
	return script(cfg, n.User, nodeLayout, existing)
}

// readDaemonJSON prints the file at path (absent: empty) on one line after existingPrefix.
func readDaemonJSON(path string) string {
	return "printf '%s' " + existingPrefix + "; if [ -f " + shellQuote(path) + " ]; then base64 < " + shellQuote(path) + " | tr -d '\\n'; fi; echo\n"
}

func bootstrapNode(ctx context.Context, cfg Config, n Node, secrets []string) (Result, error) {
	res := Result{Node: n.Name}
	m := newMasker(secrets)
	var tail []string
	var changed string
	log.Infof(ctx, "[%s] checking docker", n.Name)
	script, err := nodeScript(ctx, cfg, n)
	if err != nil {
		return res, nodeError(n.Name, err, nil, secrets)
	}
	err = n.Runner.Run(ctx, command(n.User), strings.NewReader(script), func(line string) {
		if v, ok := strings.CutPrefix(line, versionPrefix); ok {
			res.Version = strings.TrimSpace(v)
		} else if v, ok := strings.CutPrefix(line, changedPrefix); ok {
			changed = strings.TrimSpace(v)
		}
		line = m.line(line)
		if len(tail) == tailLines {
			tail = tail[1:]
		}
		tail = append(tail, line)
		log.Infof(ctx, "[%s] %s", n.Name, line)
	})
	if err != nil {
		return Result{Node: n.Name}, nodeError(n.Name, fmt.Errorf("bootstrap script: %w", err), tail, secrets)
	}
	if res.Version == "" {
		return Result{Node: n.Name}, nodeError(n.Name, errors.New("bootstrap script ended without reporting the docker version"), tail, secrets)
	}
	res.Changed = changed == "1"
	if !cfg.supported(res.Version) {
		return Result{Node: n.Name}, nodeError(n.Name, fmt.Errorf("%w: docker %s is installed, supported are %s (or accept any version with the ignore-docker-version option)",
			ErrUnsupportedVersion, res.Version, strings.Join(cfg.SupportedVersions, ", ")), nil, secrets)
	}
	log.Infof(ctx, "[%s] docker %s ready", n.Name, res.Version)
	return res, nil
}

func nodeError(node string, err error, tail []string, secrets []string) *NodeError {
	return &NodeError{Node: node, Err: err, Output: tail, msg: newMasker(secrets).text(err.Error())}
}
