// Package logtail cuts the end off a command's output or a log file, for error messages and test
// diagnostics of the test support packages.
package logtail

import "strings"

// Last returns the last n lines of s, without its trailing newlines.
func Last(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
