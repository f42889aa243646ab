package scratch

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestNewIsPrivateAndRemoved(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	d, err := New("rke-")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(d.Path)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("working directory %s: %v %v", d.Path, fi.Mode(), err)
	}
	if !strings.HasPrefix(filepath.Base(d.Path), "rke-") || filepath.Dir(filepath.Dir(d.Path)) != os.Getenv("TMPDIR") {
		t.Errorf("working directory %s not under $TMPDIR/harvesterrke-<uid>/rke-*", d.Path)
	}
	if err := os.WriteFile(filepath.Join(d.Path, "state"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(filepath.Dir(d.Path))
	for _, e := range left {
		if e.Name() != rootLock {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// A place that is not writable, or not private, is passed over for the next one.
func TestNewSkipsUnusablePlaces(t *testing.T) {
	tmp := t.TempDir()
	notADir := filepath.Join(tmp, "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(tmp, "shared")
	if err := os.MkdirAll(filepath.Join(shared, "harvesterrke-"+strconv.Itoa(os.Getuid())), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(shared, "harvesterrke-"+strconv.Itoa(os.Getuid())), 0o777)
	for _, bad := range []string{notADir, shared} {
		if _, err := newIn(filepath.Join(bad, "harvesterrke-"+strconv.Itoa(os.Getuid())), "x-"); err == nil {
			t.Errorf("%s was used", bad)
		}
	}
}

// A call killed by Rancher (SIGKILL) leaves its directory; the next call removes it, and never
// the directory of a call that still runs.
func TestLeftoversOfKilledCallsAreRemoved(t *testing.T) {
	if os.Getenv("SCRATCH_CHILD") == "1" {
		d, err := New("rke-")
		if err != nil {
			os.Exit(3)
		}
		os.WriteFile(filepath.Join(d.Path, "cluster.rkestate"), []byte("secret"), 0o600)
		os.Stdout.WriteString(d.Path + "\n")
		select {}
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestLeftoversOfKilledCallsAreRemoved$")
		cmd.Env = append(os.Environ(), "SCRATCH_CHILD=1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		path, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return cmd, strings.TrimSpace(path)
	}
	killed, killedDir := start()
	live, liveDir := start()
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })
	killed.Process.Signal(syscall.SIGKILL)
	killed.Wait()

	d, err := New("rke-")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	if _, err := os.Stat(killedDir); !os.IsNotExist(err) {
		t.Errorf("the killed call's %s is still there (%v)", killedDir, err)
	}
	if _, err := os.Stat(filepath.Join(liveDir, "cluster.rkestate")); err != nil {
		t.Errorf("the live call's directory was touched: %v", err)
	}
}
