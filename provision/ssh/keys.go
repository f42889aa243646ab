package ssh

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	gossh "golang.org/x/crypto/ssh"
)

// ErrInvalidKey is returned for key material that cannot be used. Its messages never quote the
// material: parser errors can contain pieces of it.
var ErrInvalidKey = errors.New("invalid ssh private key")

// ClientKey is a generated client key pair.
type ClientKey struct {
	PrivatePEM    []byte // OpenSSH format, to persist and to pass to ParsePrivateKey later
	AuthorizedKey string // one authorized_keys line (no newline), for cloud-init ssh_authorized_keys
}

// GenerateClientKey makes the per-cluster ed25519 client key pair.
func GenerateClientKey(comment string) (ClientKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return ClientKey{}, fmt.Errorf("generate ssh client key: %w", err)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		return ClientKey{}, fmt.Errorf("generate ssh client key: %w", err)
	}
	return ClientKey{
		PrivatePEM:    marshalED25519(priv, comment),
		AuthorizedKey: MarshalPublicKey(sshPub) + commentSuffix(comment),
	}, nil
}

// ParsePrivateKey reads a user-supplied unencrypted RSA, ECDSA or ed25519 private key in PEM
// (PKCS#1, PKCS#8, SEC 1) or OpenSSH format, or base64 of any of those.
func ParsePrivateKey(data []byte) (gossh.Signer, error) {
	data = bytes.TrimSpace(data)
	if !bytes.HasPrefix(data, []byte("-----BEGIN")) {
		// Options forms often carry keys base64-encoded so they survive as one line.
		compact := strings.Join(strings.Fields(string(data)), "")
		decoded, err := base64.StdEncoding.DecodeString(compact)
		if err != nil || !bytes.HasPrefix(bytes.TrimSpace(decoded), []byte("-----BEGIN")) {
			return nil, fmt.Errorf("%w: neither PEM nor base64 of PEM", ErrInvalidKey)
		}
		data = bytes.TrimSpace(decoded)
	}
	if block, _ := pem.Decode(data); block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrInvalidKey)
	}
	raw, err := gossh.ParseRawPrivateKey(data)
	if err != nil {
		var missing *gossh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("%w: the key is passphrase-protected; supply it unencrypted", ErrInvalidKey)
		}
		return nil, fmt.Errorf("%w: not an RSA, ECDSA or ed25519 key in PEM or OpenSSH format", ErrInvalidKey)
	}
	signer, err := gossh.NewSignerFromKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: unsupported key", ErrInvalidKey)
	}
	switch signer.PublicKey().Type() {
	case gossh.KeyAlgoRSA, gossh.KeyAlgoED25519, gossh.KeyAlgoECDSA256, gossh.KeyAlgoECDSA384, gossh.KeyAlgoECDSA521:
		return signer, nil
	default:
		// DSA: OpenSSH servers refuse it since 7.0.
		return nil, fmt.Errorf("%w: %s keys are not accepted, use RSA, ECDSA or ed25519", ErrInvalidKey, signer.PublicKey().Type())
	}
}

// MarshalPublicKey formats a key as in authorized_keys and known_hosts ("ssh-ed25519 AAAA..."),
// the form in which recorded host keys are persisted.
func MarshalPublicKey(key gossh.PublicKey) string {
	return strings.TrimSuffix(string(gossh.MarshalAuthorizedKey(key)), "\n")
}

// ParsePublicKey reads a key written by MarshalPublicKey (a trailing comment is allowed).
func ParsePublicKey(s string) (gossh.PublicKey, error) {
	key, _, _, _, err := gossh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("parse ssh public key: %w", err)
	}
	return key, nil
}

func commentSuffix(comment string) string {
	if comment == "" {
		return ""
	}
	return " " + comment
}
