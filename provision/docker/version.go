package docker

import (
	"errors"
	"strings"
)

// ErrUnsupportedVersion is wrapped when a node runs a Docker version outside
// Config.SupportedVersions.
var ErrUnsupportedVersion = errors.New("docker version not supported by RKE")

// supported reports whether version matches one of cfg's patterns (or there are none).
func (cfg Config) supported(version string) bool {
	if cfg.IgnoreUnsupportedVersion || len(cfg.SupportedVersions) == 0 {
		return true
	}
	for _, p := range cfg.SupportedVersions {
		if versionMatches(p, version) {
			return true
		}
	}
	return false
}

// versionMatches compares dot-separated parts; "x" or "*" matches any part and parts the pattern
// does not have are not compared. Only the leading digits of a version part count, so Debian's
// "20.10.24+dfsg1" matches "20.10.x", as RKE compares major and minor only.
func versionMatches(pattern, version string) bool {
	pp := strings.Split(pattern, ".")
	vp := strings.Split(strings.TrimPrefix(version, "v"), ".")
	if len(vp) < len(pp) {
		return false
	}
	for i, p := range pp {
		if p == "x" || p == "*" {
			continue
		}
		if p != leadingDigits(vp[i]) {
			return false
		}
	}
	return true
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
