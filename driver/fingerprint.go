package driver

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// fingerprintLength is how many hex digits of the digest the form sends: enough to tell two
// credentials apart, too few to test guesses of a token against.
const fingerprintLength = 16

// CredentialFingerprint is the credential-fingerprint of the secret options that can change after
// creation. Rancher passes an Update on to the driver only when a non-secret option changed
// (rancher#51473), so the cluster form sends this with a new credential. values maps option names
// to the values as entered, without surrounding white space; absent options count as empty. The form computes the same digest
// (ui/pkg/harvesterrke/util/fingerprint.ts; driver/testdata/fingerprint.json holds shared vectors).
func CredentialFingerprint(values map[string]string) string {
	var b strings.Builder
	for _, o := range Options() {
		if o.Secret && o.Mutable {
			b.WriteString(o.Name + "=" + values[o.Name] + "\n")
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])[:fingerprintLength]
}

// checkFingerprint compares a fingerprint the form sent with the secrets sent along with it. On
// an Update Rancher leaves the secrets out: then there is nothing to compare.
func checkFingerprint(r *optionReader) {
	fp := r.str(optFingerprint)
	if fp == "" {
		return
	}
	values := map[string]string{}
	given := false
	for _, o := range Options() {
		if o.Secret && o.Mutable {
			values[o.Name] = r.str(o.Name)
			given = given || values[o.Name] != ""
		}
	}
	switch {
	case len(fp) != fingerprintLength || strings.Trim(fp, "0123456789abcdef") != "":
		r.problem(optFingerprint, "must be %d lowercase hex digits, as the cluster form computes it; leave it empty when not using the form", fingerprintLength)
	case given && fp != CredentialFingerprint(values):
		r.problem(optFingerprint, "does not match the secret options given with it; leave it empty when not using the cluster form")
	}
}
