package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// backupEnv is where the snapshot commands work. RKE runs them with the host's
// /opt/rke/etcd-snapshots at /backup and /etc/kubernetes at itself; tests use temporary ones.
type backupEnv struct {
	backup    string        // snapshots: <name>.zip, and <name> while made, served or restored
	k8s       string        // RKE leaves the cluster state there as <name>.rkestate before a snapshot
	tmp       string        // extractstatefile writes cluster.rkestate there for RKE to copy out
	port      string        // the backup server's port: etcd's client port, free while etcd is stopped
	retryWait time.Duration // between snapshot attempts
}

var defaultBackupPaths = backupEnv{backup: "/backup", k8s: "/etc/kubernetes", tmp: "/tmp", port: "2379", retryWait: 5 * time.Second}

// backupOptions are the flags RKE passes (services/etcd.go of RKE v1.8).
type backupOptions struct {
	name, endpoints, cacert, cert, key, localEndpoint string
	once, cleanup, s3                                 bool
	creation, retention                               time.Duration
	retries                                           int
}

func parseBackupOptions(sub string, args []string) (backupOptions, error) {
	var o backupOptions
	fs := flag.NewFlagSet("etcd-backup "+sub, flag.ContinueOnError)
	fs.StringVar(&o.name, "name", "", "snapshot name")
	fs.StringVar(&o.endpoints, "endpoints", "127.0.0.1:2379", "etcd client endpoints")
	fs.StringVar(&o.cacert, "cacert", "", "CA certificate file")
	fs.StringVar(&o.cert, "cert", "", "client (and server) certificate file")
	fs.StringVar(&o.key, "key", "", "client (and server) key file")
	fs.StringVar(&o.localEndpoint, "local-endpoint", "", "address of the backup server to download from")
	fs.BoolVar(&o.once, "once", false, "take one snapshot and exit, instead of rolling snapshots")
	fs.BoolVar(&o.cleanup, "cleanup", false, "delete only the uncompressed snapshot")
	fs.DurationVar(&o.creation, "creation", 12*time.Hour, "interval of rolling snapshots")
	fs.DurationVar(&o.retention, "retention", 72*time.Hour, "age after which rolling snapshots are deleted")
	fs.IntVar(&o.retries, "backup-retries", 4, "snapshot attempts after the first")
	fs.BoolVar(&o.s3, "s3-backup", false, "use S3 (not supported here)")
	for _, s3 := range []string{"s3-endpoint", "s3-bucketName", "s3-region", "s3-endpoint-ca", "s3-folder", "s3-accessKey", "s3-secretKey"} {
		fs.String(s3, "", "S3 setting (not supported here)")
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.s3 {
		return o, errors.New("S3 snapshots are not supported by this image")
	}
	return o, nil
}

// snapshotName keeps a name to one file in the backup directory, as rke-tools does.
func snapshotName(name string) (string, error) {
	n := path.Base(name)
	if name == "" || n == "." || n == "/" {
		return "", errors.New("--name is required")
	}
	return n, nil
}

func etcdBackupCommand(ctx context.Context, args []string, env backupEnv) error {
	if len(args) < 2 || args[0] != "etcd-backup" {
		return errors.New("usage: rke-etcd-backup etcd-backup save|delete|extractstatefile|serve|download [flags]")
	}
	sub := args[1]
	o, err := parseBackupOptions(sub, args[2:])
	if err != nil {
		return err
	}
	if sub == "save" && !o.once {
		return rollingSnapshots(ctx, o, env)
	}
	name, err := snapshotName(o.name)
	if err != nil {
		return err
	}
	switch sub {
	case "save":
		return takeSnapshot(ctx, o, env, name)
	case "delete":
		return deleteSnapshot(env, name, o.cleanup)
	case "extractstatefile":
		return extractStateFile(env, name)
	case "serve":
		return serveSnapshot(ctx, o, env, name)
	case "download":
		return downloadSnapshot(ctx, o, env, name)
	}
	return fmt.Errorf("unknown subcommand %q", sub)
}

// takeSnapshot saves etcd's data to <backup>/<name>.zip, with the cluster state RKE left in
// <k8s>/<name>.rkestate if any, retrying while etcd is unhealthy.
func takeSnapshot(ctx context.Context, o backupOptions, env backupEnv, name string) error {
	if o.cacert == "" || o.cert == "" || o.key == "" {
		return errors.New("--cacert, --cert and --key are required")
	}
	file := filepath.Join(env.backup, name)
	state := filepath.Join(env.k8s, name+".rkestate")
	var err error
	for attempt := 0; attempt <= o.retries; attempt++ {
		if attempt > 0 {
			log.Printf("snapshot %s: attempt %d failed: %v", name, attempt, err)
			select {
			case <-time.After(env.retryWait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err = etcdctl(ctx, o, "endpoint", "health"); err != nil {
			continue
		}
		if err = etcdctl(ctx, o, "snapshot", "save", file); err != nil {
			// A save that failed or was stopped may have written part of the file: no snapshot
			// may be listed that is not whole.
			if rerr := os.Remove(file); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				log.Printf("snapshot %s: %v", name, rerr)
			}
			continue
		}
		files := []string{file}
		if _, serr := os.Stat(state); serr == nil {
			files = append(files, state)
		}
		if err = zipFiles(file+".zip", files); err != nil {
			continue
		}
		for _, f := range files {
			if rerr := os.Remove(f); rerr != nil {
				log.Printf("snapshot %s: %v", name, rerr)
			}
		}
		log.Printf("snapshot %s saved to %s.zip", name, file)
		return nil
	}
	return fmt.Errorf("snapshot %s: %w", name, err)
}

func etcdctl(ctx context.Context, o backupOptions, args ...string) error {
	var eps []string
	for _, ep := range strings.Split(o.endpoints, ",") {
		if !strings.Contains(ep, "://") {
			ep = "https://" + ep
		}
		eps = append(eps, ep)
	}
	argv := append([]string{"--endpoints=" + strings.Join(eps, ","), "--cacert=" + o.cacert, "--cert=" + o.cert, "--key=" + o.key}, args...)
	out, err := exec.CommandContext(ctx, "etcdctl", argv...).CombinedOutput()
	if err == nil && strings.Contains(string(out), "unhealthy") {
		err = errors.New("unhealthy")
	}
	if err != nil {
		return fmt.Errorf("etcdctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// rollingSnapshots takes a snapshot named <RFC 3339 time>_etcd every creation interval and deletes
// those older than the retention, until Docker stops the container.
func rollingSnapshots(ctx context.Context, o backupOptions, env backupEnv) error {
	if o.creation <= 0 || o.retention <= 0 {
		return errors.New("--creation and --retention must be positive")
	}
	log.Printf("rolling snapshots every %s, kept for %s", o.creation, o.retention)
	tick := time.NewTicker(o.creation)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			name := now.UTC().Format(time.RFC3339) + "_etcd"
			if err := takeSnapshot(ctx, o, env, name); err != nil {
				log.Print(err)
			}
			pruneSnapshots(env, now.Add(-o.retention))
		}
	}
}

// pruneSnapshots deletes the rolling snapshots taken before cutoff; other files are not theirs.
func pruneSnapshots(env backupEnv, cutoff time.Time) {
	entries, err := os.ReadDir(env.backup)
	if err != nil {
		log.Printf("prune snapshots: %v", err)
		return
	}
	for _, e := range entries {
		stamp, ok := strings.CutSuffix(strings.TrimSuffix(e.Name(), ".zip"), "_etcd")
		t, err := time.Parse(time.RFC3339, stamp)
		if e.IsDir() || !ok || err != nil || !t.Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(env.backup, e.Name())); err != nil {
			log.Printf("prune snapshots: %v", err)
		}
	}
}

// deleteSnapshot removes a snapshot; with cleanup only the uncompressed copy a restore left, and
// only when the archive exists.
func deleteSnapshot(env backupEnv, name string, cleanup bool) error {
	archive, plain := filepath.Join(env.backup, name+".zip"), filepath.Join(env.backup, name)
	files := []string{archive, plain}
	if cleanup {
		if _, err := os.Stat(archive); err != nil {
			return nil
		}
		files = []string{plain}
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete snapshot %s: %w", name, err)
		}
	}
	return nil
}

// extractStateFile copies the cluster state saved with a snapshot to <tmp>/cluster.rkestate.
func extractStateFile(env backupEnv, name string) error {
	archive := filepath.Join(env.backup, name+".zip")
	entry := filepath.Join(env.k8s, name+".rkestate")
	if err := unzipFile(archive, entry, filepath.Join(env.tmp, "cluster.rkestate")); err != nil {
		return fmt.Errorf("extract the cluster state of snapshot %s: %w", name, err)
	}
	return nil
}

// writeFileAtomic writes r to file through a temporary sibling, so a failure never leaves a
// partial snapshot under the final name.
func writeFileAtomic(file string, r io.Reader) error {
	tmp := file + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, file)
}
