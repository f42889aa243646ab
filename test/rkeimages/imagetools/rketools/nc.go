package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// exitCode ends the command with that status and no message, as netcat fails a -z check.
type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// ncOptions are the netcat options RKE's port checks use.
type ncOptions struct {
	listen, keep, zero bool
	port, exec         string
	wait               time.Duration
	args               []string
}

// parseNC reads traditional netcat options; single-letter flags may be combined (-kl).
func parseNC(args []string) (ncOptions, error) {
	var o ncOptions
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			o.args = append(o.args, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			switch c := a[j]; c {
			case 'l':
				o.listen = true
			case 'k':
				o.keep = true
			case 'z':
				o.zero = true
			case 'p', 'e', 'w':
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return o, fmt.Errorf("option -%c needs a value", c)
					}
					i++
					val = args[i]
				}
				switch c {
				case 'p':
					o.port = val
				case 'e':
					o.exec = val
				case 'w':
					secs, err := strconv.Atoi(val)
					if err != nil || secs < 0 {
						return o, fmt.Errorf("-w %q: want seconds", val)
					}
					o.wait = time.Duration(secs) * time.Second
				}
				j = len(a)
			default:
				return o, fmt.Errorf("unsupported option -%c (only -l -k -p -e -z -w)", c)
			}
		}
	}
	return o, nil
}

// ncCommand is netcat as RKE runs it: `nc -kl -p PORT -e PROG` listens during the port checks, and
// `nc -w SECS -z HOST PORT` is the check. (ncat 7.93 of Debian 12 aborts after the first -e
// connection; netcat-openbsd has no -e.)
func ncCommand(ctx context.Context, args []string) error {
	o, err := parseNC(args)
	if err != nil {
		return err
	}
	switch {
	case o.listen && o.port != "" && len(o.args) == 0:
		return ncListen(ctx, o)
	case o.zero && len(o.args) == 2:
		d := net.Dialer{Timeout: o.wait}
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(o.args[0], o.args[1]))
		if err != nil {
			return exitCode(1)
		}
		return c.Close()
	}
	return errors.New("usage: nc [-k] -l -p PORT [-e PROG] | nc [-w SECS] -z HOST PORT")
}

func ncListen(ctx context.Context, o ncOptions) error {
	ln, err := net.Listen("tcp", ":"+o.port)
	if err != nil {
		return err
	}
	return acceptLoop(ctx, ln, o)
}

// acceptLoop accepts connections, running PROG on each with the connection as its standard input
// and output; without -k it returns after the first connection.
func acceptLoop(ctx context.Context, ln net.Listener, o ncOptions) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if !o.keep {
			ln.Close()
			return serveConn(c, o.exec)
		}
		go serveConn(c, o.exec)
	}
}

// serveConn runs prog on the connection's socket itself, as netcat does: copying through pipes
// would wait for the peer to close its side after prog has exited.
func serveConn(c net.Conn, prog string) error {
	defer c.Close()
	if prog == "" {
		return nil
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return fmt.Errorf("serve %s: not a TCP connection", c.RemoteAddr())
	}
	f, err := tc.File()
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(prog)
	cmd.Stdin, cmd.Stdout = f, f
	return cmd.Run()
}
