package rke

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"testing"
)

func TestCompressRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		files Files
	}{
		{"empty", Files{}},
		{"state only", Files{State: []byte(`{"desiredState":{}}`)}},
		{"kubeconfig only", Files{Kubeconfig: []byte("apiVersion: v1\n")}},
		{"built cluster", builtFiles(t, layout(pool{"all", 1, allRoles}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			packed, err := tt.files.Compress()
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecompressFiles(packed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.State, tt.files.State) || !bytes.Equal(got.Kubeconfig, tt.files.Kubeconfig) {
				t.Errorf("round trip changed the files: %v → %v", tt.files, got)
			}
		})
	}
	if f, err := DecompressFiles(nil); err != nil || f.State != nil || f.Kubeconfig != nil {
		t.Errorf("DecompressFiles(nil) = %v, %v", f, err)
	}
}

func TestDecompressRejects(t *testing.T) {
	good, err := Files{State: []byte("s"), Kubeconfig: []byte("k")}.Compress()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"not gzip":      []byte("plain"),
		"truncated":     good[:len(good)-6],
		"trailing data": gzipped([]byte{1, 's', 1, 'k', 'x'}),
		"missing part":  gzipped([]byte{1, 's'}),
		"huge size":     gzipped([]byte{0xff, 0xff, 0xff, 0xff, 0x7f}),
	}
	for name, packed := range tests {
		if _, err := DecompressFiles(packed); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// TestCompressedFilesSize keeps RKE's files far below Rancher's 1 MiB Secret for the largest
// cluster the driver builds.
func TestCompressedFilesSize(t *testing.T) {
	for _, c := range sizeCases() {
		packed, err := builtFiles(t, c.nodes).Compress()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes compressed", c.name, len(packed))
		if len(packed) > 256<<10 {
			t.Errorf("%s: %d bytes compressed, want at most 256 KiB", c.name, len(packed))
		}
	}
}

type sizeCase struct {
	name  string
	nodes []Node
}

func sizeCases() []sizeCase {
	return []sizeCase{
		{"1 node", layout(pool{"all", 1, allRoles})},
		{"3 nodes", layout(pool{"all", 3, allRoles})},
		{"30 nodes", layout(pool{"cp", 3, etcdAndCP}, pool{"w", 27, workerOnly})},
	}
}

func ExampleFiles_Compress() {
	packed, _ := Files{State: []byte("{}"), Kubeconfig: []byte("apiVersion: v1")}.Compress()
	files, _ := DecompressFiles(packed)
	fmt.Println(files)
	// Output: rke.Files{State: 2 bytes, Kubeconfig: 14 bytes}
}
