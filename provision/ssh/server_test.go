package ssh

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// testServer is an in-process SSH server with the parts of OpenSSH the driver uses: public-key
// login, exec sessions (a few built-in commands), direct-streamlocal and direct-tcpip channels.
type testServer struct {
	addr       string
	handshakes atomic.Int64 // successful logins
	accepted   atomic.Int64 // connections accepted

	cfg    *gossh.ServerConfig
	mu     sync.Mutex
	ln     net.Listener
	opener *time.Timer // a delayed start
	closed bool
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

type serverOptions struct {
	hostKeys   []gossh.Signer
	user       string
	authorized gossh.PublicKey
	addr       string        // listen address; empty means a free port on 127.0.0.1
	delay      time.Duration // the port stays closed this long
}

func startServer(tb testing.TB, o serverOptions) *testServer {
	tb.Helper()
	cfg := &gossh.ServerConfig{
		PublicKeyCallback: func(meta gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
			if meta.User() == o.user && bytes.Equal(key.Marshal(), o.authorized.Marshal()) {
				return nil, nil
			}
			return nil, fmt.Errorf("key not authorized for %s", meta.User())
		},
	}
	for _, k := range o.hostKeys {
		cfg.AddHostKey(k)
	}
	s := &testServer{addr: o.addr, cfg: cfg, conns: map[net.Conn]bool{}}
	tb.Cleanup(s.close)
	if o.delay > 0 {
		s.opener = time.AfterFunc(o.delay, func() {
			if err := s.listen(); err != nil {
				tb.Errorf("delayed listen: %v", err)
			}
		})
		return s
	}
	if s.addr == "" {
		s.addr = "127.0.0.1:0"
	}
	if err := s.listen(); err != nil {
		tb.Fatalf("listen: %v", err)
	}
	return s
}

func (s *testServer) listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.ln, s.addr = ln, ln.Addr().String()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns[conn] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(conn)
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
			}()
		}
	}()
	return nil
}

// dropConnections cuts every open connection, as a node reboot would.
func (s *testServer) dropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func (s *testServer) close() {
	s.mu.Lock()
	s.closed = true
	if s.opener != nil {
		s.opener.Stop()
	}
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	s.dropConnections()
	s.wg.Wait()
}

func (s *testServer) serve(conn net.Conn) {
	defer conn.Close()
	sc, chans, reqs, err := gossh.NewServerConn(conn, s.cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	s.handshakes.Add(1)
	go gossh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch nc.ChannelType() {
			case "session":
				serveSession(nc)
			case "direct-streamlocal@openssh.com":
				var m struct {
					Path      string
					Reserved0 string
					Reserved1 uint32
				}
				forward(nc, &m, func() (net.Conn, error) { return net.Dial("unix", m.Path) })
			case "direct-tcpip":
				var m struct {
					Host     string
					Port     uint32
					OrigHost string
					OrigPort uint32
				}
				forward(nc, &m, func() (net.Conn, error) {
					return net.Dial("tcp", net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port))))
				})
			default:
				nc.Reject(gossh.UnknownChannelType, nc.ChannelType())
			}
		}()
	}
}

// forward serves a direct-* channel: decode the target into msg, dial it, copy both ways.
func forward(nc gossh.NewChannel, msg any, dial func() (net.Conn, error)) {
	if err := gossh.Unmarshal(nc.ExtraData(), msg); err != nil {
		nc.Reject(gossh.ConnectionFailed, "bad request")
		return
	}
	target, err := dial()
	if err != nil {
		nc.Reject(gossh.ConnectionFailed, "connect failed")
		return
	}
	defer target.Close()
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	go gossh.DiscardRequests(reqs)
	done := make(chan struct{})
	go func() {
		io.Copy(target, ch)
		if cw, ok := target.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		close(done)
	}()
	io.Copy(ch, target)
	ch.CloseWrite()
	<-done
}

// serveSession runs one exec request. Commands: "lines N" (N lines to stdout and to stderr),
// "cat" (stdin to stdout), "exit N" (a line to stderr, then status N), "hang" (until the client
// closes the session), "true".
func serveSession(nc gossh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	closed := make(chan struct{})
	cmds := make(chan string, 1)
	go func() {
		defer close(closed)
		for r := range reqs {
			if r.Type != "exec" {
				r.Reply(false, nil)
				continue
			}
			var m struct{ Command string }
			gossh.Unmarshal(r.Payload, &m)
			r.Reply(true, nil)
			cmds <- m.Command
		}
	}()
	var cmd string
	select {
	case cmd = <-cmds:
	case <-closed:
		return
	}
	status := 0
	args := strings.Fields(cmd)
	switch args[0] {
	case "lines":
		n, _ := strconv.Atoi(args[1])
		for i := range n {
			fmt.Fprintf(ch, "out %d\n", i)
			fmt.Fprintf(ch.Stderr(), "err %d\n", i)
		}
	case "cat":
		io.Copy(ch, ch)
	case "exit":
		status, _ = strconv.Atoi(args[1])
		fmt.Fprintf(ch.Stderr(), "failing with %d", status)
	case "hang":
		<-closed
		return
	case "true":
	default:
		fmt.Fprintf(ch.Stderr(), "%s: not found\n", args[0])
		status = 127
	}
	ch.SendRequest("exit-status", false, gossh.Marshal(struct{ Status uint32 }{uint32(status)}))
}

func newED25519(tb testing.TB) gossh.Signer {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
