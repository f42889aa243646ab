// Package logtail handles the output of the commands the test support packages run, for progress
// logs, error messages and test diagnostics: line by line as it comes, and the end of it. Test
// support only, never linked into the driver.
package logtail

import (
	"bytes"
	"io"
	"strings"
)

// Last returns the last n lines of s, without its trailing newlines.
func Last(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Lines returns a writer that copies everything to out and hands each complete line to onLine. It
// is not safe for concurrent writes (exec.Cmd serialises them when Stdout and Stderr are the same
// writer).
func Lines(out io.Writer, onLine func(string)) io.Writer {
	return &lineWriter{out: out, onLine: onLine}
}

type lineWriter struct {
	out    io.Writer
	onLine func(string)
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.onLine(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return w.out.Write(p)
}
