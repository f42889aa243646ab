package driver

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

// fingerprintVector is one case of driver/testdata/fingerprint.json, which the UI's tests read too.
type fingerprintVector struct {
	Values      map[string]string `json:"values"`
	Fingerprint string            `json:"fingerprint"`
}

func TestCredentialFingerprintVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/fingerprint.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []fingerprintVector
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) < 3 {
		t.Fatalf("only %d vectors", len(vectors))
	}
	seen := map[string]bool{}
	for _, v := range vectors {
		got := CredentialFingerprint(v.Values)
		if got != v.Fingerprint {
			t.Errorf("CredentialFingerprint(%v) = %s, want %s", v.Values, got, v.Fingerprint)
		}
		if seen[got] {
			t.Errorf("two vectors share fingerprint %s", got)
		}
		seen[got] = true
	}
}

func TestCredentialFingerprintOption(t *testing.T) {
	base := func() *types.DriverOptions {
		o := validOptions()
		delete(o.StringOptions, "kubeconfig-content")
		o.StringOptions["api-url"] = "https://harvester.example.com:6443"
		o.StringOptions["token"] = "new-token"
		return o
	}
	for _, tc := range []struct {
		name        string
		fingerprint string
		noSecret    bool
		wantProblem bool
	}{
		{"matches the secrets", CredentialFingerprint(map[string]string{"token": "new-token"}), false, false},
		{"absent", "", false, false},
		{"of another token", CredentialFingerprint(map[string]string{"token": "old-token"}), false, true},
		{"not hex", "zzzzzzzzzzzzzzzz", false, true},
		{"too long", CredentialFingerprint(map[string]string{"token": "new-token"}) + "00", false, true},
		// An Update from Rancher carries the fingerprint but not the secrets: nothing to compare.
		{"without secrets", CredentialFingerprint(map[string]string{"token": "new-token"}), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			var previous *provision.Spec
			if tc.noSecret {
				prev, err := ParseOptions(base())
				if err != nil {
					t.Fatal(err)
				}
				previous = &prev
				delete(o.StringOptions, "token")
			}
			if tc.fingerprint != "" {
				o.StringOptions["credentialFingerprint"] = tc.fingerprint
			}
			_, err := parseOptions(o, previous)
			var oe *OptionsError
			if got := errors.As(err, &oe); got != tc.wantProblem {
				t.Fatalf("problem = %v (%v), want %v", got, err, tc.wantProblem)
			}
			if tc.wantProblem && oe.Problems[0].Option != optFingerprint {
				t.Fatalf("problem names %s", oe.Problems[0].Option)
			}
		})
	}
}
