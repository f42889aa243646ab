package main

import (
	"archive/zip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func testEnv(t *testing.T) backupEnv {
	t.Helper()
	env := backupEnv{backup: t.TempDir(), k8s: t.TempDir(), tmp: t.TempDir(), port: "2379", retryWait: time.Millisecond}
	return env
}

// fakeEtcdctl puts an etcdctl on PATH that logs its arguments, reports health as told and writes
// a snapshot file (then fails, with FAKE_SAVE_FAILS set).
func fakeEtcdctl(t *testing.T, health string) string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	script := `#!/bin/bash
echo "$*" >> ` + log + `
case "$5" in
endpoint) echo "https://127.0.0.1:2379 is ` + health + `"; [ "` + health + `" = healthy ];;
snapshot) echo "etcd data" > "$7"; [ -z "$FAKE_SAVE_FAILS" ];;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "etcdctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return log
}

func TestParseBackupOptions(t *testing.T) {
	certs := []string{"--cacert", "/etc/kubernetes/ssl/kube-ca.pem", "--cert", "/etc/kubernetes/ssl/kube-node.pem", "--key", "/etc/kubernetes/ssl/kube-node-key.pem"}
	tests := []struct {
		name    string
		sub     string
		args    []string // as RKE v1.8.6 passes them after "etcd-backup <sub>"
		want    backupOptions
		wantErr string
	}{{
		name: "one-time snapshot",
		sub:  "save",
		args: append(append([]string{}, certs...), "--name", "snap1", "--endpoints=10.0.0.1:2379", "--once"),
		want: backupOptions{name: "snap1", endpoints: "10.0.0.1:2379", once: true},
	}, {
		name: "rolling snapshots",
		sub:  "save",
		args: append(append([]string{}, certs...), "--name", "etcd-rolling-snapshots", "--endpoints=10.0.0.1:2379", "--retention=72h", "--creation=12h"),
		want: backupOptions{name: "etcd-rolling-snapshots", endpoints: "10.0.0.1:2379", creation: 12 * time.Hour, retention: 72 * time.Hour},
	}, {
		name: "delete after restore",
		sub:  "delete",
		args: []string{"--name", "snap1", "--cleanup"},
		want: backupOptions{name: "snap1", cleanup: true},
	}, {
		name: "download from the backup server",
		sub:  "download",
		args: append([]string{"--name", "snap1", "--local-endpoint", "10.0.0.2"}, certs...),
		want: backupOptions{name: "snap1", localEndpoint: "10.0.0.2"},
	}, {
		name:    "S3",
		sub:     "save",
		args:    []string{"--name", "s", "--once", "--s3-backup=true", "--s3-endpoint=s3.example.com", "--s3-bucketName=b", "--s3-region="},
		wantErr: "S3 snapshots are not supported",
	}, {
		name:    "unknown flag",
		sub:     "save",
		args:    []string{"--bogus"},
		wantErr: "flag provided but not defined",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBackupOptions(tc.sub, tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Compare only what the case sets; defaults are checked by the other tests' behaviour.
			if tc.want.creation == 0 {
				got.creation, got.retention = 0, 0
			}
			if tc.want.endpoints == "" {
				got.endpoints = ""
			}
			got.cacert, got.cert, got.key, got.retries = "", "", "", 0
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTakeSnapshot(t *testing.T) {
	tests := []struct {
		name      string
		health    string
		withState bool
		wantErr   string
		wantZip   []string // entries, relative to the env's directories
	}{
		{name: "with cluster state", health: "healthy", withState: true, wantZip: []string{"backup/s1", "k8s/s1.rkestate"}},
		{name: "without cluster state", health: "healthy", wantZip: []string{"backup/s1"}},
		{name: "etcd unhealthy", health: "unhealthy", wantErr: "unhealthy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := fakeEtcdctl(t, tc.health)
			env := testEnv(t)
			state := filepath.Join(env.k8s, "s1.rkestate")
			if tc.withState {
				if err := os.WriteFile(state, []byte(`{"state":1}`), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			o := backupOptions{name: "s1", endpoints: "10.0.0.1:2379", cacert: "ca", cert: "c", key: "k", once: true, retries: 2}
			err := takeSnapshot(context.Background(), o, env, "s1")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want %q", err, tc.wantErr)
				}
				if n := strings.Count(readString(t, calls), "endpoint health"); n != 3 {
					t.Errorf("etcd health asked %d times, want 3 (first try and 2 retries)", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readString(t, calls); !strings.Contains(got, "--endpoints=https://10.0.0.1:2379 --cacert=ca --cert=c --key=k snapshot save "+filepath.Join(env.backup, "s1")) {
				t.Errorf("etcdctl calls:\n%s", got)
			}
			archive := filepath.Join(env.backup, "s1.zip")
			if fi, err := os.Stat(archive); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("snapshot archive: %v, %v", fi, err)
			}
			var names []string
			zr, err := zip.OpenReader(archive)
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			for _, f := range zr.File {
				n := strings.NewReplacer(env.backup, "backup", env.k8s, "k8s").Replace(f.Name)
				names = append(names, n)
			}
			sort.Strings(names)
			if !reflect.DeepEqual(names, tc.wantZip) {
				t.Errorf("archive entries %v, want %v", names, tc.wantZip)
			}
			for _, f := range []string{filepath.Join(env.backup, "s1"), state} {
				if _, err := os.Stat(f); !os.IsNotExist(err) {
					t.Errorf("%s left after archiving: %v", f, err)
				}
			}
			if tc.withState {
				if err := extractStateFile(env, "s1"); err != nil {
					t.Fatal(err)
				}
				if got := readString(t, filepath.Join(env.tmp, "cluster.rkestate")); got != `{"state":1}` {
					t.Errorf("extracted state %q", got)
				}
			} else if err := extractStateFile(env, "s1"); err == nil {
				t.Error("extracting a state the snapshot does not hold succeeded")
			}
		})
	}
}

func TestDeleteSnapshot(t *testing.T) {
	tests := []struct {
		name     string
		existing []string
		cleanup  bool
		want     []string
	}{
		{name: "delete", existing: []string{"s.zip", "s", "other.zip"}, want: []string{"other.zip"}},
		{name: "delete what is there", existing: []string{"s.zip"}, want: nil},
		{name: "cleanup after restore", existing: []string{"s.zip", "s"}, cleanup: true, want: []string{"s.zip"}},
		{name: "cleanup keeps the only copy", existing: []string{"s"}, cleanup: true, want: []string{"s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			for _, f := range tc.existing {
				if err := os.WriteFile(filepath.Join(env.backup, f), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := deleteSnapshot(env, "s", tc.cleanup); err != nil {
				t.Fatal(err)
			}
			if got := listDir(t, env.backup); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("left %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPruneSnapshots(t *testing.T) {
	env := testEnv(t)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	files := map[string]bool{ // name -> kept
		now.Add(-100*time.Hour).Format(time.RFC3339) + "_etcd.zip": false,
		now.Add(-100*time.Hour).Format(time.RFC3339) + "_etcd":     false,
		now.Add(-1*time.Hour).Format(time.RFC3339) + "_etcd.zip":   true,
		"manual-snapshot.zip":            true,
		"2020-01-01T00:00:00Z_other.zip": true,
	}
	var want []string
	for f, kept := range files {
		if err := os.WriteFile(filepath.Join(env.backup, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if kept {
			want = append(want, f)
		}
	}
	sort.Strings(want)
	pruneSnapshots(env, now.Add(-72*time.Hour))
	if got := listDir(t, env.backup); !reflect.DeepEqual(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
}

// A save that wrote part of its file and failed leaves no file that looks like a snapshot.
// Regression: a rolling snapshot stopped mid-save left its raw file in the backup directory.
func TestFailedSaveLeavesNoFile(t *testing.T) {
	fakeEtcdctl(t, "healthy")
	t.Setenv("FAKE_SAVE_FAILS", "1")
	env := testEnv(t)
	o := backupOptions{endpoints: "127.0.0.1:2379", cacert: "ca", cert: "c", key: "k", retries: 1}
	if err := takeSnapshot(context.Background(), o, env, "s1"); err == nil {
		t.Fatal("takeSnapshot succeeded with a failing etcdctl")
	}
	if got := listDir(t, env.backup); len(got) != 0 {
		t.Errorf("backup directory after a failed save: %v, want empty", got)
	}
}

func TestRollingSnapshots(t *testing.T) {
	fakeEtcdctl(t, "healthy")
	env := testEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	o := backupOptions{endpoints: "127.0.0.1:2379", cacert: "ca", cert: "c", key: "k", creation: 20 * time.Millisecond, retention: time.Hour}
	go func() { done <- rollingSnapshots(ctx, o, env) }()
	deadline := time.Now().Add(10 * time.Second)
	whole := func() bool {
		for _, f := range listDir(t, env.backup) {
			if strings.HasSuffix(f, ".zip") {
				return true
			}
		}
		return false
	}
	for !whole() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stopped with %v, want nil (a stopped container is not a failure)", err)
	}
	got := listDir(t, env.backup)
	if len(got) == 0 {
		t.Fatal("no snapshot")
	}
	for _, f := range got {
		if !strings.HasSuffix(f, "_etcd.zip") {
			t.Fatalf("snapshots %v, want only <time>_etcd.zip", got)
		}
	}
	if _, err := time.Parse(time.RFC3339, strings.TrimSuffix(got[0], "_etcd.zip")); err != nil {
		t.Errorf("snapshot name %s: %v", got[0], err)
	}
}

// TestServeAndDownload copies a snapshot between two "hosts" as RKE's restore does: the archive is
// uncompressed on the serving host and fetched over mutual TLS with the node certificate.
func TestServeAndDownload(t *testing.T) {
	pki := t.TempDir()
	caCert, caKey := newCA(t)
	writePEM(t, filepath.Join(pki, "ca.pem"), "CERTIFICATE", caCert.Raw)
	writeLeaf(t, pki, "node", caCert, caKey)
	otherCA, otherKey := newCA(t)
	writeLeaf(t, pki, "stranger", otherCA, otherKey)
	o := backupOptions{cacert: filepath.Join(pki, "ca.pem"), cert: filepath.Join(pki, "node.pem"), key: filepath.Join(pki, "node-key.pem")}

	server := testEnv(t)
	name := "c-abc-ml-2025-06-01T12:00:00Z" // characters HTTP routing patterns would trip on
	if err := os.WriteFile(filepath.Join(server.backup, name), []byte("etcd data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := zipFiles(filepath.Join(server.backup, name+".zip"), []string{filepath.Join(server.backup, name)}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(server.backup, name)); err != nil {
		t.Fatal(err)
	}
	srv, err := newSnapshotServer(o, server, name)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- runSnapshotServer(ctx, srv, ln) }()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	tests := []struct {
		name    string
		opts    backupOptions
		snap    string
		wantErr string
	}{
		{name: "node certificate", opts: o, snap: name},
		{name: "unknown snapshot", opts: o, snap: "other", wantErr: "404"},
		{name: "certificate of another CA", opts: backupOptions{cacert: o.cacert, cert: filepath.Join(pki, "stranger.pem"), key: filepath.Join(pki, "stranger-key.pem")}, snap: name, wantErr: "download snapshot"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := testEnv(t)
			client.port = port
			tc.opts.localEndpoint = "127.0.0.1"
			err := downloadSnapshot(context.Background(), tc.opts, client, tc.snap)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want %q", err, tc.wantErr)
				}
				if got := listDir(t, client.backup); len(got) != 0 {
					t.Errorf("failed download left %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readString(t, filepath.Join(client.backup, tc.snap)); got != "etcd data" {
				t.Errorf("downloaded %q", got)
			}
		})
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Errorf("server stopped with %v", err)
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kube-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// writeLeaf writes a client and server certificate without IP addresses, like RKE's kube-node.
func writeLeaf(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "system:node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, name+"-key.pem"), "EC PRIVATE KEY", kder)
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readString(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
