package registry

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/bcrypt"
	"sigs.k8s.io/yaml"
)

// The files of a registry's directory. The storage subdirectory (unless Options.Storage is elsewhere)
// is kept between starts, so images pushed once are there for the next run; everything else is
// written anew at each start.
const (
	configFile = "config.yml"
	htpasswd   = "htpasswd"
	caFile     = "ca.pem"
	certFile   = "server.pem"
	keyFile    = "server-key.pem"
	logFile    = "registry.log"
	storageDir = "storage"
)

const authRealm = "harvesterrke-test-registry"

// config is the part of the distribution registry's configuration (version 0.1) that is set here.
type config struct {
	Version string        `json:"version"`
	Log     logConfig     `json:"log"`
	Storage storageConfig `json:"storage"`
	HTTP    httpConfig    `json:"http"`
	Auth    authConfig    `json:"auth"`
}

type logConfig struct {
	// The Apache-style access log is off: it would put plain-text lines among the JSON ones,
	// which have the same requests and, in their debug lines, the user; Pulls reads those.
	AccessLog struct {
		Disabled bool `json:"disabled"`
	} `json:"accesslog"`
	// Level is debug because only the debug lines of a successful request name its user.
	Level     string `json:"level"`
	Formatter string `json:"formatter"`
}

type storageConfig struct {
	Filesystem struct {
		RootDirectory string `json:"rootdirectory"`
	} `json:"filesystem"`
}

type httpConfig struct {
	Addr string `json:"addr"`
	// Secret signs upload state; set so the registry does not warn about a random one.
	Secret string `json:"secret"`
	TLS    struct {
		Certificate string `json:"certificate"`
		Key         string `json:"key"`
	} `json:"tls"`
}

type authConfig struct {
	Htpasswd struct {
		Realm string `json:"realm"`
		Path  string `json:"path"`
	} `json:"htpasswd"`
}

// writeConfig writes the configuration, the TLS files (the CA's too, for people and tools that
// want a file) and the password file into opts.Dir, and returns the CA certificate (PEM).
func writeConfig(opts Options, host string) ([]byte, error) {
	dir := opts.Dir
	files, err := newTLSFiles(host)
	if err != nil {
		return nil, err
	}
	// bcrypt is the only hash the registry's htpasswd support accepts. It checks the hash on every
	// request: at the default cost that is ~70 ms each, at the least ~1 ms, and this file never
	// leaves the test's directory.
	hash, err := bcrypt.GenerateFromPassword([]byte(opts.Password), bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("hash the password: %w", err)
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("http secret: %w", err)
	}

	var c config
	c.Version = "0.1"
	c.Log.AccessLog.Disabled = true
	c.Log.Level, c.Log.Formatter = "debug", "json"
	c.Storage.Filesystem.RootDirectory = opts.storage()
	c.HTTP.Addr, c.HTTP.Secret = opts.Addr, hex.EncodeToString(secret)
	c.HTTP.TLS.Certificate, c.HTTP.TLS.Key = filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	c.Auth.Htpasswd.Realm, c.Auth.Htpasswd.Path = authRealm, filepath.Join(dir, htpasswd)
	data, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("registry configuration: %w", err)
	}

	for _, f := range []struct {
		name string
		data []byte
	}{
		{configFile, data},
		{caFile, files.caCert},
		{certFile, files.serverCert},
		{keyFile, files.serverKey},
		{htpasswd, fmt.Appendf(nil, "%s:%s\n", opts.Username, hash)},
	} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return nil, fmt.Errorf("write registry file: %w", err)
		}
	}
	return files.caCert, nil
}
