package ssh

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

func newSigner(tb testing.TB, key any) gossh.Signer {
	tb.Helper()
	s, err := gossh.NewSignerFromKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func newDialer(tb testing.TB, cfg Config) *Dialer {
	tb.Helper()
	d, err := NewDialer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func TestDialHostKeysAndLogin(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hostED, hostEC, hostRSA := newED25519(t), newSigner(t, ecKey), newSigner(t, rsaKey)
	other := newED25519(t)
	client := newED25519(t)

	tests := []struct {
		name     string
		hostKeys []gossh.Signer // the server's keys
		expect   gossh.PublicKey
		user     string
		key      gossh.Signer
		want     error
	}{
		{name: "injected key", hostKeys: []gossh.Signer{hostED}, expect: hostED.PublicKey(), user: "rancher", key: client},
		// x/crypto prefers ECDSA: the dialer must ask for the type it knows.
		{name: "several host keys", hostKeys: []gossh.Signer{hostEC, hostRSA, hostED}, expect: hostED.PublicKey(), user: "rancher", key: client},
		{name: "rsa host key", hostKeys: []gossh.Signer{hostEC, hostRSA, hostED}, expect: hostRSA.PublicKey(), user: "rancher", key: client},
		{name: "other host key", hostKeys: []gossh.Signer{hostED}, expect: other.PublicKey(), user: "rancher", key: client, want: ErrHostKeyMismatch},
		{name: "wrong user", hostKeys: []gossh.Signer{hostED}, expect: hostED.PublicKey(), user: "root", key: client, want: ErrAuthRefused},
		{name: "wrong client key", hostKeys: []gossh.Signer{hostED}, expect: hostED.PublicKey(), user: "rancher", key: other, want: ErrAuthRefused},
		{name: "no host key", hostKeys: []gossh.Signer{hostED}, user: "rancher", key: client, want: ErrNoHostKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, serverOptions{hostKeys: tt.hostKeys, user: "rancher", authorized: client.PublicKey()})
			d := newDialer(t, Config{Signer: tt.key})
			ep := Endpoint{Name: "pool1-0", Address: srv.addr, User: tt.user, HostKey: tt.expect}
			c, err := d.Dial(context.Background(), ep)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer c.Close()
				if !bytes.Equal(c.HostKey().Marshal(), tt.expect.Marshal()) {
					t.Errorf("HostKey = %s, want %s", fingerprint(c.HostKey()), fingerprint(tt.expect))
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Dial error = %v, want %v", err, tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, "pool1-0") || !strings.Contains(msg, srv.addr) {
				t.Errorf("error %q does not name node and address", msg)
			}
			if tt.want == ErrHostKeyMismatch {
				for _, k := range []gossh.PublicKey{tt.expect, hostED.PublicKey()} {
					if !strings.Contains(msg, gossh.FingerprintSHA256(k)) {
						t.Errorf("error %q lacks fingerprint %s", msg, gossh.FingerprintSHA256(k))
					}
				}
			}
		})
	}
}

func TestDialDefaultPort(t *testing.T) {
	if got := (Endpoint{Address: "10.0.0.5"}).hostPort(); got != "10.0.0.5:22" {
		t.Errorf("hostPort = %s", got)
	}
	if got := (Endpoint{Address: "fd00::5"}).hostPort(); got != "[fd00::5]:22" {
		t.Errorf("hostPort = %s", got)
	}
	if got := (Endpoint{Address: "10.0.0.5:2222"}).hostPort(); got != "10.0.0.5:2222" {
		t.Errorf("hostPort = %s", got)
	}
}

