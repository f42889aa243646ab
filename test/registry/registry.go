// Package registry runs a private container registry for tests: Debian's docker-registry (the
// CNCF distribution registry) serving over TLS with a CA of its own and with basic auth, so that
// fake hosts can pull RKE's images from it as real nodes pull from a private registry. It pushes
// docker-archive images into it and reads back from its log which manifests were pulled, by whom.
// Test support only, never linked into the driver.
package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/logtail"
)

// Binary is the registry program of Debian's docker-registry package.
const Binary = "/usr/bin/docker-registry"

// stopGrace is how long Close waits after SIGTERM before it kills the registry.
const stopGrace = 10 * time.Second

// Options say where a registry listens, where it keeps its files and whom it lets in.
type Options struct {
	// Addr is host:port to listen on. The host, an IP address or a name, is also the name in the
	// server certificate, so it must be the one clients dial: not empty, not 0.0.0.0.
	Addr string
	// Dir holds the configuration, certificates, log and, in Dir/storage, the images; the
	// images stay there for the next start.
	Dir string
	// Storage, when set, holds the images instead of Dir/storage: a directory that outlives Dir,
	// e.g. a cache shared by registries that only read from it.
	Storage string
	// Username and Password are the only credentials the registry accepts.
	Username, Password string
}

// Registry is a running registry.
type Registry struct {
	addr, user, password string
	dir                  string
	caPEM                []byte
	client               *http.Client
	cmd                  *exec.Cmd
	done                 chan struct{} // closed when the process has exited and been reaped
	waitErr              error         // the process's exit, valid once done is closed
	closeOnce            sync.Once
	closeErr             error
}

// Start starts a registry and returns once it answers on opts.Addr; ctx bounds only the start.
func Start(ctx context.Context, opts Options) (*Registry, error) {
	host, err := checkOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.storage(), 0o755); err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	caPEM, err := writeConfig(opts, host)
	if err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	r := &Registry{
		addr: opts.Addr, user: opts.Username, password: opts.Password,
		dir: opts.Dir, caPEM: caPEM, done: make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			Proxy:           nil, // the registry is local: never through a proxy from the environment
		}},
	}
	// The log is truncated so that Pulls reports this run's pulls only.
	logf, err := os.Create(filepath.Join(opts.Dir, logFile))
	if err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	cmd := exec.Command(Binary, "serve", filepath.Join(opts.Dir, configFile))
	cmd.Stdout, cmd.Stderr = logf, logf
	// REGISTRY_* variables would override the configuration file: none come from the test.
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	// Pdeathsig: a crashed test leaves no registry behind. Own process group: a terminal's Ctrl-C
	// reaches the test, which then stops the registry with Close.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start registry: %w", err)
	}
	r.cmd = cmd
	go func() {
		r.waitErr = cmd.Wait()
		logf.Close()
		close(r.done)
	}()
	if err := r.waitReady(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("start registry on %s: %w", opts.Addr, err)
	}
	return r, nil
}

// storage is the directory of the images.
func (o Options) storage() string {
	if o.Storage != "" {
		return o.Storage
	}
	return filepath.Join(o.Dir, storageDir)
}

// checkOptions returns the host of opts.Addr, or why the options cannot work.
func checkOptions(opts Options) (string, error) {
	host, port, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return "", fmt.Errorf("registry address %q: %w", opts.Addr, err)
	}
	if ip := net.ParseIP(host); host == "" || port == "" || port == "0" || (ip != nil && ip.IsUnspecified()) {
		return "", fmt.Errorf("registry address %q: want the host and port clients dial", opts.Addr)
	}
	switch {
	case opts.Dir == "":
		return "", errors.New("registry: no directory")
	case opts.Username == "" || strings.ContainsAny(opts.Username, ":\n"):
		return "", errors.New("registry: the username must be set, without ':' or a newline")
	case opts.Password == "":
		return "", errors.New("registry: no password")
	case len(opts.Password) > 72:
		return "", errors.New("registry: the password is longer than bcrypt's 72 bytes")
	}
	return host, nil
}

// waitReady polls the API's base until it asks for credentials (401): the registry serves TLS
// with its certificate and has loaded the password file.
func (r *Registry) waitReady(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.apiURL("/v2/"), nil)
		if err != nil {
			return err
		}
		resp, err := r.client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			err = fmt.Errorf("GET /v2/ without credentials: %s, want 401", resp.Status)
		}
		last = err
		select {
		case <-r.done:
			return r.exitError()
		case <-ctx.Done():
			return fmt.Errorf("not ready (%v): %w", last, ctx.Err())
		case <-tick.C:
		}
	}
}

// exitError says how the registry ended, with the end of its log.
func (r *Registry) exitError() error {
	data, _ := os.ReadFile(filepath.Join(r.dir, logFile))
	return fmt.Errorf("docker-registry exited (%v); end of its log:\n%s", r.waitErr, logtail.Last(string(data), 20))
}

// URL is the registry's host:port, as image names and Docker's certs.d directories spell it.
func (r *Registry) URL() string { return r.addr }

// CAPEM is the certificate (PEM) of the CA that signed the registry's server certificate.
func (r *Registry) CAPEM() []byte { return r.caPEM }

// Close stops the registry (SIGTERM, SIGKILL after stopGrace) and returns once it has exited; it
// reports a registry that had exited on its own. The images stay in the directory.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		select {
		case <-r.done:
			r.closeErr = r.exitError()
			return
		default:
		}
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(stopGrace):
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r.closeErr
}

func (r *Registry) apiURL(path string) string { return "https://" + r.addr + path }
