// Package testenv decides how a test that cannot run on this machine ends (no root, a missing tool
// or build, -short): skipped with the reason when a developer runs go test, and failed with the
// reason when the run must run everything, as `make test` (and so CI) says by setting
// HARVESTERRKE_REQUIRE_ALL=1. Test support only, never linked into the driver.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// RequireAllVar is the environment variable that turns every skip into a failure.
const RequireAllVar = "HARVESTERRKE_REQUIRE_ALL"

// RequireAll reports whether every test must run: RequireAllVar is set, and not to "0".
func RequireAll() bool {
	v := os.Getenv(RequireAllVar)
	return v != "" && v != "0"
}

// Skip ends the test because it cannot run here: skipped with the reason, or failed with it when
// every test must run.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if RequireAll() {
		t.Fatalf("%s (%s is set: this run must run every test)", reason, RequireAllVar)
	}
	t.Skip(reason)
}

// Skipf is Skip with a formatted reason.
func Skipf(t testing.TB, format string, args ...any) {
	t.Helper()
	Skip(t, fmt.Sprintf(format, args...))
}

// NeedRoot ends the test unless it runs as root; why says what needs it.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root: "+why)
	}
}

// SkipShort ends a long test under -short; why says what makes it long.
func SkipShort(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		Skip(t, "-short: "+why)
	}
}
