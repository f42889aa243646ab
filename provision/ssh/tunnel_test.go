package ssh

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// echoServer answers every line on ln with the same line; it stands in for dockerd.
func echoServer(t testing.TB, ln net.Listener) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				io.Copy(conn, conn)
			}()
		}
	}()
}

func unixEcho(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, ln)
	return path
}

func roundTrip(conn net.Conn, msg string) (string, error) {
	defer conn.Close()
	if _, err := io.WriteString(conn, msg+"\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return line[:max(len(line)-1, 0)], err
}

func TestDockerDialer(t *testing.T) {
	socket := unixEcho(t)
	client, host := newED25519(t), newED25519(t)
	srv := startServer(t, serverOptions{hostKeys: []gossh.Signer{host}, user: "rancher", authorized: client.PublicKey()})
	d := newDialer(t, Config{Signer: client})
	dial := d.DockerDialer(context.Background(), Endpoint{Name: "n1", Address: srv.addr, User: "rancher", HostKey: host.PublicKey()}, socket)

	// Many concurrent dials, as RKE's Docker clients make, share one handshake.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := dial("tcp", "ignored")
			if err != nil {
				errs <- err
				return
			}
			if got, err := roundTrip(conn, "ping"); err != nil || got != "ping" {
				errs <- errors.Join(err, errors.New("echo: "+got))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.handshakes.Load(); n != 1 {
		t.Errorf("%d handshakes for 20 dials, want 1", n)
	}

	// A dead connection is replaced on the next dial.
	srv.dropConnections()
	conn, err := dial("tcp", "ignored")
	if err != nil {
		t.Fatalf("dial after the connection died: %v", err)
	}
	if got, err := roundTrip(conn, "again"); err != nil || got != "again" {
		t.Fatalf("echo after reconnect = %q, %v", got, err)
	}
	if n := srv.handshakes.Load(); n != 2 {
		t.Errorf("%d handshakes after reconnect, want 2", n)
	}

	// After Close the dialer makes no new connections.
	d.Close()
	if _, err := dial("tcp", "ignored"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("dial after Close = %v, want net.ErrClosed", err)
	}
}

func TestTunnelErrors(t *testing.T) {
	client, host := newED25519(t), newED25519(t)
	srv := startServer(t, serverOptions{hostKeys: []gossh.Signer{host}, user: "rancher", authorized: client.PublicKey()})
	d := newDialer(t, Config{Signer: client})
	ctx := context.Background()

	// Strict host keys apply to tunnels too.
	wrong := d.DockerDialer(ctx, Endpoint{Name: "n1", Address: srv.addr, User: "rancher", HostKey: newED25519(t).PublicKey()}, "")
	if _, err := wrong("unix", ""); !errors.Is(err, ErrHostKeyMismatch) {
		t.Errorf("dial with the wrong host key = %v, want mismatch", err)
	}

	// A socket that is not there: the channel is refused and the connection kept.
	missing := d.DockerDialer(ctx, Endpoint{Name: "n2", Address: srv.addr, User: "rancher", HostKey: host.PublicKey()}, filepath.Join(t.TempDir(), "none.sock"))
	var rejected *gossh.OpenChannelError
	if _, err := missing("unix", ""); !errors.As(err, &rejected) {
		t.Errorf("dial to a missing socket = %v, want a rejected channel", err)
	}
	if n := srv.handshakes.Load(); n != 1 {
		t.Errorf("%d handshakes, want 1 (no reconnect for a refused channel)", n)
	}
}

func TestNodeDialerTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, ln)
	client, host := newED25519(t), newED25519(t)
	srv := startServer(t, serverOptions{hostKeys: []gossh.Signer{host}, user: "rancher", authorized: client.PublicKey()})
	d := newDialer(t, Config{Signer: client})
	ep := Endpoint{Name: "n1", Address: srv.addr, User: "rancher", HostKey: host.PublicKey()}

	conn, err := d.NodeDialer(context.Background(), ep)("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if got, err := roundTrip(conn, "etcd"); err != nil || got != "etcd" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	// The Docker dialer of the same node shares the connection.
	if conn, err := d.DockerDialer(context.Background(), ep, unixEcho(t))("", ""); err != nil {
		t.Fatalf("docker dial: %v", err)
	} else {
		conn.Close()
	}
	if n := srv.handshakes.Load(); n != 1 {
		t.Errorf("%d handshakes, want 1", n)
	}
}
