package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

const (
	testUser     = "tester"
	testPassword = "not-in-any-file-9f3c"
)

func TestCheckOptions(t *testing.T) {
	good := Options{Addr: "127.0.0.1:5000", Dir: "/tmp/x", Username: "u", Password: "p"}
	tests := []struct {
		name string
		edit func(*Options)
		ok   bool
	}{
		{"good", func(*Options) {}, true},
		{"a DNS name", func(o *Options) { o.Addr = "registry.test:443" }, true},
		{"no port", func(o *Options) { o.Addr = "127.0.0.1" }, false},
		{"no host", func(o *Options) { o.Addr = ":5000" }, false},
		{"any address", func(o *Options) { o.Addr = "0.0.0.0:5000" }, false},
		{"port 0", func(o *Options) { o.Addr = "127.0.0.1:0" }, false},
		{"no directory", func(o *Options) { o.Dir = "" }, false},
		{"no username", func(o *Options) { o.Username = "" }, false},
		{"colon in username", func(o *Options) { o.Username = "a:b" }, false},
		{"no password", func(o *Options) { o.Password = "" }, false},
		{"password too long for bcrypt", func(o *Options) { o.Password = strings.Repeat("x", 73) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			_, err := checkOptions(o)
			if (err == nil) != tt.ok {
				t.Errorf("checkOptions: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	if _, err := os.Stat(Binary); err != nil {
		testenv.Skipf(t, "needs Debian's docker-registry package (%s): %v", Binary, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	opts := Options{Addr: freeAddr(t), Dir: dir, Username: testUser, Password: testPassword}
	r, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	t.Run("credentials", func(t *testing.T) {
		tests := []struct {
			name, user, password string
			basic                bool
			want                 int
		}{
			{"none", "", "", false, http.StatusUnauthorized},
			{"wrong password", testUser, "wrong", true, http.StatusUnauthorized},
			{"unknown user", "someone", testPassword, true, http.StatusUnauthorized},
			{"right", testUser, testPassword, true, http.StatusOK},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.apiURL("/v2/"), nil)
				if tt.basic {
					req.SetBasicAuth(tt.user, tt.password)
				}
				resp, err := r.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Errorf("GET /v2/ as %q: %s, want %d", tt.user, resp.Status, tt.want)
				}
			})
		}
	})

	t.Run("only its CA is trusted", func(t *testing.T) {
		pool, err := x509.SystemCertPool()
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := c.Get(r.apiURL("/v2/"))
		if err == nil {
			resp.Body.Close()
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("GET without the registry's CA: %v, want an unknown authority error", err)
		}
	})

	checkNoPassword(t, dir)
	pid := r.cmd.Process.Pid
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("after Close, signal 0 to the registry (pid %d): %v, want no such process", pid, err)
	}

	// A new start on the same directory makes a new CA.
	r2, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if bytes.Equal(r2.CAPEM(), r.CAPEM()) {
		t.Error("a new start kept the CA")
	}
}

// checkNoPassword fails when a file of the registry's directory holds the password in clear.
func checkNoPassword(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err == nil && bytes.Contains(data, []byte(testPassword)) {
			t.Errorf("%s holds the password", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// freeAddr is a 127.0.0.1 address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
