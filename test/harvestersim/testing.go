package harvestersim

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/logtail"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

// Start starts a stand-in for a test and stops it in the test's cleanup, also when the test fails.
// Without root, a test that needs fake hosts is skipped with the reason (failed under make test, see
// package testenv); any other start failure fails the test. A cold machine first builds what the
// stand-in needs (see Prepare).
func Start(t testing.TB, opts Options) *Sim {
	t.Helper()
	if os.Geteuid() != 0 && !opts.NoHosts && !opts.KubernetesOnly {
		testenv.Skip(t, ErrNeedsRoot.Error())
	}
	var stopped atomic.Bool
	if opts.Logf == nil {
		opts.Logf = func(format string, args ...any) {
			if !stopped.Load() {
				t.Logf(format, args...)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	s, err := New(ctx, opts)
	if err != nil {
		t.Fatalf("start harvestersim: %v", err)
	}
	track(s)
	t.Cleanup(func() {
		if t.Failed() {
			s.logDiagnostics(t)
		}
		err := s.Close()
		untrack(s)
		stopped.Store(true)
		if err != nil {
			t.Errorf("stop harvestersim: %v", err)
		}
	})
	return s
}

// logDiagnostics prints the end of each component's and host's log, for a failed test.
func (s *Sim) logDiagnostics(t testing.TB) {
	logs, _ := filepath.Glob(filepath.Join(s.slot.Dir, "*.log"))
	hostLogs, _ := filepath.Glob(filepath.Join(s.slot.Dir, "hosts", "*", "console.log"))
	for _, l := range append(logs, hostLogs...) {
		if data, err := os.ReadFile(l); err == nil {
			t.Logf("harvestersim: end of %s:\n%s", l, logtail.Last(string(data), 20))
		}
	}
}

// Stand-ins of the test process, stopped when it is interrupted (Ctrl-C, SIGTERM) so that nothing is
// left until the next run's sweep.
var (
	liveMu      sync.Mutex
	live        = map[*Sim]bool{}
	signalsOnce sync.Once
)

func track(s *Sim) {
	signalsOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			sig := <-ch
			liveMu.Lock()
			for s := range live {
				_ = s.Close()
			}
			liveMu.Unlock()
			signal.Reset(sig)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		}()
	})
	liveMu.Lock()
	live[s] = true
	liveMu.Unlock()
}

func untrack(s *Sim) {
	liveMu.Lock()
	delete(live, s)
	liveMu.Unlock()
}
