package proc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStartAndKillRecorded: a started process is recorded with its start time, its output lines
// reach onLine and its log, and KillRecorded stops it as a later run would stop a dead stand-in's.
func TestStartAndKillRecorded(t *testing.T) {
	dir := t.TempDir()
	reg := NewRegistry(filepath.Join(dir, "pids"))
	lines := make(chan string, 10)
	p, err := StartLines(reg, "sleeper", filepath.Join(dir, "sleeper.log"), Env, func(l string) { lines <- l },
		"/bin/sh", "-c", "echo ready; exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	select {
	case l := <-lines:
		if l != "ready" {
			t.Errorf("first line %q, want ready", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no output line")
	}
	data, err := os.ReadFile(filepath.Join(dir, "pids"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data))
	if len(f) != 3 || f[0] != strconv.Itoa(p.PID()) || f[2] != "sleeper" {
		t.Errorf("registry %q, want the pid %d, its start time and the name", data, p.PID())
	}
	if err := KillRecorded(filepath.Join(dir, "pids")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the recorded process survives KillRecorded")
	}
	if msg := p.ExitError().Error(); !strings.Contains(msg, "killed") || !strings.Contains(msg, "ready") {
		t.Errorf("exit error %q: want how it ended and the end of its log", msg)
	}
}

// TestKillRecordedSkipsReusedPIDs: a recorded PID whose start time differs belongs to another process
// now and is left alone.
func TestKillRecordedSkipsReusedPIDs(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(NewRegistry(filepath.Join(dir, "ignored")), "other", filepath.Join(dir, "log"), Env, "sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	st, err := startTime(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "pids")
	if err := os.WriteFile(stale, []byte(strconv.Itoa(p.PID())+" "+strconv.FormatUint(st+1, 10)+" gone\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := KillRecorded(stale); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.PID(), 0); err != nil {
		t.Errorf("a process with a reused PID was killed: %v", err)
	}
}

// TestStopAndChildPID: Stop ends a process that exits on SIGTERM, and ChildPID finds a process's child.
func TestStopAndChildPID(t *testing.T) {
	dir := t.TempDir()
	started := make(chan string, 1)
	p, err := StartLines(NewRegistry(filepath.Join(dir, "pids")), "parent", filepath.Join(dir, "log"), Env,
		func(l string) { started <- l }, "/bin/sh", "-c", "sleep 60 >/dev/null 2>&1 & echo started; wait")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started: // the shell has forked its child
	case <-time.After(30 * time.Second):
		t.Fatal("the shell never started its child")
	}
	child, err := ChildPID(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(child) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "\nPPid:\t"+strconv.Itoa(p.PID())+"\n") {
		t.Errorf("process %d is not a child of %d:\n%s", child, p.PID(), status)
	}
	p.Stop(10 * time.Second)
	select {
	case <-p.Done():
	default:
		t.Error("Stop returned before the process was reaped")
	}
	_ = syscall.Kill(child, syscall.SIGKILL)
}
