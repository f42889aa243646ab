package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/ssh"
)

// loginShell runs the user's shell reading commands from stdin, for ssh without a command.
const loginShell = `exec "${SHELL:-/bin/sh}" -l`

// ssh runs a command on a node as the driver logs in: the cluster's client key, and the host key
// the node must present (derived from the cluster's seed, or recorded on first use if the cluster
// was created so); never a key the node merely offers. The remote command's exit status becomes
// this command's.
func (a *App) ssh(ctx context.Context, args []string) error {
	fs, c := a.newFlagSet("ssh", false)
	// Parsing stops after NAME and NODE: what follows is the command, flags and all.
	pos, err := a.parse(fs, args, 2, -1, 2, nil)
	if err != nil {
		return err
	}
	v, rec, err := a.stateOf(c, pos[0])
	if err != nil {
		return err
	}
	n, err := findNode(rec.Name, v.Nodes(), pos[1])
	if err != nil {
		return err
	}
	cfg, ep, err := v.SSH(n.Name)
	if err != nil {
		return err
	}
	d, err := ssh.NewDialer(cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	client, err := d.Dial(ctx, ep)
	if err != nil {
		return err
	}
	defer client.Close()

	command := strings.Join(pos[2:], " ")
	in := a.stdin()
	if command == "" {
		command = loginShell
		if isTerminal(in) {
			fmt.Fprintf(a.Stderr, "no pseudo-terminal: type commands, end with Ctrl-D\n")
		}
	} else if isTerminal(in) {
		in = nil // the command reads no keyboard: like ssh -n
	}
	err = client.Run(ctx, command, in, func(line string) { fmt.Fprintln(a.Stdout, line) })
	var exit *gossh.ExitError
	if errors.As(err, &exit) {
		return exitCode(exit.ExitStatus())
	}
	return err
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
