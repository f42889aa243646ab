package controller

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// backendDialTimeout bounds a connection attempt to one backend; the next target is tried after it.
const backendDialTimeout = 3 * time.Second

// tcpProxy is a load balancer's data path in the stand-in (what kube-vip and IPVS do on Harvester): a
// TCP listener per listener port on the load balancer's address, each accepted connection spliced to
// one of the targets (round robin, the next one when a backend refuses), both directions, half-closes
// passed on. Connections to a backend that stops being a target are closed, as a halting VM's are.
type tcpProxy struct {
	ctx    context.Context
	cancel context.CancelFunc
	logf   func(string, ...any)
	wg     sync.WaitGroup // accept loops and connections

	mu      sync.Mutex
	lns     map[int32]proxyListener // by port
	targets []string                // backend addresses
	next    int
	conns   map[*splice]struct{}
}

type proxyListener struct {
	ln          net.Listener
	backendPort int32
}

// splice is a client's connection and the one to its backend.
type splice struct {
	backend        string
	client, server net.Conn
}

func newTCPProxy(logf func(string, ...any)) *tcpProxy {
	ctx, cancel := context.WithCancel(context.Background())
	return &tcpProxy{ctx: ctx, cancel: cancel, logf: logf, lns: map[int32]proxyListener{}, conns: map[*splice]struct{}{}}
}

// listen serves addr:port, forwarding to the targets' backendPort; a port served already is
// re-served when its backend port changed.
func (p *tcpProxy) listen(ctx context.Context, addr netip.Addr, port, backendPort int32) error {
	p.mu.Lock()
	old, ok := p.lns[port]
	p.mu.Unlock()
	if ok && old.backendPort == backendPort {
		return nil
	}
	if ok {
		p.unlisten(port)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp4", netip.AddrPortFrom(addr, uint16(port)).String())
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return errors.Join(ln.Close(), p.ctx.Err())
	}
	p.lns[port] = proxyListener{ln: ln, backendPort: backendPort}
	p.wg.Add(1)
	go p.accept(ln, backendPort)
	return nil
}

// unlisten stops serving port; its connections stay.
func (p *tcpProxy) unlisten(port int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.lns[port]; ok {
		_ = l.ln.Close()
		delete(p.lns, port)
	}
}

// ports lists the served ports, sorted.
func (p *tcpProxy) ports() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	ports := make([]int32, 0, len(p.lns))
	for port := range p.lns {
		ports = append(ports, port)
	}
	slices.Sort(ports)
	return ports
}

// setTargets replaces the targets and closes the connections to backends no longer among them.
func (p *tcpProxy) setTargets(targets []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.targets = slices.Clone(targets)
	for s := range p.conns {
		if !slices.Contains(targets, s.backend) {
			s.close()
		}
	}
}

// close stops the listeners and closes every connection, and returns when all are done.
func (p *tcpProxy) close() {
	p.cancel()
	p.mu.Lock()
	for port, l := range p.lns {
		_ = l.ln.Close()
		delete(p.lns, port)
	}
	for s := range p.conns {
		s.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *tcpProxy) accept(ln net.Listener, backendPort int32) {
	defer p.wg.Done()
	for {
		conn, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		} else if err != nil {
			// Out of file descriptors or the like: wait a little rather than spin, as net/http does.
			p.logf("harvestersim: load balancer %s: accept: %v", ln.Addr(), err)
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		p.wg.Add(1)
		go p.forward(conn, backendPort)
	}
}

// forward connects the client to a target and splices the two until both sides are done.
func (p *tcpProxy) forward(client net.Conn, backendPort int32) {
	defer p.wg.Done()
	p.mu.Lock()
	targets, start := slices.Clone(p.targets), p.next
	p.next++
	p.mu.Unlock()
	for i := range targets {
		backend := targets[(start+i)%len(targets)]
		d := net.Dialer{Timeout: backendDialTimeout}
		server, err := d.DialContext(p.ctx, "tcp4", net.JoinHostPort(backend, strconv.Itoa(int(backendPort))))
		if err != nil {
			continue
		}
		s := &splice{backend: backend, client: client, server: server}
		if !p.track(s) {
			break
		}
		s.run()
		p.mu.Lock()
		delete(p.conns, s)
		p.mu.Unlock()
		return
	}
	_ = client.Close() // no backend took it
}

// track records a new splice unless its backend left the targets or the proxy closed meanwhile (then it
// closes it).
func (p *tcpProxy) track(s *splice) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil || !slices.Contains(p.targets, s.backend) {
		s.close()
		return false
	}
	p.conns[s] = struct{}{}
	return true
}

// run copies both ways; a side's end of data is passed on as a half-close, an error ends both.
func (s *splice) run() {
	done := make(chan struct{}, 2)
	half := func(dst, src net.Conn) {
		if _, err := io.Copy(dst, src); err != nil {
			s.close()
		} else if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go half(s.server, s.client)
	go half(s.client, s.server)
	<-done
	<-done
	s.close()
}

func (s *splice) close() {
	_ = s.client.Close()
	_ = s.server.Close()
}

// healthCheck is a load balancer's effective TCP health check; a zero port means none.
type healthCheck struct {
	port             int
	success, failure int
	period, timeout  time.Duration
}

// probe runs check every period as Harvester's prober does: a backend starts healthy, turns
// unhealthy after failure consecutive failed checks and healthy again after success consecutive
// ones; report is called at each change. It returns when ctx ends.
func probe(ctx context.Context, hc healthCheck, check func(context.Context) error, report func(healthy bool)) {
	t := time.NewTicker(hc.period)
	defer t.Stop()
	healthy, successes, failures := true, 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := check(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			successes, failures = 0, failures+1
			if failures >= hc.failure {
				failures = 0
				if healthy {
					healthy = false
					report(false)
				}
			}
			continue
		}
		failures, successes = 0, successes+1
		if successes >= hc.success {
			successes = 0
			if !healthy {
				healthy = true
				report(true)
			}
		}
	}
}

// tcpConnect is the TCP health check: a connect to backend (address:port) within timeout.
func tcpConnect(backend string, timeout time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(ctx, "tcp4", backend)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}
