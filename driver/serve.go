package driver

import (
	"context"
	"net"
	"time"

	"github.com/rancher/kontainer-engine/types"
	"google.golang.org/grpc"
)

// gracePeriod bounds how long in-flight calls may finish after the server is asked to stop.
const gracePeriod = 10 * time.Second

// Serve answers kontainer-engine's gRPC protocol for d on lis until ctx ends.
func Serve(ctx context.Context, lis net.Listener, d types.Driver) error {
	srv := grpc.NewServer()
	types.RegisterDriverServer(srv, types.NewServer(d, nil))
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		done := make(chan struct{})
		go func() { srv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(gracePeriod):
			srv.Stop()
		}
	}()
	err := srv.Serve(lis)
	if ctx.Err() != nil {
		<-stopped
		return nil
	}
	return err
}
