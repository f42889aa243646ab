package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// Config configures a Dialer.
type Config struct {
	Signer gossh.Signer // the client key
	// TrustOnFirstUse accepts whatever key a server without Endpoint.HostKey presents on the first
	// connection (for images that ignore injected host keys). The key is then held by the Dialer,
	// so later connections to the same node are strict, and returned by Client.HostKey to persist.
	TrustOnFirstUse bool
	// ConnectTimeout bounds one attempt: TCP connect, handshake and login. Zero means 15 s.
	ConnectTimeout time.Duration
	// AuthRetry is how long WaitReady keeps retrying after the first ErrAuthRefused, because
	// cloud-init may still be writing authorized_keys. Zero means 30 s.
	AuthRetry time.Duration
	// Backoff spaces WaitReady's attempts.
	Backoff Backoff
}

// Dialer opens SSH connections with strict host-key checking. It is safe for concurrent use;
// Close releases the connections its tunnel dialers keep.
type Dialer struct {
	cfg Config

	mu      sync.Mutex
	learned map[string]gossh.PublicKey // node name -> key trusted on first use
	pool    map[poolKey]*pooled
}

// NewDialer checks cfg and returns a Dialer.
func NewDialer(cfg Config) (*Dialer, error) {
	if cfg.Signer == nil {
		return nil, errors.New("ssh dialer: no client key")
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 15 * time.Second
	}
	if cfg.AuthRetry <= 0 {
		cfg.AuthRetry = 30 * time.Second
	}
	cfg.Backoff = cfg.Backoff.withDefaults()
	return &Dialer{cfg: cfg, learned: map[string]gossh.PublicKey{}, pool: map[poolKey]*pooled{}}, nil
}

// Client is an authenticated SSH connection to one node.
type Client struct {
	ep      Endpoint
	addr    string
	conn    *gossh.Client
	hostKey gossh.PublicKey
}

// HostKey is the key the server presented (and that was verified or, on first use, recorded).
func (c *Client) HostKey() gossh.PublicKey { return c.hostKey }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Dial makes one connection attempt. Errors wrap ErrPortClosed, ErrAuthRefused,
// ErrHostKeyMismatch or ErrNoHostKey, or the context's error.
func (d *Dialer) Dial(ctx context.Context, ep Endpoint) (*Client, error) {
	addr := ep.hostPort()
	c, err := d.dial(ctx, ep, addr)
	if err != nil {
		return nil, fmt.Errorf("ssh to node %s (%s): %w", ep.Name, addr, err)
	}
	return c, nil
}

func (d *Dialer) dial(ctx context.Context, ep Endpoint, addr string) (*Client, error) {
	expected := ep.HostKey
	if expected == nil {
		d.mu.Lock()
		expected = d.learned[ep.Name]
		d.mu.Unlock()
	}
	if expected == nil && !d.cfg.TrustOnFirstUse {
		return nil, ErrNoHostKey
	}

	var presented gossh.PublicKey
	cc := &gossh.ClientConfig{
		User: ep.User,
		Auth: []gossh.AuthMethod{gossh.PublicKeys(d.cfg.Signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key gossh.PublicKey) error {
			presented = key
			if expected != nil && !bytes.Equal(key.Marshal(), expected.Marshal()) {
				return ErrHostKeyMismatch
			}
			return nil
		},
	}
	if expected != nil {
		// A server usually has several host keys; ask for the type we know, or it may present
		// another one (x/crypto prefers ECDSA) and look like a mismatch.
		cc.HostKeyAlgorithms = hostKeyAlgorithms(expected)
	} else {
		// On first use prefer the type cloud-init injects and images keep.
		cc.HostKeyAlgorithms = firstUseAlgorithms
	}

	nd := net.Dialer{Timeout: d.cfg.ConnectTimeout}
	conn, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %w", ErrPortClosed, err)
	}
	// The handshake takes no context: bound it by a deadline and by closing the socket on cancel.
	_ = conn.SetDeadline(time.Now().Add(d.cfg.ConnectTimeout))
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := gossh.NewClientConn(conn, addr, cc)
	cancelled := !stop()
	switch {
	case cancelled:
		if sc != nil {
			sc.Close()
		}
		return nil, ctx.Err()
	case err != nil:
		return nil, classify(err, expected, presented, ep.User)
	}
	_ = conn.SetDeadline(time.Time{})

	if ep.HostKey == nil && expected == nil {
		d.mu.Lock()
		if d.learned[ep.Name] == nil {
			d.learned[ep.Name] = presented
		}
		d.mu.Unlock()
	}
	return &Client{ep: ep, addr: addr, conn: gossh.NewClient(sc, chans, reqs), hostKey: presented}, nil
}

// classify maps a failed handshake to a sentinel error.
func classify(err error, expected, presented gossh.PublicKey, user string) error {
	switch {
	case errors.Is(err, ErrHostKeyMismatch):
		return fmt.Errorf("%w: expected %s, presented %s", ErrHostKeyMismatch, fingerprint(expected), fingerprint(presented))
	case presented != nil && !isTransport(err):
		// The key exchange completed, so the failure is the login itself.
		return fmt.Errorf("%w for user %s: %w", ErrAuthRefused, user, err)
	default:
		return fmt.Errorf("%w: %w", ErrPortClosed, err)
	}
}

// isTransport reports errors of the connection itself (closed, reset, timed out).
func isTransport(err error) bool {
	var netErr net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) || errors.As(err, &netErr)
}

func fingerprint(key gossh.PublicKey) string {
	if key == nil {
		return "none"
	}
	return key.Type() + " " + gossh.FingerprintSHA256(key)
}

var firstUseAlgorithms = []string{
	gossh.KeyAlgoED25519, gossh.KeyAlgoECDSA256, gossh.KeyAlgoECDSA384, gossh.KeyAlgoECDSA521,
	gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA,
}

// hostKeyAlgorithms are the signature algorithms that make a server present key.
func hostKeyAlgorithms(key gossh.PublicKey) []string {
	if key.Type() == gossh.KeyAlgoRSA {
		return []string{gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA}
	}
	return []string{key.Type()}
}
