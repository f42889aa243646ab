package ssh

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// connect starts a server and returns a logged-in client.
func connect(t *testing.T) (*Client, *testServer) {
	t.Helper()
	client, host := newED25519(t), newED25519(t)
	srv := startServer(t, serverOptions{hostKeys: []gossh.Signer{host}, user: "rancher", authorized: client.PublicKey()})
	c, err := newDialer(t, Config{Signer: client}).Dial(context.Background(), Endpoint{Name: "n1", Address: srv.addr, User: "rancher", HostKey: host.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, srv
}

func TestRun(t *testing.T) {
	c, _ := connect(t)
	tests := []struct {
		name       string
		command    string
		stdin      string
		wantLines  []string // in any order across stdout and stderr
		wantStatus int      // -1: success
	}{
		{name: "stdout and stderr", command: "lines 3", wantLines: []string{"out 0", "out 1", "out 2", "err 0", "err 1", "err 2"}, wantStatus: -1},
		{name: "stdin", command: "cat", stdin: "a\r\nb\nlast", wantLines: []string{"a", "b", "last"}, wantStatus: -1},
		{name: "exit status", command: "exit 3", wantLines: []string{"failing with 3"}, wantStatus: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := c.Run(context.Background(), tt.command, strings.NewReader(tt.stdin), func(l string) { got = append(got, l) })
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.wantLines))
			if !slices.Equal(got, want) {
				t.Errorf("lines = %q, want %q", got, want)
			}
			if tt.wantStatus < 0 {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				return
			}
			var exit *gossh.ExitError
			if !errors.As(err, &exit) || exit.ExitStatus() != tt.wantStatus {
				t.Fatalf("Run error = %v, want exit status %d", err, tt.wantStatus)
			}
			if !strings.Contains(err.Error(), "node n1") || strings.Contains(err.Error(), "failing") {
				t.Errorf("error %q must name the node and hold no output", err)
			}
		})
	}
}

func TestRunCancel(t *testing.T) {
	c, _ := connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := c.Run(ctx, "hang", nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error = %v, want cancelled", err)
	}
	t.Logf("Run returned %s after it started, cancelled at 200ms", time.Since(start).Round(time.Millisecond))
	// The connection survives a cancelled command.
	if err := c.Run(context.Background(), "true", nil, nil); err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
}

func TestLineWriter(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	tests := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{name: "split across writes", chunks: []string{"ab", "c\nde", "f\n"}, want: []string{"abc", "def"}},
		{name: "crlf and empty lines", chunks: []string{"a\r\n\nb\n"}, want: []string{"a", "", "b"}},
		{name: "no final newline", chunks: []string{"a\nb"}, want: []string{"a", "b"}},
		{name: "long line", chunks: []string{long, "\n"}, want: []string{long[:maxLine], long[maxLine:]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			w := &lineWriter{emit: func(l string) { got = append(got, l) }}
			for _, c := range tt.chunks {
				if n, err := w.Write([]byte(c)); n != len(c) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			w.flush()
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines = %q, want %q", short(got), short(tt.want))
			}
		})
	}
}

func short(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > 20 {
			l = fmt.Sprintf("%s...(%d)", l[:10], len(l))
		}
		out[i] = l
	}
	return out
}
