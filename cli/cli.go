// Package cli is the command line of the driver binary: given a port it serves kontainer-engine's
// gRPC protocol as Rancher expects; otherwise it runs commands that drive the same Driver code,
// keeping each cluster's state on disk as kontainer-engine's own command line does.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/driver"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitInterrupted = 130 // as shells report a command ended by Ctrl-C
)

// errUsage marks errors caused by how the command was called.
var errUsage = errors.New("usage")

// exitCode ends the process with a code and no message of its own (ssh passes the remote command's).
type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// App is one run of the command line.
type App struct {
	Version string
	Stdin   io.Reader // nil: os.Stdin
	Stdout  io.Writer
	Stderr  io.Writer
	// Getenv reads the environment; nil: os.Getenv.
	Getenv func(string) string
	// Provisioner does the work of the driver in this process; nil: provision.New(). Tests fake it.
	Provisioner driver.Provisioner
}

// Run executes args and returns the process exit code.
func (a *App) Run(args []string) int {
	err := a.run(args)
	var code exitCode
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, errUsage):
		fmt.Fprintf(a.Stderr, "%v\n\n%s", err, usageOf(args))
		return exitUsage
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(a.Stderr, "%v\n", err)
		return exitInterrupted
	default:
		fmt.Fprintf(a.Stderr, "error: %v\n", err)
		return exitError
	}
}

const binaryName = "kontainer-engine-driver-harvesterrke"

// command is one subcommand.
type command struct {
	name     string
	synopsis string // arguments, for usage
	summary  string // one line, for the list of commands
	run      func(a *App, ctx context.Context, args []string) error
}

// commandList is every command in the order the usage lists them; the usage text is made from it.
var commandList []command

