package harvestersim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

// TestFootprint measures what docs/simulator.md reports (start-up and teardown time, memory of each
// component and of a fake host, time per host) and logs it (go test -v); it fails when a fake host's
// memory grows far beyond it. The times are not checked: they depend on what else the machine runs.
func TestFootprint(t *testing.T) {
	testenv.NeedRoot(t, "the stand-in's fake hosts")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	s := harvestersim.Start(t, harvestersim.Options{})
	startup := time.Since(start)
	e := newEnv(t, s)
	report := []string{fmt.Sprintf("start-up (caches warm): %s", startup.Round(10*time.Millisecond))}
	for _, c := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		report = append(report, fmt.Sprintf("%s RSS idle: %d MiB", c, rssKiB(s.PIDs()[c])/1024))
	}

	k := newKeys(t)
	t0 := time.Now()
	e.createVM(ctx, t, debian12("fp-single", "footprint", simpleUserData(k)))
	vmi := e.waitVMI(ctx, t, "fp-single", running)
	booted := time.Since(t0)
	c, err := dialSSH(ctx, vmi.Status.Interfaces[0].IP, "rke", k)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	report = append(report, fmt.Sprintf("one VM: running with an address after %s, SSH login after %s",
		booted.Round(10*time.Millisecond), time.Since(t0).Round(10*time.Millisecond)))

	const n = 5
	var wg sync.WaitGroup
	took := make([]time.Duration, n)
	begin := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := fmt.Sprintf("fp-%d", i)
			t0 := time.Now()
			e.createVM(ctx, t, debian12(name, "footprint", simpleUserData(k)))
			vmi := e.waitVMI(ctx, t, name, running)
			c, err := dialSSH(ctx, vmi.Status.Interfaces[0].IP, "rke", k)
			if err != nil {
				t.Error(err)
				return
			}
			c.Close()
			took[i] = time.Since(t0)
		}(i)
	}
	wg.Wait()
	all := time.Since(begin)
	var max time.Duration
	for _, d := range took {
		max = mx(max, d)
	}
	report = append(report, fmt.Sprintf("%d VMs created at once: all reachable over SSH after %s (slowest %s)", n, all.Round(10*time.Millisecond), max.Round(10*time.Millisecond)))
	hostRSS := nsRSSKiB(s.PIDs()["host default/fp-0"])
	report = append(report, fmt.Sprintf("fake host RSS (sshd, idle): %d MiB", hostRSS/1024))
	for _, c := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		report = append(report, fmt.Sprintf("%s RSS with %d VMs: %d MiB", c, n, rssKiB(s.PIDs()[c])/1024))
	}

	report = append(report, fmt.Sprintf("test process (simulator controller, clients) RSS: %d MiB", rssKiB(os.Getpid())/1024))
	t0 = time.Now()
	if _, err := s.Exec(ctx, "default/fp-0", "sh", "-c", "setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null &"); err != nil {
		t.Fatal(err)
	}
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, 500*time.Millisecond) {
		if _, err := s.Exec(ctx, "default/fp-0", "docker", "info"); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("dockerd never answered")
		case <-time.After(delay):
		}
	}
	report = append(report, fmt.Sprintf("dockerd ready in %s; fake host RSS with dockerd: %d MiB",
		time.Since(t0).Round(10*time.Millisecond), nsRSSKiB(s.PIDs()["host default/fp-0"])/1024))

	t0 = time.Now()
	names := []string{"fp-single"}
	for i := 0; i < n; i++ {
		names = append(names, fmt.Sprintf("fp-%d", i))
	}
	e.deleteVMs(ctx, t, "footprint", names...)
	report = append(report, fmt.Sprintf("%d VMs deleted (foreground) with nothing left after %s", len(names), time.Since(t0).Round(10*time.Millisecond)))
	t0 = time.Now()
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	teardown := time.Since(t0)
	report = append(report, fmt.Sprintf("teardown: %s", teardown.Round(10*time.Millisecond)))
	t.Log("footprint:\n" + strings.Join(report, "\n"))

	if hostRSS > 64*1024 {
		t.Errorf("a fake host takes %d MiB, more than 64", hostRSS/1024)
	}
}

func mx(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// rssKiB is VmRSS of a process.
func rssKiB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// nsRSSKiB sums VmRSS over the processes in the PID namespace of init.
func nsRSSKiB(init int) int {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", init))
	if err != nil {
		return 0
	}
	total := 0
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if l, err := os.Readlink(d + "/ns/pid"); err == nil && l == ns {
			pid, _ := strconv.Atoi(filepath.Base(d))
			total += rssKiB(pid)
		}
	}
	return total
}