func TestTrustOnFirstUse(t *testing.T) {
	client := newED25519(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	host := newED25519(t)
	first := startServer(t, serverOptions{hostKeys: []gossh.Signer{newSigner(t, ecKey), host}, user: "rancher", authorized: client.PublicKey()})
	d := newDialer(t, Config{Signer: client, TrustOnFirstUse: true})
	ep := Endpoint{Name: "pool1-0", Address: first.addr, User: "rancher"}

	c, err := d.Dial(context.Background(), ep)
	if err != nil {
		t.Fatalf("first Dial: %v", err)
	}
	recorded := c.HostKey()
	c.Close()
	if !bytes.Equal(recorded.Marshal(), host.PublicKey().Marshal()) {
		t.Errorf("recorded %s, want the ed25519 key", fingerprint(recorded))
	}
	stored, err := ParsePublicKey(MarshalPublicKey(recorded))
	if err != nil || !bytes.Equal(stored.Marshal(), recorded.Marshal()) {
		t.Fatalf("recorded key does not round-trip: %v", err)
	}

	c, err = d.Dial(context.Background(), ep)
	if err != nil {
		t.Fatalf("second Dial: %v", err)
	}
	c.Close()

	// The same node now answering with another key is refused, without and with the persisted key.
	impostor := startServer(t, serverOptions{hostKeys: []gossh.Signer{newED25519(t)}, user: "rancher", authorized: client.PublicKey()})
	ep.Address = impostor.addr
	if _, err := d.Dial(context.Background(), ep); !errors.Is(err, ErrHostKeyMismatch) {
		t.Errorf("Dial after first use = %v, want mismatch", err)
	}
	ep.HostKey = stored
	if _, err := newDialer(t, Config{Signer: client, TrustOnFirstUse: true}).Dial(context.Background(), ep); !errors.Is(err, ErrHostKeyMismatch) {
		t.Errorf("Dial with persisted key = %v, want mismatch", err)
	}
}

func TestWaitReady(t *testing.T) {
	client, host := newED25519(t), newED25519(t)
	fast := Backoff{Initial: 50 * time.Millisecond, Max: 400 * time.Millisecond}

	t.Run("port opens after 2s", func(t *testing.T) {
		addr := freeAddr(t)
		startServer(t, serverOptions{addr: addr, delay: 2 * time.Second, hostKeys: []gossh.Signer{host}, user: "rancher", authorized: client.PublicKey()})
		d := newDialer(t, Config{Signer: client, Backoff: fast})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		c, err := d.WaitReady(ctx, Endpoint{Name: "n1", Address: addr, User: "rancher", HostKey: host.PublicKey()})
		if err != nil {
			t.Fatalf("WaitReady: %v", err)
		}
		c.Close()
		t.Logf("WaitReady took %s for a port closed for 2s", time.Since(start).Round(time.Millisecond))
	})

	t.Run("port closed until the deadline", func(t *testing.T) {
		addr := freeAddr(t)
		d := newDialer(t, Config{Signer: client, Backoff: fast})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := d.WaitReady(ctx, Endpoint{Name: "n1", Address: addr, User: "rancher", HostKey: host.PublicKey()})
		if !errors.Is(err, ErrPortClosed) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitReady error = %v, want port closed and deadline", err)
		}
		if !strings.Contains(err.Error(), "node n1") {
			t.Errorf("error %q does not name the node", err)
		}
		t.Logf("WaitReady gave up after %s with a 1s deadline", time.Since(start).Round(time.Millisecond))
	})

	t.Run("host key mismatch fails at once", func(t *testing.T) {
		srv := startServer(t, serverOptions{hostKeys: []gossh.Signer{newED25519(t)}, user: "rancher", authorized: client.PublicKey()})
		d := newDialer(t, Config{Signer: client, Backoff: fast})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := d.WaitReady(ctx, Endpoint{Name: "n1", Address: srv.addr, User: "rancher", HostKey: host.PublicKey()})
		if !errors.Is(err, ErrHostKeyMismatch) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitReady error = %v, want mismatch before the deadline", err)
		}
		if n := srv.accepted.Load(); n != 1 {
			t.Errorf("%d connections, want one: a mismatch is not retried", n)
		}
		if n := srv.handshakes.Load(); n != 0 {
			t.Errorf("%d logins after a mismatch", n)
		}
	})

	t.Run("login refused is retried briefly", func(t *testing.T) {
		srv := startServer(t, serverOptions{hostKeys: []gossh.Signer{host}, user: "rancher", authorized: client.PublicKey()})
		d := newDialer(t, Config{Signer: client, Backoff: fast, AuthRetry: 500 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := d.WaitReady(ctx, Endpoint{Name: "n1", Address: srv.addr, User: "ubuntu", HostKey: host.PublicKey()})
		if !errors.Is(err, ErrAuthRefused) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitReady error = %v, want login refused before the deadline", err)
		}
		if n := srv.accepted.Load(); n < 2 {
			t.Errorf("%d connections, want the refused login retried", n)
		}
		t.Logf("WaitReady gave up after %s with a 500ms auth retry", time.Since(start).Round(time.Millisecond))
	})
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{4, 500 * time.Millisecond, time.Second},
		{60, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			if d := b.delay(tt.attempt); d < tt.min || d > tt.max {
				t.Fatalf("delay(%d) = %s, want in [%s, %s]", tt.attempt, d, tt.min, tt.max)
			}
		}
	}
}

// freeAddr is a local address where nothing listens (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
