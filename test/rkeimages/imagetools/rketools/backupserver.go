package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// serveSnapshot serves the uncompressed snapshot over HTTPS to the other etcd hosts (RKE's restore
// stops etcd on one host and runs this there), to clients with a certificate of the cluster CA.
func serveSnapshot(ctx context.Context, o backupOptions, env backupEnv, name string) error {
	srv, err := newSnapshotServer(o, env, name)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", ":"+env.port)
	if err != nil {
		return fmt.Errorf("serve snapshot %s: %w", name, err)
	}
	return runSnapshotServer(ctx, srv, ln)
}

func newSnapshotServer(o backupOptions, env backupEnv, name string) (*http.Server, error) {
	file := filepath.Join(env.backup, name)
	if _, err := os.Stat(file + ".zip"); err == nil {
		if err := unzipFile(file+".zip", file, file); err != nil {
			return nil, fmt.Errorf("serve snapshot %s: %w", name, err)
		}
	}
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("serve snapshot %s: %w", name, err)
	}
	pool, pair, err := loadTLS(o)
	if err != nil {
		return nil, err
	}
	// Compared, not routed: a snapshot name may hold characters ServeMux patterns give meaning to.
	serve := func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/"+name {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, file)
	}
	return &http.Server{
		Handler:           http.HandlerFunc(serve),
		ReadHeaderTimeout: 30 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{pair},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
	}, nil
}

// runSnapshotServer serves until ctx is done (Docker stops the container), then shuts down.
func runSnapshotServer(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve snapshot: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("stop serving snapshot: %w", err)
		}
		return nil
	}
}

// downloadSnapshot fetches the snapshot from the backup server at --local-endpoint into the backup
// directory.
func downloadSnapshot(ctx context.Context, o backupOptions, env backupEnv, name string) error {
	if o.localEndpoint == "" {
		return errors.New("--local-endpoint is required")
	}
	pool, pair, err := loadTLS(o)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{pair},
		MinVersion:   tls.VersionTLS12,
		// The server presents a node certificate without the host's address: check it was issued
		// by the cluster CA, not its names.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: verifyChain(pool),
	}}}
	url := "https://" + net.JoinHostPort(o.localEndpoint, env.port) + "/" + name
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("download snapshot %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download snapshot %s from %s: %s", name, url, resp.Status)
	}
	if err := writeFileAtomic(filepath.Join(env.backup, name), resp.Body); err != nil {
		return fmt.Errorf("download snapshot %s: %w", name, err)
	}
	return nil
}

func loadTLS(o backupOptions) (*x509.CertPool, tls.Certificate, error) {
	if o.cacert == "" || o.cert == "" || o.key == "" {
		return nil, tls.Certificate{}, errors.New("--cacert, --cert and --key are required")
	}
	ca, err := os.ReadFile(o.cacert)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, tls.Certificate{}, fmt.Errorf("%s: no certificate", o.cacert)
	}
	pair, err := tls.LoadX509KeyPair(o.cert, o.key)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	return pool, pair, nil
}

func verifyChain(roots *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("no server certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, r := range raw {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				return err
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err
	}
}
