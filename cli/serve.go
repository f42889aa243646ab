package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/driver"
)

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
	return driver.Serve(ctx, lis, driver.New(a.provisioner()))
}
