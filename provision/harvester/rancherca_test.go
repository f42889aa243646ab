package harvester

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
)

// In Rancher's jail the CA that signed Harvester's certificate may be Rancher's own
// (/etc/ssl/cacerts.pem): a Harvester API without certificate-authority-data must then be trusted,
// and the credentials must still reach it (a bearer token here).
func TestRancherCAFilesAreTrusted(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer the-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		review := authorizationv1.SelfSubjectAccessReview{}
		review.APIVersion, review.Kind = "authorization.k8s.io/v1", "SelfSubjectAccessReview"
		review.Status.Allowed = true
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(review)
	}))
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "cacerts.pem")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	saved := RancherCAFiles
	t.Cleanup(func() { RancherCAFiles = saved })

	for _, tc := range []struct {
		name    string
		files   []string
		creds   Credentials
		wantErr string
	}{
		{"no Rancher CA: unknown authority", []string{filepath.Join(t.TempDir(), "absent.pem")},
			Credentials{Server: srv.URL, Token: "the-token"}, "TLS verification"},
		{"Rancher CA trusted", []string{filepath.Join(t.TempDir(), "absent.pem"), caFile},
			Credentials{Server: srv.URL, Token: "the-token"}, ""},
		{"credentials still sent", []string{caFile}, Credentials{Server: srv.URL, Token: "wrong"}, "rejected the credentials"},
		{"a CA of the cluster's own is the only root", []string{caFile},
			Credentials{Server: srv.URL, Token: "the-token", CAData: otherCA(t)}, "TLS verification"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			RancherCAFiles = tc.files
			c, err := NewClient(tc.creds)
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckAccess(context.Background(), "vms")
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "the-token") {
				t.Fatalf("error shows the token: %v", err)
			}
		})
	}
}

// otherCA is a CA that signed nothing the test server presents.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
