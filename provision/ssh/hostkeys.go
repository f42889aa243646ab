package ssh

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/pem"
	"fmt"

	gossh "golang.org/x/crypto/ssh"
)

// SeedSize is the length of a host-key seed.
const SeedSize = 32

// NewHostKeySeed makes the per-cluster random seed every node's host key is derived from; it is
// the only host-key material the orchestrator has to persist.
func NewHostKeySeed() ([]byte, error) {
	seed := make([]byte, SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("generate ssh host key seed: %w", err)
	}
	return seed, nil
}

// HostKey is a node's SSH host key pair.
type HostKey struct {
	// PrivatePEM is the private key in OpenSSH format, for cloud-init's
	// ssh_keys.ed25519_private; the same seed and node always give the same bytes.
	PrivatePEM []byte
	Public     gossh.PublicKey // what the node must present; MarshalPublicKey gives ssh_keys.ed25519_public
}

// DeriveHostKey computes a node's ed25519 host key from the cluster's seed and the node name, so
// the key can be injected at VM creation and verified from the very first connection.
func DeriveHostKey(seed []byte, node string) (HostKey, error) {
	if len(seed) != SeedSize {
		return HostKey{}, fmt.Errorf("derive ssh host key of node %s: seed has %d bytes, want %d", node, len(seed), SeedSize)
	}
	if node == "" {
		return HostKey{}, fmt.Errorf("derive ssh host key: empty node name")
	}
	mac := hmac.New(sha256.New, seed)
	mac.Write([]byte("host-key/" + node))
	priv := ed25519.NewKeyFromSeed(mac.Sum(nil))
	pub, err := gossh.NewPublicKey(priv.Public())
	if err != nil {
		return HostKey{}, fmt.Errorf("derive ssh host key of node %s: %w", node, err)
	}
	return HostKey{PrivatePEM: marshalED25519(priv, node), Public: pub}, nil
}

// marshalED25519 writes an unencrypted OpenSSH private key (PROTOCOL.key). x/crypto's
// MarshalPrivateKey puts random check bytes in; here they come from the key, so the output is
// stable and the cloud-init Secret holding it does not change between runs.
func marshalED25519(priv ed25519.PrivateKey, comment string) []byte {
	pub := priv.Public().(ed25519.PublicKey)
	check := binary.BigEndian.Uint32(pub[:4])
	private := gossh.Marshal(struct {
		Check1, Check2 uint32
		Type           string
		Pub, Priv      []byte
		Comment        string
	}{check, check, gossh.KeyAlgoED25519, pub, priv, comment})
	// Pad to the "none" cipher's block size of 8 with 1, 2, 3, ...
	for i := byte(1); len(private)%8 != 0; i++ {
		private = append(private, i)
	}
	pubWire := gossh.Marshal(struct {
		Type string
		Pub  []byte
	}{gossh.KeyAlgoED25519, pub})
	body := gossh.Marshal(struct {
		Cipher, KDF, KDFOptions string
		NumKeys                 uint32
		Pub, Private            []byte
	}{"none", "none", "", 1, pubWire, private})
	return pem.EncodeToMemory(&pem.Block{
		Type:  "OPENSSH PRIVATE KEY",
		Bytes: append([]byte("openssh-key-v1\x00"), body...),
	})
}
