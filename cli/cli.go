// Package cli is the command line of the driver binary: given a port it serves kontainer-engine's
// gRPC protocol as Rancher expects; otherwise it runs commands that drive the same Driver code.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/driver"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// errUsage marks errors caused by how the command was called.
var errUsage = errors.New("usage")

// App is one run of the command line.
type App struct {
	Version string
	Stdout  io.Writer
	Stderr  io.Writer
}

// Run executes args and returns the process exit code.
func (a *App) Run(args []string) int {
	err := a.run(args)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(a.Stderr, "%v\n\n%s", err, usage)
		return exitUsage
	default:
		fmt.Fprintf(a.Stderr, "error: %v\n", err)
		return exitError
	}
}

const usage = `Usage:
  kontainer-engine-driver-harvesterrke <port>         serve the driver to Rancher on 127.0.0.1:<port>
  kontainer-engine-driver-harvesterrke serve <port>   the same
  kontainer-engine-driver-harvesterrke schema         print the create options as JSON
  kontainer-engine-driver-harvesterrke version        print the version (also --version)
`

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
	case "schema":
		return a.schema()
	case "version", "--version", "-v":
		fmt.Fprintf(a.Stdout, "%s %s\n", driver.Name, a.Version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(a.Stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

func (a *App) serve(port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%w: port must be a number from 0 to 65535, got %q", errUsage, port)
	}
	// Only loopback: Rancher talks to the driver from the same host, nothing else may.
	lis, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(n)))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", n, err)
	}
	fmt.Fprintf(a.Stderr, "%s %s listening on %s\n", driver.Name, a.Version, lis.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return driver.Serve(ctx, lis, driver.New(provision.New()))
}

func (a *App) schema() error {
	enc := json.NewEncoder(a.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Driver  string          `json:"driver"`
		Options []driver.Option `json:"options"`
	}{driver.Name, driver.Options()})
}
