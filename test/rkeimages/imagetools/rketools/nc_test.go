package main

import (
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseNC(t *testing.T) {
	tests := []struct {
		args    []string
		want    ncOptions
		wantErr string
	}{
		{args: []string{"-kl", "-p", "1337", "-e", "echo"}, want: ncOptions{listen: true, keep: true, port: "1337", exec: "echo"}},
		{args: []string{"-w", "5", "-z", "10.0.0.1", "2379"}, want: ncOptions{zero: true, wait: 5 * time.Second, args: []string{"10.0.0.1", "2379"}}},
		{args: []string{"-zw5", "h", "1"}, want: ncOptions{zero: true, wait: 5 * time.Second, args: []string{"h", "1"}}},
		{args: []string{"-u", "h", "1"}, wantErr: "unsupported option -u"},
		{args: []string{"-l", "-p"}, wantErr: "option -p needs a value"},
		{args: []string{"-w", "soon", "-z", "h", "1"}, wantErr: `-w "soon"`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := parseNC(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestNCListenAndCheck plays RKE's port check: a -k -e echo listener must survive many checks,
// one without -k stops after its first connection.
func TestNCListenAndCheck(t *testing.T) {
	tests := []struct {
		name        string
		keep        bool
		connections int
	}{
		{name: "keep listening", keep: true, connections: 5},
		{name: "one connection", keep: false, connections: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- acceptLoop(ctx, ln, ncOptions{listen: true, keep: tc.keep, exec: "echo"}) }()
			host, port, _ := net.SplitHostPort(ln.Addr().String())
			for i := range tc.connections {
				if tc.keep {
					if err := ncCommand(ctx, []string{"-w", "5", "-z", host, port}); err != nil {
						t.Fatalf("check %d: %v", i, err)
					}
				}
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				out, _ := io.ReadAll(c)
				c.Close()
				if string(out) != "\n" {
					t.Errorf("connection %d: got %q from echo, want a newline", i, out)
				}
			}
			if tc.keep {
				cancel()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("listener: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("listener did not stop")
			}
		})
	}
}

func TestNCCheckClosedPort(t *testing.T) {
	// Port 1, not a port of the ephemeral range a closed listener would leave: a client dialing
	// one of those can be given it as its own source port and connect to itself.
	var code exitCode
	if err := ncCommand(context.Background(), []string{"-w", "1", "-z", "127.0.0.1", "1"}); !errors.As(err, &code) || code != 1 {
		t.Errorf("check of a closed port: %v, want exit status 1", err)
	}
}
