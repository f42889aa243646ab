package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	gossh "golang.org/x/crypto/ssh"
)

// DefaultDockerSocket is where Docker listens unless configured otherwise.
const DefaultDockerSocket = "/var/run/docker.sock"

// Tunnels share one SSH connection per node (RKE dials its Docker client many times; a handshake
// per dial would be slow) and open one channel per dial.
type poolKey struct{ name, addr, user string }

type pooled struct {
	mu     sync.Mutex // held while connecting, so concurrent first dials share one handshake
	client *Client
	dead   chan struct{} // closed when client's connection ends
	closed bool          // set by Dialer.Close
}

// DockerDialer returns a dial function for RKE's DockerDialerFactory: each call opens a channel to
// the node's Docker socket (socket, or DefaultDockerSocket when empty) over the node's shared
// connection, which is made on first use (after the Docker bootstrap, so the login already has the
// docker group) and remade if it died. The network and address arguments are ignored, as RKE's own
// dialer does. ctx bounds connecting and dialing; Close ends the shared connections.
func (d *Dialer) DockerDialer(ctx context.Context, ep Endpoint, socket string) func(network, addr string) (net.Conn, error) {
	if socket == "" {
		socket = DefaultDockerSocket
	}
	return func(string, string) (net.Conn, error) { return d.tunnel(ctx, ep, "unix", socket) }
}

// NodeDialer returns a dial function that reaches network ("tcp" or "unix") and addr as seen from
// the node, over the same shared connection: for RKE's LocalConnDialerFactory (etcd health checks),
// so those connections get strict host-key checking too.
func (d *Dialer) NodeDialer(ctx context.Context, ep Endpoint) func(network, addr string) (net.Conn, error) {
	return func(network, addr string) (net.Conn, error) { return d.tunnel(ctx, ep, network, addr) }
}

// Close ends the connections the tunnel dialers keep; later dials fail. Clients returned by Dial
// and WaitReady are the caller's to close.
func (d *Dialer) Close() error {
	d.mu.Lock()
	pool := d.pool
	d.pool = nil
	d.mu.Unlock()
	var errs []error
	for _, p := range pool {
		p.mu.Lock()
		if p.client != nil {
			if err := p.client.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
			p.client = nil
		}
		p.closed = true
		p.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (d *Dialer) tunnel(ctx context.Context, ep Endpoint, network, addr string) (net.Conn, error) {
	p, err := d.entry(ep)
	if err != nil {
		return nil, err
	}
	for retried := false; ; retried = true {
		c, err := p.get(ctx, d, ep)
		if err != nil {
			return nil, fmt.Errorf("tunnel to %s: %w", addr, err)
		}
		conn, err := c.conn.DialContext(ctx, network, addr)
		if err == nil {
			return conn, nil
		}
		var rejected *gossh.OpenChannelError
		if errors.As(err, &rejected) || retried || ctx.Err() != nil {
			return nil, fmt.Errorf("tunnel to %s on node %s (%s): %w", addr, ep.Name, c.addr, err)
		}
		// The connection died before we noticed: make a new one, once.
		p.drop(c)
	}
}

func (d *Dialer) entry(ep Endpoint) (*pooled, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pool == nil {
		return nil, fmt.Errorf("tunnel to node %s: %w", ep.Name, net.ErrClosed)
	}
	k := poolKey{ep.Name, ep.hostPort(), ep.User}
	p := d.pool[k]
	if p == nil {
		p = &pooled{}
		d.pool[k] = p
	}
	return p, nil
}

func (p *pooled) get(ctx context.Context, d *Dialer, ep Endpoint) (*Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("node %s: %w", ep.Name, net.ErrClosed)
	}
	if p.client != nil {
		select {
		case <-p.dead:
			p.client.Close()
			p.client = nil
		default:
			return p.client, nil
		}
	}
	c, err := d.Dial(ctx, ep)
	if err != nil {
		return nil, err
	}
	dead := make(chan struct{})
	go func() {
		_ = c.conn.Wait()
		close(dead)
	}()
	p.client, p.dead = c, dead
	return c, nil
}

func (p *pooled) drop(c *Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == c {
		c.Close()
		p.client = nil
	}
}