func init() {
	// In init: the commands refer to usageOf, which refers to commandList.
	commandList = []command{
		{"create", "create NAME [options]", "create a cluster, or resume an interrupted create of NAME", (*App).create},
		{"update", "update NAME [options]", "change the options that may change (node counts, version, ...)", (*App).update},
		{"inspect", "inspect NAME [-o text|json]", "show a cluster: spec, nodes with address and phase, status", (*App).inspect},
		{"ls", "ls [-o text|json]", "list the clusters", (*App).list},
		{"rm", "rm NAME [-f]", "remove a cluster from Harvester and its local state", (*App).remove},
		{"kubeconfig", "kubeconfig NAME [-o FILE]", "print the cluster's admin kubeconfig, or write it to FILE", (*App).kubeconfig},
		{"ip", "ip NAME [NODE]", "print the address of every node, or of NODE", (*App).ip},
		{"ssh", "ssh NAME NODE [CMD...]", "run CMD (or a shell) on a node, with strict host keys", (*App).ssh},
		{"get-version", "get-version NAME", "print the Kubernetes version the cluster's API reports", (*App).getVersion},
		{"set-version", "set-version NAME VERSION", "upgrade Kubernetes to an RKE version (e.g. v1.32.7-rancher1-1)", (*App).setVersion},
		{"get-cluster-size", "get-cluster-size NAME", "print the number of nodes registered in Kubernetes", (*App).getClusterSize},
		{"set-cluster-size", "set-cluster-size NAME COUNT", "scale the last worker pool so the cluster has COUNT nodes", (*App).setClusterSize},
		{"snapshot", "snapshot save|restore|rm NAME SNAPSHOT", "take, restore or delete a named etcd snapshot", (*App).snapshot},
		{"schema", "schema", "print the create options as JSON", func(a *App, _ context.Context, _ []string) error { return a.schema() }},
		{"version", "version", "print the version (also --version)", func(a *App, _ context.Context, _ []string) error {
			fmt.Fprintf(a.Stdout, "%s %s\n", driver.Name, a.Version)
			return nil
		}},
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commandList {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// usage is the whole usage text, made from the command table.
func usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage:\n  %s <port>         serve the driver to Rancher on 127.0.0.1:<port>\n", binaryName)
	fmt.Fprintf(&b, "  %s serve <port>   the same\n  %s <command> [options] [arguments]\n\nCommands:\n", binaryName, binaryName)
	for _, c := range commandList {
		if len(c.synopsis) > 33 {
			fmt.Fprintf(&b, "  %s\n  %-33s  %s\n", c.synopsis, "", c.summary)
			continue
		}
		fmt.Fprintf(&b, "  %-33s  %s\n", c.synopsis, c.summary)
	}
	fmt.Fprintf(&b, "\nCluster state is kept in $KONTAINER_HOME (default ~/.kontainer), clusters/<name>/config.json.\n")
	fmt.Fprintf(&b, "Run '%s <command> --help' for a command's options.\n", binaryName)
	return b.String()
}

// usageOf is the usage text shown after a usage error in args' command.
func usageOf(args []string) string {
	if len(args) > 0 {
		if c, ok := lookup(args[0]); ok {
			return fmt.Sprintf("Usage: %s %s\nRun '%s %s --help' for its options.\n", binaryName, c.synopsis, binaryName, args[0])
		}
	}
	return usage()
}

func (a *App) run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing port or command", errUsage)
	}
	if _, err := strconv.Atoi(args[0]); err == nil {
		return a.serve(args[0])
	}
	switch args[0] {
	case "serve":
		if len(args) != 2 {
			return fmt.Errorf("%w: serve takes exactly one port", errUsage)
		}
		return a.serve(args[1])
	case "--version", "-v":
		args[0] = "version"
	case "help", "--help", "-h":
		fmt.Fprint(a.Stdout, usage())
		return nil
	}
	c, ok := lookup(args[0])
	if !ok {
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.run(a, ctx, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, errUsage) {
		return fmt.Errorf("%w: %w", errInterrupted, err)
	}
	return err
}

// errInterrupted marks a command stopped by Ctrl-C or SIGTERM.
var errInterrupted = errors.New("interrupted")

func (a *App) getenv(key string) string {
	if a.Getenv != nil {
		return a.Getenv(key)
	}
	return os.Getenv(key)
}

func (a *App) stdin() io.Reader {
	if a.Stdin != nil {
		return a.Stdin
	}
	return os.Stdin
}

func (a *App) provisioner() driver.Provisioner {
	if a.Provisioner != nil {
		return a.Provisioner
	}
	return provision.New()
}

// commonFlags are the flags every cluster command takes.
type commonFlags struct {
	home    string
	viaGRPC bool
	debug   bool
}

// newFlagSet makes a command's flag set with the common flags; withDriver adds those of commands
// that call the driver.
func (a *App) newFlagSet(name string, withDriver bool) (*flag.FlagSet, *commonFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by Run; --help by helpFor
	c := &commonFlags{}
	home := a.getenv("KONTAINER_HOME")
	if home == "" {
		if h, err := os.UserHomeDir(); err == nil {
			home = filepath.Join(h, ".kontainer")
		}
	}
	fs.StringVar(&c.home, "home", home, "directory of the cluster state (env KONTAINER_HOME)")
	if withDriver {
		fs.BoolVar(&c.viaGRPC, "via-grpc", false, "run the driver as a child process over gRPC, as Rancher does")
		fs.BoolVar(&c.debug, "debug", false, "show debug messages")
	}
	return fs, c
}

func (c *commonFlags) store() (store, error) {
	if c.home == "" {
		return store{}, fmt.Errorf("%w: no state directory: set --home or KONTAINER_HOME", errUsage)
	}
	return store{dir: c.home}, nil
}

// parse parses a command's arguments and checks their number (min to max; max < 0: no limit);
// stopAfter is as for parseArgs. --help prints the command's help and ends it.
func (a *App) parse(fs *flag.FlagSet, args []string, min, max, stopAfter int, extraHelp func(io.Writer)) ([]string, error) {
	pos, err := parseArgs(fs, args, stopAfter)
	if errors.Is(err, flag.ErrHelp) {
		c, _ := lookup(fs.Name())
		fmt.Fprintf(a.Stdout, "Usage: %s %s\n\nOptions:\n", binaryName, c.synopsis)
		fs.SetOutput(a.Stdout)
		fs.VisitAll(func(f *flag.Flag) {
			if _, isOption := f.Value.(*optionValue); !isOption {
				fmt.Fprintf(a.Stdout, "  --%s\n      %s\n", f.Name, f.Usage)
			}
		})
		if extraHelp != nil {
			extraHelp(a.Stdout)
		}
		return nil, flag.ErrHelp
	}
	if err != nil {
		return nil, err
	}
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		return nil, fmt.Errorf("%w: %s: wrong number of arguments", errUsage, fs.Name())
	}
	return pos, nil
}

func (a *App) schema() error {
	enc := json.NewEncoder(a.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Driver  string          `json:"driver"`
		Options []driver.Option `json:"options"`
	}{driver.Name, driver.Options()})
}

// oneLine keeps the first line of a message, for tables.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
