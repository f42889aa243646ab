package driver

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

// privateRegistryURL is host[:port] as Docker's image references name a registry: dot-separated
// labels and an optional port.
var privateRegistryURL = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:([0-9]{1,5}))?$`)

// maxHostLength is the longest DNS name.
const maxHostLength = 253

// parseRegistry reads the private registry options. On Update Rancher leaves the password out: the
// stored one stays, but only for the same registry and user, so it is never sent anywhere else.
func parseRegistry(r *optionReader, previous *provision.Spec) provision.Registry {
	g := provision.Registry{
		URL:      r.str(optRegistryURL),
		Username: r.str(optRegistryUser),
		Password: r.str(optRegistryPass),
		CACert:   certificatesOption(r, optRegistryCA),
	}
	if g.Password == "" && previous != nil && previous.Registry.URL == g.URL && previous.Registry.Username == g.Username {
		g.Password = previous.Registry.Password
	}
	if g.URL == "" {
		for _, o := range []string{optRegistryUser, optRegistryPass, optRegistryCA} {
			if r.str(o) != "" {
				r.problem(o, "needs %s: it belongs to the private registry", optRegistryURL)
			}
		}
		return g
	}
	if msg := checkRegistryURL(g.URL); msg != "" {
		r.problem(optRegistryURL, "%s, got %q", msg, g.URL)
	}
	if strings.ContainsFunc(g.Username, func(c rune) bool { return c == ':' || unicode.IsSpace(c) }) {
		r.problem(optRegistryUser, "must not contain ':' or white space")
	}
	switch {
	case g.Username != "" && g.Password == "":
		r.problem(optRegistryPass, "required with %s: the two go together", optRegistryUser)
	case g.Password != "" && g.Username == "":
		r.problem(optRegistryUser, "required with %s: the two go together", optRegistryPass)
	}
	return g
}

// checkRegistryURL says what is wrong with a registry's host[:port], or "" when nothing is.
func checkRegistryURL(s string) string {
	const form = "must be host[:port] without scheme or path, such as registry.example.com:5000"
	m := privateRegistryURL.FindStringSubmatch(s)
	if m == nil || len(s)-len(m[4]) > maxHostLength {
		return form
	}
	if port := m[5]; port != "" {
		if n, _ := strconv.Atoi(port); n < 1 || n > 65535 {
			return "port must be between 1 and 65535"
		}
	}
	// Docker reads the first part of an image name as a registry only when it has a dot or a
	// port, or is localhost; otherwise it would pull from Docker Hub.
	if !strings.ContainsAny(s, ".:") && s != "localhost" {
		return form + " (a name without a dot needs a port, except localhost)"
	}
	return ""
}

// certificatesOption reads PEM certificates, plain or base64-encoded, and returns them re-encoded
// without anything else the value held.
func certificatesOption(r *optionReader, name string) []byte {
	data := []byte(r.text(name, func(s string) bool { return strings.Contains(s, "-----BEGIN") }))
	if len(data) == 0 {
		return nil
	}
	var out []byte
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			r.problem(name, "must hold only PEM certificates, found a %s block", strings.ToLower(block.Type))
			return nil
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			r.problem(name, "holds a certificate that does not parse")
			return nil
		}
		out = append(out, pem.EncodeToMemory(block)...)
	}
	if len(out) == 0 {
		r.problem(name, "must be one or more PEM certificates (-----BEGIN CERTIFICATE-----), plain or base64-encoded")
	}
	return out
}

// certificatesDigest stands for PEM certificates in messages: short, and different for any change.
func certificatesDigest(pemData []byte) string {
	if len(pemData) == 0 {
		return ""
	}
	sum := sha256.Sum256(pemData)
	return fmt.Sprintf("sha256:%x", sum[:8])
}
