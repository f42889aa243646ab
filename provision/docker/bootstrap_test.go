package docker

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rancher/rke/log"
)

// fakeRunner plays a node: it checks what it is asked to run and prints output.
type fakeRunner struct {
	output []string
	err    error
	delay  time.Duration

	running, peak *atomic.Int32
	command       string
	script        string
}

func (f *fakeRunner) Run(ctx context.Context, command string, stdin io.Reader, output func(string)) error {
	if f.running != nil {
		n := f.running.Add(1)
		defer f.running.Add(-1)
		for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
		}
	}
	b, _ := io.ReadAll(stdin)
	f.command, f.script = command, string(b)
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, l := range f.output {
		output(l)
	}
	return f.err
}

// recorder is an rke/log logger that keeps the messages.
type recorder struct {
	mu  sync.Mutex
	msg []string
}

func (r *recorder) Infof(f string, a ...any)  { r.add(f, a) }
func (r *recorder) Warnf(f string, a ...any)  { r.add(f, a) }
func (r *recorder) Debugf(f string, a ...any) { r.add(f, a) }
func (r *recorder) add(f string, a []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msg = append(r.msg, fmt.Sprintf(f, a...))
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msg, "\n")
}

var okOutput = []string{"docker-bootstrap: found Docker version 28.1.1", changedPrefix + "0", versionPrefix + "28.1.1"}

func TestBootstrap(t *testing.T) {
	cfg := Config{InstallMethod: InstallNone, SupportedVersions: []string{"28.1.x"}}
	key := "-----BEGIN OPENSSH PRIVATE KEY-----"
	tests := []struct {
		name    string
		runner  *fakeRunner
		cfg     Config
		want    Result
		wantErr []string // substrings of the error
		absent  []string // never in the error or the progress
		is      error
	}{
		{name: "ready", runner: &fakeRunner{output: okOutput}, cfg: cfg, want: Result{Node: "n1", Version: "28.1.1"}},
		{name: "changed", runner: &fakeRunner{output: []string{changedPrefix + "1", versionPrefix + "28.1.2"}}, cfg: cfg, want: Result{Node: "n1", Version: "28.1.2", Changed: true}},
		{
			name:    "unsupported version",
			runner:  &fakeRunner{output: []string{changedPrefix + "0", versionPrefix + "29.0.0"}},
			cfg:     cfg,
			want:    Result{Node: "n1"},
			wantErr: []string{"docker on node n1", "docker 29.0.0 is installed", "28.1.x", "ignore-docker-version"},
			is:      ErrUnsupportedVersion,
		},
		{
			name:   "unsupported version ignored",
			runner: &fakeRunner{output: []string{changedPrefix + "0", versionPrefix + "29.0.0"}},
			cfg:    Config{InstallMethod: InstallNone, SupportedVersions: []string{"28.1.x"}, IgnoreUnsupportedVersion: true},
			want:   Result{Node: "n1", Version: "29.0.0"},
		},
		{
			name: "script fails: masked tail in the error",
			runner: &fakeRunner{
				// More lines than the tail keeps, then a key (a block over lines) and a secret in it.
				output: append(strings.Split(strings.Repeat("filler\n", tailLines), "\n"),
					key, "b3BlbnNzaC1rZXktdjE=", "-----END OPENSSH PRIVATE KEY-----",
					"login with hunter2", "docker-bootstrap: error: docker is not installed and the install method is none"),
				err: errors.New("run on node n1 (10.0.0.5:22): Process exited with status 1"),
			},
			cfg:     cfg,
			want:    Result{Node: "n1"},
			wantErr: []string{"docker on node n1: bootstrap script: run on node n1", "last output of node n1", maskedKey, "login with ***", "install method is none"},
			absent:  []string{"hunter2", "b3BlbnNzaC1rZXktdjE=", key},
		},
		{
			name:    "no version line",
			runner:  &fakeRunner{output: []string{"something"}},
			cfg:     cfg,
			want:    Result{Node: "n1"},
			wantErr: []string{"without reporting the docker version", "something"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			ctx := log.SetLogger(context.Background(), rec)
			res, err := Bootstrap(ctx, tt.cfg, []Node{{Name: "n1", User: "rancher", Runner: tt.runner}}, Options{Secrets: []string{"hunter2"}})
			if len(res) != 1 || res[0] != tt.want {
				t.Errorf("results = %+v, want [%+v]", res, tt.want)
			}
			if tt.runner.command != "sudo -n sh -s" || !strings.Contains(tt.runner.script, "SSH_USER='rancher'") {
				t.Errorf("ran %q with a script for another user", tt.runner.command)
			}
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Bootstrap: %v", err)
				}
			} else {
				var ne *NodeError
				if !errors.As(err, &ne) || ne.Node != "n1" {
					t.Fatalf("error %v is not a NodeError of n1", err)
				}
				if len(ne.Output) > tailLines {
					t.Errorf("error keeps %d output lines, want at most %d", len(ne.Output), tailLines)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%s", w, err)
					}
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("error is not %v", tt.is)
				}
			}
			progress := rec.all()
			for _, a := range tt.absent {
				if err != nil && strings.Contains(err.Error(), a) || strings.Contains(progress, a) {
					t.Errorf("%q leaked into the error or progress", a)
				}
			}
			if !strings.Contains(progress, "[n1] ") {
				t.Errorf("progress is not prefixed with the node:\n%s", progress)
			}
		})
	}
}

