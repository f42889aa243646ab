// Package docker makes sure a supported Docker engine runs on every node: it generates an
// idempotent bootstrap script and runs it over SSH on all nodes in parallel.
package docker

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
	// SupportedVersions are the engine versions RKE accepts, as patterns like "28.1.x".
	SupportedVersions []string
	// IgnoreUnsupportedVersion accepts any installed version.
	IgnoreUnsupportedVersion bool
}
