// Package docker makes sure a supported Docker engine runs on every node: it generates an
// idempotent bootstrap script and runs it over SSH on all nodes in parallel.
package docker

import (
	"context"
	"io"
)

// Install methods.
const (
	InstallScript = "script" // run an install script fetched from Config.InstallURL
	InstallDistro = "distro" // the distribution's packages (docker.io / docker)
	InstallNone   = "none"   // never install: Docker must be in the image
)

// Config is the Docker engine the nodes must run.
type Config struct {
	InstallMethod      string
	InstallURL         string
	RegistryMirrors    []string
	InsecureRegistries []string
	StorageDriver      string
	Labels             []string          // engine labels, key=value
	Options            map[string]string // extra daemon.json keys; values are JSON or plain strings
	// RegistryCA, when set, is a registry's CA that Docker trusts for it.
	RegistryCA RegistryCA
	// SupportedVersions are the engine versions RKE accepts, as patterns like "28.1.x"; empty
	// means no check. Both this and IgnoreUnsupportedVersion come from RKE's settings.
	SupportedVersions []string
	// IgnoreUnsupportedVersion accepts any installed version (RKE's ignore_docker_version).
	IgnoreUnsupportedVersion bool
}

// RegistryCA is the CA certificate of a registry with a certificate from a private CA.
type RegistryCA struct {
	Host string // host[:port], as images name the registry
	PEM  []byte // one or more certificates
}

// Runner runs a command on a node; *ssh.Client satisfies it. output receives every line of the
// combined stdout and stderr; the error must not contain output (this package masks and reports it).
type Runner interface {
	Run(ctx context.Context, command string, stdin io.Reader, output func(line string)) error
}

// Node is one node to bootstrap.
type Node struct {
	Name string // in progress and errors
	// User is the SSH user: it joins the docker group; for any user but root the script runs with
	// "sudo -n" (passwordless sudo, as cloud images set up).
	User   string
	Runner Runner
}

// Result is the outcome on one node.
type Result struct {
	Node    string
	Version string // the engine version; empty if the node failed
	Changed bool   // something was installed, written, started or restarted
}

// Options tune Bootstrap.
type Options struct {
	Concurrency int // nodes bootstrapped at once; zero means 10
	// Secrets are masked in progress and errors (besides anything that looks like a private key),
	// e.g. registry credentials that could appear in output.
	Secrets []string
	// Ready, when set, runs on node i (the index in Bootstrap's nodes) as soon as its Docker is
	// ready, before the other nodes finish; its error is that node's failure.
	Ready func(ctx context.Context, i int) error
}
