package harvestersim_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

const crashChildEnv = "HARVESTERSIM_TEST_CRASH_CHILD"

// TestSweepAfterCrash: a stand-in whose process is killed (no cleanup runs) leaves network namespaces,
// its switch's uplink, a host's cgroup, firewall rules and files; the next run sweeps them, and none of
// its processes survive.
func TestSweepAfterCrash(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild(t)
		return
	}
	testenv.NeedRoot(t, "the stand-in's fake hosts")
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSweepAfterCrash$", "-test.v")
	child.Env = append(os.Environ(), crashChildEnv+"=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = child.Stdout
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var dir string
	var log strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if d, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "READY "); ok {
			dir = d
			break
		}
	}
	if dir == "" {
		_ = child.Wait()
		t.Fatalf("the child stand-in did not start:\n%s", log.String())
	}
	_ = child.Process.Signal(syscall.SIGKILL)
	go func() { _, _ = bufio.NewReader(out).WriteTo(devNull{}) }()
	_ = child.Wait()

	slot := filepath.Base(dir)
	netns := "hsim" + slot + "-"
	comment := "harvestersim-slot" + slot + " "
	left := func() []string {
		var found []string
		if _, err := os.Stat(dir); err == nil {
			found = append(found, "dir "+dir)
		}
		ns, _ := exec.Command("ip", "netns", "list").Output()
		for _, l := range strings.Split(string(ns), "\n") {
			if strings.HasPrefix(l, netns) {
				found = append(found, "netns "+l)
			}
		}
		links, _ := exec.Command("ip", "-o", "link", "show").Output()
		for _, l := range strings.Split(string(links), "\n") {
			if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], "hsim"+slot+"sw") {
				found = append(found, "veth "+f[1])
			}
		}
		cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/" + netns + "*")
		v2, _ := filepath.Glob("/sys/fs/cgroup/" + netns + "*")
		for _, c := range append(cgroups, v2...) {
			found = append(found, "cgroup "+c)
		}
		rules, _ := exec.Command("iptables", "-w", "-S", "FORWARD").Output()
		for _, l := range strings.Split(string(rules), "\n") {
			if strings.Contains(l+" ", comment) {
				found = append(found, "rule "+l)
			}
		}
		return found
	}
	before := left()
	t.Logf("left by the killed stand-in: %v", before)
	if len(before) < 6 {
		t.Errorf("expected a dir, two netns (host, switch), a veth, a cgroup and firewall rules after the crash, found %v", before)
	}
	harvestersim.Sweep(t.Logf)
	if after := left(); len(after) > 0 {
		t.Errorf("left after the sweep: %v", after)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if data, err := os.ReadFile(p); err == nil && strings.Contains(string(data), dir) {
			t.Errorf("process %s of the killed stand-in survives: %s", p, strings.ReplaceAll(string(data), "\x00", " "))
		}
	}
}

// crashChild runs a stand-in with one VM whose host made its cgroup (as its dockerd would), and waits
// to be killed.
func crashChild(t *testing.T) {
	ctx := context.Background()
	s, err := harvestersim.New(ctx, harvestersim.Options{Images: harvestersim.DefaultImages[:1]})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, s)
	e.createVM(ctx, t, debian12("crash", "crash", ""))
	e.waitVMI(ctx, t, "crash", running)
	// The stand-in's first host is host 0 of its slot.
	cgroup := "/sys/fs/cgroup/pids/hsim" + filepath.Base(filepath.Dir(s.KubeconfigPath)) + "-0/docker"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		cgroup = "/sys/fs/cgroup/hsim" + filepath.Base(filepath.Dir(s.KubeconfigPath)) + "-0/docker"
	}
	if _, err := s.Exec(ctx, "default/crash", "mkdir", "-p", cgroup); err != nil {
		t.Fatal(err)
	}
	fmt.Println("READY " + filepath.Dir(s.KubeconfigPath))
	select {}
}

type devNull struct{}

func (devNull) Write(p []byte) (int, error) { return len(p), nil }
