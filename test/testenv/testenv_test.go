package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// childVar makes the test binary run TestSkipChild, the test whose end is checked.
const childVar = "TESTENV_CHILD"

// TestSkip runs a test that calls Skip, with and without RequireAllVar, and checks how it ends.
func TestSkip(t *testing.T) {
	for _, tc := range []struct {
		requireAll string
		want       string // in go test -v's output
		fails      bool
	}{
		{"", "--- SKIP: TestSkipChild", false},
		{"0", "--- SKIP: TestSkipChild", false},
		{"1", "--- FAIL: TestSkipChild", true},
		{"yes", "--- FAIL: TestSkipChild", true},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSkipChild$", "-test.v")
		cmd.Env = append(os.Environ(), childVar+"=1", RequireAllVar+"="+tc.requireAll)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.fails || !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "no widget here") {
			t.Errorf("%s=%q: exit %v, want %q with the reason:\n%s", RequireAllVar, tc.requireAll, err, tc.want, out)
		}
	}
}

// TestSkipChild does nothing unless TestSkip runs it (no skip of its own: a make test run shows none).
func TestSkipChild(t *testing.T) {
	if os.Getenv(childVar) == "" {
		return
	}
	Skip(t, "no widget here")
}
