package rke

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// refuse is a Docker dialer for nodes that are not there.
func refuse(context.Context, string) (net.Conn, error) {
	return nil, syscall.ECONNREFUSED
}

func TestUpWithUnreachableNodes(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the work directory would go
	c := Config{Nodes: layout(pool{"cp", 1, etcdAndCP}, pool{"w", 2, workerOnly})}
	previous := Files{State: []byte("{}")}

	res, err := Up(testContext(t), c, previous, Dialers{Docker: refuse})
	if err == nil {
		t.Fatal("Up succeeded without nodes")
	}
	msg := err.Error()
	t.Logf("error: %s", msg)
	for _, want := range []string{"nodes cannot be reached", "node cp-1 (192.168.10.10): docker socket: connection refused",
		"node w-1 (192.168.10.11): docker socket: connection refused", "node w-2 (192.168.10.12): docker socket: connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error does not wrap the dialer's: %v", err)
	}
	if strings.Contains(msg, "PRIVATE KEY") {
		t.Error("the error shows a private key")
	}
	if string(res.Files.State) != "{}" || res.Endpoint != "" || res.ClientKey != "" {
		t.Errorf("Up returned %v, want the previous files only", res)
	}
	assertEmptyDir(t, tmp)
}

func TestUpKeepsPartialState(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the work directory goes, to see that it is removed
	c := Config{Nodes: layout(pool{"all", 1, allRoles})}
	ctx, cancel := context.WithTimeout(testContext(t), 2*time.Minute)
	defer cancel()

	res, err := Up(ctx, c, Files{}, Dialers{Docker: vanishing()})
	if err == nil || !strings.Contains(err.Error(), "rke up:") ||
		!strings.Contains(err.Error(), "node all-1 (192.168.10.10): docker socket: connection refused") {
		t.Fatalf("error = %v", err)
	}
	// ClusterInit wrote the desired state, certificates included: the retry must reuse that CA.
	if len(res.Files.State) == 0 {
		t.Fatal("the partial state was dropped")
	}
	if res.Endpoint != "" || res.ClientKey != "" {
		t.Errorf("a failed Up returned credentials: %v", res)
	}
	assertEmptyDir(t, tmp)

	again, err := Up(ctx, c, res.Files, Dialers{Docker: vanishing()})
	if err == nil {
		t.Fatal("second Up succeeded without nodes")
	}
	if caOf(t, again.Files.State) != caOf(t, res.Files.State) {
		t.Error("the retry generated a new CA")
	}
	assertEmptyDir(t, tmp)
}

func TestRemoveWithUnreachableNodes(t *testing.T) {
	c := Config{Nodes: layout(pool{"cp", 1, etcdAndCP}, pool{"w", 1, workerOnly})}
	err := Remove(testContext(t), c, Dialers{Docker: refuse})
	if !errors.Is(err, errUnreachable) || !strings.Contains(err.Error(), "node w-1 (192.168.10.11)") {
		t.Errorf("error = %v", err)
	}
}

// vanishing lets the first dial to each node (the probe) succeed, with a connection closed at
// once, and refuses the later ones: nodes that go away while RKE runs.
func vanishing() DockerDialer {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(_ context.Context, address string) (net.Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		if seen[address] {
			return nil, syscall.ECONNREFUSED
		}
		seen[address] = true
		conn, peer := net.Pipe()
		_ = peer.Close()
		return conn, nil
	}
}

func TestUpRejectsBeforeDialing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dialed := false
	dial := func(context.Context, string) (net.Conn, error) { dialed = true; return nil, errors.New("dialed") }
	tests := []struct {
		name string
		ctx  func() context.Context
		c    Config
		d    Dialers
		want string
	}{
		{"invalid config", context.Background, Config{Nodes: layout(pool{"w", 1, workerOnly})}, Dialers{Docker: dial},
			"no node has the etcd role"},
		{"no dialer", context.Background, Config{Nodes: layout(pool{"all", 1, allRoles})}, Dialers{}, "no Docker dialer"},
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, Config{Nodes: layout(pool{"all", 1, allRoles})}, Dialers{Docker: dial}, context.Canceled.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			previous := Files{State: []byte("{}"), Kubeconfig: []byte("k")}
			res, err := Up(tt.ctx(), tt.c, previous, tt.d)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
			if string(res.Files.State) != "{}" || string(res.Files.Kubeconfig) != "k" {
				t.Errorf("previous files lost: %v", res.Files)
			}
		})
	}
	if dialed {
		t.Error("a node was dialed")
	}
	assertEmptyDir(t, tmp)
}

func TestSnapshotNames(t *testing.T) {
	for _, name := range []string{"", "../x", "a/b", "-x", "a b"} {
		if err := SnapshotSave(context.Background(), Config{}, Files{}, Dialers{Docker: refuse}, name); err == nil ||
			!strings.Contains(err.Error(), "snapshot name") {
			t.Errorf("SnapshotSave(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"c-abc12-ml-xyz", "rke_etcd_snapshot_2024-01-01T00:00:00Z", "daily.1"} {
		if err := checkSnapshotName(name); err != nil {
			t.Errorf("%q rejected: %v", name, err)
		}
	}
}

// assertEmptyDir checks that no call's working directory is left in dir (the per-user directory
// of working directories stays, with the lock that guards it).
func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		if rel, _ := filepath.Rel(dir, path); rel != "harvesterrke-"+strconv.Itoa(os.Getuid()) && filepath.Base(path) != ".lock" {
			t.Errorf("left behind: %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
