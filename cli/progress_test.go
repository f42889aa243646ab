package cli

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

// syncBuffer is a bytes.Buffer safe for the progress ticker's writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgress(t *testing.T) {
	nodes := func(phase provision.Phase, names ...string) []provision.Node {
		var out []provision.Node
		for _, n := range names {
			out = append(out, provision.Node{Name: n, Pool: "worker", Address: "10.0.0.9", Phase: phase})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		tty      bool
		want     []string
		wantNone []string
	}{
		{"plain", false,
			[]string{"] [harvesterrke] creating VMs\n", "] c-worker-2 (worker): VM\n", "] c-worker-2 (worker): address 10.0.0.9\n",
				"] c-worker-2 (worker): Docker\n", "] warning: slow node\n", "] pulling image x\n", "the end\n"},
			[]string{"\x1b[", "c-worker-1 (worker): VM", "debug"}},
		{"terminal", true,
			[]string{"[harvesterrke] creating VMs\n", "warning: slow node\n", "pulling image x", "\x1b[", "the end\n",
				"c-worker-1 worker 10.0.0.9 VM ok > address ok > SSH ok > Docker 0.0s > Kubernetes...\n",
				"c-worker-2 worker 10.0.0.9 VM 0.0s > address...\n", "\x1b[3A\r\x1b[J"},
			[]string{"debug"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out syncBuffer
			p := newProgress(&out, tc.tty, 200, false)
			p.seed(nodes(provision.PhaseSSH, "c-worker-1"))
			p.Infof("[harvesterrke] creating VMs")
			p.checkpoint(append(nodes(provision.PhaseSSH, "c-worker-1"), nodes(provision.PhaseVM, "c-worker-2")...))
			p.checkpoint(append(nodes(provision.PhaseDocker, "c-worker-1"), nodes(provision.PhaseDocker, "c-worker-2")...))
			p.Warnf("slow node")
			p.Debugf("debug detail")
			p.Infof("pulling image x")
			p.finish()
			p.printf("the end")
			got := regexp.MustCompile(` +`).ReplaceAllString(out.String(), " ")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%q", w, got)
				}
			}
			for _, w := range tc.wantNone {
				if strings.Contains(got, w) {
					t.Errorf("output has %q:\n%q", w, got)
				}
			}
		})
	}
}

// The live display on a real terminal: the test binary acting as the driver binary runs under
// script(1), which gives it a pseudo-terminal.
func TestProgressOnTerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		testenv.Skip(t, "script(1) not installed (util-linux)")
	}
	h := newHarness(t)
	create := h.childCommand([]string{"FAKE_STEP=300ms", "FAKE_FAIL_AT=kubernetes"}, "create", "demo")
	// script runs the command line through sh: quote each word.
	var words []string
	for _, w := range create.Args {
		words = append(words, "'"+w+"'")
	}
	cmd := exec.Command("script", "-q", "-e", "-c", "stty cols 150; "+strings.Join(words, " "), "/dev/null")
	cmd.Env = create.Env
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1 (the create fails at Kubernetes), got %v:\n%s", err, out)
	}
	got := string(out)
	// The block is redrawn in place: cursor up, erase below.
	if n := len(regexp.MustCompile(`\x1b\[\d+A\r\x1b\[J`).FindAllString(got, -1)); n < 5 {
		t.Errorf("%d redraws, want several:\n%q", n, got)
	}
	final := got[strings.LastIndex(got, "\x1b[J")+len("\x1b[J"):]
	for _, want := range []string{
		// One line per node with the time each phase was reached.
		`demo-worker-1 +worker +10\.0\.0\.12 +VM 0\.\ds > address 0\.\ds > SSH 0\.\ds > Docker [01]\.\ds\r?\n`,
		"create stopped at the Kubernetes step", "error: run RKE cluster up",
	} {
		if !regexp.MustCompile(want).MatchString(final) {
			t.Errorf("final screen lacks %q:\n%s", want, final)
		}
	}
	if strings.Contains(got, "[   0.") {
		t.Errorf("plain log lines on a terminal:\n%s", got)
	}
}

// Messages carry what nodes print: a node's escape sequences (a title change, a cleared screen, a
// carriage return that hides the line before) reach the user's terminal as plain text, not commands.
func TestProgressStripsControlCharacters(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var out syncBuffer
		p := newProgress(&out, tty, 200, false)
		p.Infof("[n1] \x1b]0;owned\x07docker\rinstalled\x1b[2J\x00\x9b31m")
		p.Warnf("[n1] bell\x07")
		p.finish()
		got := out.String()
		// The progress display's own drawing uses escapes on a terminal; the node's never get through.
		for _, bad := range []string{"\x1b]0;", "\x07", "\rinstalled", "\x1b[2J", "\x00", "\u009b"} {
			if strings.Contains(got, bad) {
				t.Errorf("tty %v: output has %q: %q", tty, bad, got)
			}
		}
		if !tty && !strings.Contains(got, "owneddockerinstalled[2J") {
			t.Errorf("the message's text is gone: %q", got)
		}
	}
}
