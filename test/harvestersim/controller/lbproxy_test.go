package controller

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"
)

// backend is a TCP server at addr that greets with its name, then echoes until the client half-closes,
// then closes.
func backend(t *testing.T, name, addr string) (host string, port int32) {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := fmt.Fprintf(c, "%s\n", name); err != nil {
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), int32(a.Port)
}

// proxyAddr is where the proxy serves its only listener (port 0: the kernel's choice).
func proxyAddr(p *tcpProxy) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lns[0].ln.Addr().String()
}

// TestTCPProxy: connections are spread over the targets, data goes both ways and a half-close is passed
// on; many connections at once; a backend leaving the targets has its connections closed; with no
// targets a connection is closed; close ends everything.
func TestTCPProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Backends are told apart by address and share the backend port, as VMs do.
	hostA, port := backend(t, "a", "127.0.0.1:0")
	hostB, _ := backend(t, "b", "127.0.0.2:"+strconv.Itoa(int(port)))

	p := newTCPProxy(t.Logf)
	defer p.close()
	if err := p.listen(ctx, netip.MustParseAddr("127.0.0.1"), 0, port); err != nil {
		t.Fatal(err)
	}
	p.setTargets([]string{hostA, hostB})
	addr := proxyAddr(p)

	// exchange sends msg, half-closes and returns the greeting and the echo.
	exchange := func(msg string) (string, string, error) {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			return "", "", err
		}
		defer c.Close()
		r := bufio.NewReader(c)
		name, err := r.ReadString('\n')
		if err != nil {
			return "", "", fmt.Errorf("greeting: %w", err)
		}
		if _, err := io.WriteString(c, msg); err != nil {
			return "", "", err
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			return "", "", err
		}
		echo, err := io.ReadAll(r)
		return name[:len(name)-1], string(echo), err
	}

	seen := map[string]int{}
	for i := range 4 {
		name, echo, err := exchange("hello " + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		if echo != "hello "+strconv.Itoa(i) {
			t.Errorf("echo %q, want %q", echo, "hello "+strconv.Itoa(i))
		}
		seen[name]++
	}
	if seen["a"] != 2 || seen["b"] != 2 {
		t.Errorf("4 connections went to %v, want 2 to each backend", seen)
	}

	const many = 200
	var wg sync.WaitGroup
	errs := make(chan error, many)
	for i := range many {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("connection %d %s", i, string(make([]byte, 64<<10)))
			if _, echo, err := exchange(msg); err != nil {
				errs <- err
			} else if echo != msg {
				errs <- fmt.Errorf("connection %d: echo of %d bytes, sent %d", i, len(echo), len(msg))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// A connection to b is closed when b leaves; new ones go to a.
	var toB net.Conn
	for toB == nil {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		name, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if name == "b\n" {
			toB = c
		} else {
			_ = c.Close()
		}
	}
	p.setTargets([]string{hostA})
	_ = toB.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := toB.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("connection to the removed backend: read gives %v, want it closed", err)
	}
	_ = toB.Close()
	for range 3 {
		if name, _, err := exchange("x"); err != nil || name != "a" {
			t.Errorf("after b left: backend %q, %v; want a", name, err)
		}
	}

	p.setTargets(nil)
	if _, _, err := exchange("x"); err == nil {
		t.Error("without targets a connection was served")
	}

	p.setTargets([]string{hostA})
	open, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if _, err := bufio.NewReader(open).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	p.close()
	_ = open.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := open.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("after close: read gives %v, want the connection closed", err)
	}
	if c, err := net.Dial("tcp4", addr); err == nil {
		_ = c.Close()
		t.Error("the proxy still accepts after close")
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestProbe: a backend turns unhealthy exactly at the failure threshold of consecutive failed
// checks and healthy again at the success threshold; counted in checks, not time, so a loaded
// machine's late ticks cannot change the outcome.
func TestProbe(t *testing.T) {
	refused := errors.New("refused")
	type change struct {
		check   int // 1-based number of the check after which the report came
		healthy bool
	}
	tests := []struct {
		name    string
		results []error
		want    []change
	}{
		{"answers", []error{nil, nil, nil}, nil},
		{"two failures are not enough", []error{refused, refused, nil, refused, refused, nil}, nil},
		{"down at the third failure", []error{nil, refused, refused, refused, refused}, []change{{4, false}}},
		{"back at the second success", []error{refused, refused, refused, nil, refused, nil, nil, nil}, []change{{3, false}, {7, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			hc := healthCheck{port: 1, success: 2, failure: 3, period: time.Millisecond, timeout: time.Second}
			checks := 0
			check := func(context.Context) error {
				if checks == len(tt.results) {
					cancel()
					return nil
				}
				checks++
				return tt.results[checks-1]
			}
			var got []change
			probe(ctx, hc, check, func(h bool) { got = append(got, change{checks, h}) })
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("reports %v, want %v", got, tt.want)
			}
		})
	}
}

// TestTCPConnect: the TCP check passes while the backend listens and fails once it stops.
func TestTCPConnect(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	check := tcpConnect(ln.Addr().String(), time.Second)
	if err := check(context.Background()); err != nil {
		t.Errorf("listening backend: %v", err)
	}
	_ = ln.Close()
	if err := check(context.Background()); err == nil {
		t.Error("stopped backend passed the check")
	}
}
