// Command rketools is the multi-call binary of the rancher/rke-tools stand-in image. Named by the
// link it is run through (or by its first argument):
//
//	docker           the part of the Docker CLI the component entrypoint uses: docker info --format
//	nc               netcat as RKE's port checks use it: listeners (-kl -p -e) and checks (-w -z)
//	rke-etcd-backup  etcd snapshots as RKE runs them: etcd-backup save|delete|extractstatefile|serve|download
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if name == "rketools" && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	// SIGTERM is how Docker stops the long-running commands (rolling snapshots, the backup server).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	switch name {
	case "docker":
		err = dockerCommand(ctx, args, os.Stdout)
	case "nc":
		err = ncCommand(ctx, args)
	case "rke-etcd-backup":
		err = etcdBackupCommand(ctx, args, defaultBackupPaths)
	default:
		err = fmt.Errorf("unknown command (want docker, nc or rke-etcd-backup)")
	}
	var code exitCode
	if errors.As(err, &code) {
		os.Exit(int(code))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