func TestBootstrapParallel(t *testing.T) {
	var running, peak atomic.Int32
	var nodes []Node
	for i := range 7 {
		r := &fakeRunner{output: okOutput, delay: 50 * time.Millisecond, running: &running, peak: &peak}
		if i == 3 {
			r.err = errors.New("connection lost")
		}
		nodes = append(nodes, Node{Name: fmt.Sprintf("n%d", i), User: "root", Runner: r})
	}
	res, err := Bootstrap(context.Background(), Config{InstallMethod: InstallDistro}, nodes, Options{Concurrency: 3})
	if p := peak.Load(); p != 3 {
		t.Errorf("peak concurrency %d, want 3", p)
	}
	if err == nil || !strings.Contains(err.Error(), "docker on node n3") || strings.Contains(err.Error(), "node n2") {
		t.Errorf("error = %v, want only n3's failure", err)
	}
	for i, r := range res {
		want := "28.1.1"
		if i == 3 {
			want = ""
		}
		if r.Node != nodes[i].Name || r.Version != want {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	if cmd := nodes[0].Runner.(*fakeRunner).command; cmd != "sh -s" {
		t.Errorf("root ran %q, want sh -s without sudo", cmd)
	}
}

// Ready runs on each ready node as soon as it is ready, not on a failed one, and its error is
// that node's.
func TestBootstrapReady(t *testing.T) {
	slow := &fakeRunner{output: okOutput, delay: 500 * time.Millisecond}
	nodes := []Node{
		{Name: "fast", User: "root", Runner: &fakeRunner{output: okOutput}},
		{Name: "broken", User: "root", Runner: &fakeRunner{err: errors.New("connection lost")}},
		{Name: "slow", User: "root", Runner: slow},
	}
	start := time.Now()
	var mu sync.Mutex
	called := map[string]time.Duration{}
	ready := func(_ context.Context, i int) error {
		mu.Lock()
		defer mu.Unlock()
		called[nodes[i].Name] = time.Since(start)
		if nodes[i].Name == "slow" {
			return errors.New("pull failed")
		}
		return nil
	}
	_, err := Bootstrap(context.Background(), Config{InstallMethod: InstallDistro}, nodes, Options{Ready: ready})
	if _, ok := called["broken"]; ok {
		t.Error("Ready ran on a node whose bootstrap failed")
	}
	if d, ok := called["fast"]; !ok || d >= slow.delay {
		t.Errorf("Ready on the fast node: called %v after %s, want before the slow node is ready", ok, d)
	}
	if err == nil || !strings.Contains(err.Error(), "pull failed") {
		t.Errorf("error = %v, want the slow node's Ready failure", err)
	}
}

func TestBootstrapCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	nodes := []Node{
		{Name: "a", User: "u", Runner: &fakeRunner{delay: time.Minute}},
		{Name: "b", User: "u", Runner: &fakeRunner{delay: time.Minute}},
	}
	start := time.Now()
	_, err := Bootstrap(ctx, Config{InstallMethod: InstallNone}, nodes, Options{Concurrency: 1})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "node a") || !strings.Contains(err.Error(), "node b") {
		t.Errorf("error = %v, want both nodes cancelled", err)
	}
	t.Logf("Bootstrap returned %s after it started, cancelled at 50ms", time.Since(start).Round(time.Millisecond))
}

