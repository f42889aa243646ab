package ssh

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

func TestGenerateClientKey(t *testing.T) {
	k, err := GenerateClientKey("harvesterrke-c-abc")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ParsePrivateKey(k.PrivatePEM)
	if err != nil {
		t.Fatalf("generated key does not parse: %v", err)
	}
	if got := MarshalPublicKey(signer.PublicKey()) + " harvesterrke-c-abc"; got != k.AuthorizedKey {
		t.Errorf("AuthorizedKey = %q, want %q", k.AuthorizedKey, got)
	}
	// OpenSSH's own parser path must accept it too.
	if _, err := gossh.ParseRawPrivateKey(k.PrivatePEM); err != nil {
		t.Errorf("x/crypto rejects the PEM: %v", err)
	}
	other, _ := GenerateClientKey("")
	if bytes.Equal(other.PrivatePEM, k.PrivatePEM) {
		t.Error("two generated keys are equal")
	}
}

func TestParsePrivateKey(t *testing.T) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	openssh := func(key any) []byte {
		b, err := gossh.MarshalPrivateKey(key, "c")
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(b)
	}
	pkcs8 := func(key any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pemOf("PRIVATE KEY", der)
	}
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	encrypted, err := gossh.MarshalPrivateKeyWithPassphrase(ed, "c", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	wrapped := func(b []byte) []byte { // base64 in 60-column lines, as pasted into forms
		s := base64.StdEncoding.EncodeToString(b)
		var out strings.Builder
		for len(s) > 60 {
			out.WriteString(s[:60] + "\n")
			s = s[60:]
		}
		out.WriteString(s)
		return []byte(out.String())
	}
	garbage := "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbC1kby1ub3QtbGVhaw==\n-----END OPENSSH PRIVATE KEY-----\n"

	tests := []struct {
		name    string
		data    []byte
		typ     string // wanted key type; empty means an error
		errWord string
	}{
		{name: "ed25519 openssh", data: openssh(ed), typ: gossh.KeyAlgoED25519},
		{name: "ed25519 pkcs8", data: pkcs8(ed), typ: gossh.KeyAlgoED25519},
		{name: "ecdsa sec1", data: pemOf("EC PRIVATE KEY", ecDER), typ: gossh.KeyAlgoECDSA384},
		{name: "ecdsa openssh", data: openssh(ec), typ: gossh.KeyAlgoECDSA384},
		{name: "rsa pkcs1", data: pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rs)), typ: gossh.KeyAlgoRSA},
		{name: "rsa pkcs8 with blanks around", data: append(append([]byte("\n  "), pkcs8(rs)...), "\n\n"...), typ: gossh.KeyAlgoRSA},
		{name: "base64 of openssh", data: []byte(base64.StdEncoding.EncodeToString(openssh(ed))), typ: gossh.KeyAlgoED25519},
		{name: "wrapped base64 of pkcs1", data: wrapped(pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rs))), typ: gossh.KeyAlgoRSA},
		{name: "passphrase", data: pem.EncodeToMemory(encrypted), errWord: "passphrase"},
		{name: "public key", data: []byte(MarshalPublicKey(newED25519(t).PublicKey())), errWord: "neither PEM"},
		{name: "corrupt body", data: []byte(garbage), errWord: "not an RSA"},
		{name: "base64 of garbage", data: []byte(base64.StdEncoding.EncodeToString([]byte("secret-key-material"))), errWord: "neither PEM"},
		{name: "empty", data: nil, errWord: "neither PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParsePrivateKey(tt.data)
			if tt.typ != "" {
				if err != nil {
					t.Fatalf("ParsePrivateKey: %v", err)
				}
				if s.PublicKey().Type() != tt.typ {
					t.Errorf("type = %s, want %s", s.PublicKey().Type(), tt.typ)
				}
				return
			}
			if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), tt.errWord) {
				t.Fatalf("error = %v, want ErrInvalidKey mentioning %q", err, tt.errWord)
			}
			for _, piece := range []string{"c2VjcmV0", "secret-key", "AAAA"} {
				if strings.Contains(err.Error(), piece) {
					t.Errorf("error echoes key material %q", piece)
				}
			}
		})
	}
}

func TestDeriveHostKey(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, SeedSize)
	a1, err := DeriveHostKey(seed, "pool1-0")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := DeriveHostKey(seed, "pool1-0")
	b, _ := DeriveHostKey(seed, "pool1-1")
	other, _ := DeriveHostKey(bytes.Repeat([]byte{8}, SeedSize), "pool1-0")

	if !bytes.Equal(a1.PrivatePEM, a2.PrivatePEM) || MarshalPublicKey(a1.Public) != MarshalPublicKey(a2.Public) {
		t.Error("the same seed and node give different keys")
	}
	for name, k := range map[string]HostKey{"other node": b, "other seed": other} {
		if MarshalPublicKey(k.Public) == MarshalPublicKey(a1.Public) {
			t.Errorf("%s gives the same key", name)
		}
	}
	// The PEM is what sshd loads: it must hold the private half of Public.
	signer, err := gossh.ParsePrivateKey(a1.PrivatePEM)
	if err != nil {
		t.Fatalf("host key PEM does not parse: %v", err)
	}
	if MarshalPublicKey(signer.PublicKey()) != MarshalPublicKey(a1.Public) {
		t.Error("PEM and public key differ")
	}
	if !strings.HasPrefix(MarshalPublicKey(a1.Public), "ssh-ed25519 ") {
		t.Errorf("public key %q is not ed25519", MarshalPublicKey(a1.Public))
	}

	for _, bad := range []struct {
		seed []byte
		node string
	}{{seed[:16], "n"}, {nil, "n"}, {seed, ""}} {
		if _, err := DeriveHostKey(bad.seed, bad.node); err == nil {
			t.Errorf("DeriveHostKey(%d-byte seed, %q) succeeded", len(bad.seed), bad.node)
		}
	}
}

func TestNewHostKeySeed(t *testing.T) {
	a, err := NewHostKeySeed()
	if err != nil || len(a) != SeedSize {
		t.Fatalf("NewHostKeySeed = %d bytes, %v", len(a), err)
	}
	if b, _ := NewHostKeySeed(); bytes.Equal(a, b) {
		t.Error("two seeds are equal")
	}
}
