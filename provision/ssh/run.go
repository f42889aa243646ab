package ssh

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// closeGrace is how long a cancelled Run waits for the server to close the session.
const closeGrace = 5 * time.Second

// maxLine bounds a buffered output line; longer ones are passed on in pieces.
const maxLine = 64 << 10

// Run runs command with the user's login shell on the node, feeding it stdin (may be nil) and
// passing every line of its combined stdout and stderr to output (may be nil) as it arrives.
// Commands run as the SSH user: prefix "sudo -n" where root is needed. Cancelling ctx closes the
// session. A non-zero exit wraps *ssh.ExitError (ExitStatus()). Output is not put in the error: it
// may hold secrets, so callers keep and mask what they report (see package docker).
func (c *Client) Run(ctx context.Context, command string, stdin io.Reader, output func(line string)) error {
	s, err := c.conn.NewSession()
	if err != nil {
		return fmt.Errorf("run on node %s (%s): open session: %w", c.ep.Name, c.addr, err)
	}
	defer s.Close()

	var outMu sync.Mutex // stdout and stderr are copied by separate goroutines
	emit := func(line string) {
		if output != nil {
			outMu.Lock()
			defer outMu.Unlock()
			output(line)
		}
	}
	stdout, stderr := &lineWriter{emit: emit}, &lineWriter{emit: emit}
	s.Stdin, s.Stdout, s.Stderr = stdin, stdout, stderr

	var (
		cancelMu sync.Mutex
		done     bool
		force    *time.Timer
	)
	stop := context.AfterFunc(ctx, func() {
		s.Close()
		// Closing the session needs the server's answer; a node that stopped answering would keep
		// Run blocked, so drop the whole connection if the answer does not come soon.
		cancelMu.Lock()
		defer cancelMu.Unlock()
		if !done {
			force = time.AfterFunc(closeGrace, func() { c.conn.Close() })
		}
	})
	err = s.Run(command)
	cancelled := !stop()
	cancelMu.Lock()
	done = true
	if force != nil {
		force.Stop()
	}
	cancelMu.Unlock()
	stdout.flush()
	stderr.flush()
	if cancelled {
		return fmt.Errorf("run on node %s (%s): %w", c.ep.Name, c.addr, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("run on node %s (%s): %w", c.ep.Name, c.addr, err)
	}
	return nil
}

// lineWriter splits a stream into lines without their "\n" or "\r\n".
type lineWriter struct {
	emit func(string)
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			for len(w.buf) >= maxLine {
				w.emit(string(w.buf[:maxLine]))
				w.buf = w.buf[maxLine:]
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.emit(string(bytes.TrimSuffix(w.buf, []byte("\r"))))
		w.buf = w.buf[:0]
		p = p[i+1:]
	}
	return n, nil
}

// flush passes on a last line that had no newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(string(bytes.TrimSuffix(w.buf, []byte("\r"))))
		w.buf = nil
	}
}