func TestBootstrapBadConfig(t *testing.T) {
	_, err := Bootstrap(context.Background(), Config{InstallMethod: "snap"}, []Node{{Name: "a", User: "u", Runner: &fakeRunner{}}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "snap") {
		t.Errorf("error = %v", err)
	}
}

// scriptedRunner answers each Run with the next of its outputs and keeps the scripts it was given.
type scriptedRunner struct {
	outputs [][]string
	scripts []string
}

func (r *scriptedRunner) Run(_ context.Context, _ string, stdin io.Reader, output func(string)) error {
	b, _ := io.ReadAll(stdin)
	r.scripts = append(r.scripts, string(b))
	if len(r.outputs) > 0 {
		for _, l := range r.outputs[0] {
			output(l)
		}
		r.outputs = r.outputs[1:]
	}
	return nil
}

// The node's daemon.json is read from its own line: what the node prints on stderr around it
// (sudo on a host whose name does not resolve says so on every command) must not break the merge.
func TestExistingDaemonJSONBesideNoise(t *testing.T) {
	noise := "sudo: unable to resolve host n1: Name or service not known"
	existing := base64.StdEncoding.EncodeToString([]byte(`{"log-driver": "journald"}`))
	cfg := Config{InstallMethod: InstallNone, RegistryMirrors: []string{"https://mirror.example.com"}}
	for _, tc := range []struct {
		name    string
		read    []string
		wantErr string
		want    []string // in the bootstrap script's daemon.json
	}{
		{"noise first", []string{noise, existingPrefix + existing}, "", []string{"journald", "mirror.example.com"}},
		{"noise after", []string{existingPrefix + existing, noise}, "", []string{"journald", "mirror.example.com"}},
		{"no file", []string{noise, existingPrefix}, "", []string{"mirror.example.com"}},
		{"no answer", []string{noise}, "printed no DAEMON_JSON_BASE64 line", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &scriptedRunner{outputs: [][]string{tc.read}}
			script, err := nodeScript(context.Background(), cfg, Node{Name: "n1", User: "ubuntu", Runner: r})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(script, w) {
					t.Errorf("the script's daemon.json lacks %q", w)
				}
			}
		})
	}
}

// The command that reads daemon.json, run by a real shell, prints the file on the marked line
// whatever it holds (several lines, no trailing newline) and an empty one when there is none.
func TestReadDaemonJSONInShell(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"{\n  \"a\": 1,\n  \"b\": [\"x\"]\n}\n", `{"c":2}`, ""} {
		path := filepath.Join(dir, "daemon json")
		os.Remove(path)
		if content != "" {
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		out, err := exec.Command("sh", "-c", readDaemonJSON(path)).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		line, ok := strings.CutPrefix(strings.TrimSpace(string(out)), existingPrefix)
		got, derr := base64.StdEncoding.DecodeString(line)
		if !ok || derr != nil || string(got) != content {
			t.Errorf("read %q as %q (%v)", content, out, derr)
		}
	}
}
