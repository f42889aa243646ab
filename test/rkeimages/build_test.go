package rkeimages

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSetKey checks that the key of a set follows its inputs: what would change the images
// changes it, nothing else does.
func TestSetKey(t *testing.T) {
	kube := t.TempDir()
	for _, b := range kubeBinaries {
		if err := os.WriteFile(filepath.Join(kube, b), []byte(b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := parts{base: "/cache/base-1", kube: kube, etcd: "/cache/etcd-1", tools: "/cache/tools-1"}
	key := func(p parts) string {
		t.Helper()
		k, err := setKey(p)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k := key(p)
	if key(p) != k {
		t.Fatal("same inputs gave two keys")
	}
	tests := []struct {
		name   string
		change func(p *parts)
	}{
		{"rebuilt Debian base", func(p *parts) { p.base = "/cache/base-2" }},
		{"rebuilt etcd", func(p *parts) { p.etcd = "/cache/etcd-2" }},
		{"rebuilt tools", func(p *parts) { p.tools = "/cache/tools-2" }},
		{"rebuilt kubelet", func(p *parts) {
			when := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(kube, "kubelet"), when, when); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := p
			tc.change(&q)
			if key(q) == k {
				t.Errorf("the key did not change")
			}
		})
	}
}

func TestToolSources(t *testing.T) {
	files, err := toolSourceFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pause/main.go", "rketools/main.go", "rketools/etcdbackup.go"} {
		if _, ok := files[want]; !ok {
			t.Errorf("sources lack %s", want)
		}
	}
	for name := range files {
		if strings.HasSuffix(name, "_test.go") {
			t.Errorf("test file %s is built into the images", name)
		}
	}
}
