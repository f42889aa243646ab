package ssh

import (
	"context"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

func benchServer(b *testing.B) (*testServer, *Dialer, Endpoint) {
	client, host := newED25519(b), newED25519(b)
	srv := startServer(b, serverOptions{hostKeys: []gossh.Signer{host}, user: "rancher", authorized: client.PublicKey()})
	return srv, newDialer(b, Config{Signer: client}), Endpoint{Name: "n1", Address: srv.addr, User: "rancher", HostKey: host.PublicKey()}
}

// BenchmarkHandshakeAndCommand is one WaitReady-style login plus one command.
func BenchmarkHandshakeAndCommand(b *testing.B) {
	_, d, ep := benchServer(b)
	ctx := context.Background()
	for b.Loop() {
		c, err := d.Dial(ctx, ep)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Run(ctx, "true", nil, nil); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkDockerDial compares a channel over the shared connection (what RKE gets) with a fresh
// connection per dial; each iteration also does one round trip through the socket.
func BenchmarkDockerDial(b *testing.B) {
	socket := unixEcho(b)
	ctx := context.Background()
	b.Run("shared connection", func(b *testing.B) {
		_, d, ep := benchServer(b)
		dial := d.DockerDialer(ctx, ep, socket)
		for b.Loop() {
			conn, err := dial("unix", "")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := roundTrip(conn, "x"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fresh connection", func(b *testing.B) {
		_, d, ep := benchServer(b)
		for b.Loop() {
			c, err := d.Dial(ctx, ep)
			if err != nil {
				b.Fatal(err)
			}
			conn, err := c.conn.Dial("unix", socket)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := roundTrip(conn, "x"); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}
