package rkeimages

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// entry is what a test expects of one tar entry.
type entry struct {
	name     string
	typ      byte
	mode     int64
	uid      int
	data     string // regular files
	linkname string // links
}

func readTar(t *testing.T, r io.Reader) ([]entry, map[string][]byte) {
	t.Helper()
	var out []entry
	data := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, data
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read tar entry %s: %v", hdr.Name, err)
		}
		if !hdr.ModTime.Equal(epoch) {
			t.Errorf("%s: modification time %v, want %v", hdr.Name, hdr.ModTime, epoch)
		}
		e := entry{name: hdr.Name, typ: hdr.Typeflag, mode: hdr.Mode, uid: hdr.Uid, linkname: hdr.Linkname}
		if hdr.Typeflag == tar.TypeReg {
			e.data = string(b)
		}
		out = append(out, e)
		data[hdr.Name] = b
	}
}

func TestAddFiles(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, []byte("from disk"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		entries []fileEntry
		want    []entry
		wantErr string
	}{{
		name: "parents first, sorted, all kinds",
		entries: []fileEntry{
			{path: "usr/local/bin/tool", mode: 0o755, src: src},
			{path: "/opt/tools/bin/docker", mode: 0o777, link: "tool"},
			{path: "tmp", mode: 0o777 | os.ModeSticky},
			{path: "etc/conf", mode: 0o644, data: []byte("x=1\n")},
			{path: "etc/empty", mode: 0o600, data: []byte{}},
		},
		want: []entry{
			{name: "etc/", typ: tar.TypeDir, mode: 0o755},
			{name: "etc/conf", typ: tar.TypeReg, mode: 0o644, data: "x=1\n"},
			{name: "etc/empty", typ: tar.TypeReg, mode: 0o600},
			{name: "opt/", typ: tar.TypeDir, mode: 0o755},
			{name: "opt/tools/", typ: tar.TypeDir, mode: 0o755},
			{name: "opt/tools/bin/", typ: tar.TypeDir, mode: 0o755},
			{name: "opt/tools/bin/docker", typ: tar.TypeSymlink, mode: 0o777, linkname: "tool"},
			{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
			{name: "usr/", typ: tar.TypeDir, mode: 0o755},
			{name: "usr/local/", typ: tar.TypeDir, mode: 0o755},
			{name: "usr/local/bin/", typ: tar.TypeDir, mode: 0o755},
			{name: "usr/local/bin/tool", typ: tar.TypeReg, mode: 0o755, data: "from disk"},
		},
	}, {
		name:    "duplicate",
		entries: []fileEntry{{path: "a", data: []byte("1")}, {path: "/a", data: []byte("2")}},
		wantErr: `"a" listed twice`,
	}, {
		name:    "outside the image",
		entries: []fileEntry{{path: "../etc/passwd", data: []byte("x")}},
		wantErr: "not a path inside the image",
	}, {
		name:    "file under a file",
		entries: []fileEntry{{path: "a", data: []byte("1")}, {path: "a/b", data: []byte("2")}},
		wantErr: "its parent a is not a directory",
	}, {
		name:    "missing source",
		entries: []fileEntry{{path: "a", src: "/nonexistent/file"}},
		wantErr: "no such file",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := writeLayer(filepath.Join(t.TempDir(), "layer.tar"), func(tw *tar.Writer) error { return addFiles(tw, tc.entries) })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := readTar(t, bytes.NewReader(readFile(t, l.file)))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("entries:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAddTree(t *testing.T) {
	root := t.TempDir()
	mustRun := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustRun(os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	mustRun(os.MkdirAll(filepath.Join(root, "dev"), 0o755))
	mustRun(os.WriteFile(filepath.Join(root, "bin/bash"), []byte("ELF"), 0o755))
	mustRun(os.Link(filepath.Join(root, "bin/bash"), filepath.Join(root, "bin/rbash")))
	mustRun(os.Symlink("bash", filepath.Join(root, "bin/sh")))
	mustRun(os.Chmod(filepath.Join(root, "bin"), 0o755))
	mustRun(os.WriteFile(filepath.Join(root, "suid"), []byte("s"), 0o755))
	mustRun(os.Lchown(filepath.Join(root, "suid"), 7, 7)) // before chmod: chown clears setuid
	mustRun(os.Chmod(filepath.Join(root, "suid"), os.ModeSetuid|0o755))
	mustRun(syscall.Mkfifo(filepath.Join(root, "dev/fifo"), 0o644))
	want := []entry{
		{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "bin/bash", typ: tar.TypeReg, mode: 0o755, data: "ELF"},
		{name: "bin/rbash", typ: tar.TypeLink, mode: 0o755, linkname: "bin/bash"},
		{name: "bin/sh", typ: tar.TypeSymlink, mode: 0o777, linkname: "bash"},
		{name: "dev/", typ: tar.TypeDir, mode: 0o755},
		{name: "suid", typ: tar.TypeReg, mode: 0o4755, uid: 7, data: "s"},
	}
	l, err := writeLayer(filepath.Join(t.TempDir(), "layer.tar"), func(tw *tar.Writer) error { return addTree(tw, root) })
	if err != nil {
		t.Fatal(err)
	}
	got, _ := readTar(t, bytes.NewReader(readFile(t, l.file)))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries:\n got %+v\nwant %+v", got, want)
	}
}

// TestWriteArchive checks what `docker load` relies on: manifest.json names each image's config and
// layers, the config's diff_ids are the layers' SHA-256, the image ID is the config's SHA-256, and
// a shared layer is stored once.
func TestWriteArchive(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, files ...fileEntry) layer {
		l, err := writeLayer(filepath.Join(dir, name), func(tw *tar.Writer) error { return addFiles(tw, files) })
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	base := mk("base.tar", fileEntry{path: "bin/sh", mode: 0o755, data: []byte("shell")})
	tools := mk("tools.tar", fileEntry{path: "usr/bin/tool", mode: 0o755, data: []byte("tool")})
	scratch := mk("pause.tar", fileEntry{path: "pause", mode: 0o755, data: []byte("pause")})
	images := []image{
		{tag: "example.com/tools:v1", layers: []layer{base, tools}, config: containerConfig{
			Env: []string{"PATH=/usr/bin:/bin"}, Cmd: []string{"/bin/sh"}, Volumes: map[string]struct{}{"/opt/tools": {}},
		}},
		{tag: "example.com/base:v1", layers: []layer{base}, config: containerConfig{Cmd: []string{"/bin/sh"}}},
		{tag: "pause:3", layers: []layer{scratch}, config: containerConfig{Entrypoint: []string{"/pause"}}},
	}
	file := filepath.Join(dir, "images.tar")
	ids, err := writeArchive(file, images)
	if err != nil {
		t.Fatal(err)
	}
	_, files := readTar(t, bytes.NewReader(readFile(t, file)))
	var manifest []manifestEntry
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != len(images) {
		t.Fatalf("manifest has %d images, want %d", len(manifest), len(images))
	}
	layerFiles := 0
	for name := range files {
		if strings.HasSuffix(name, "/layer.tar") {
			layerFiles++
		}
	}
	if layerFiles != 3 {
		t.Errorf("archive holds %d layer files, want 3 (the shared one once)", layerFiles)
	}
	for i, img := range images {
		m := manifest[i]
		if !reflect.DeepEqual(m.RepoTags, []string{img.tag}) {
			t.Errorf("image %d: tags %v, want [%s]", i, m.RepoTags, img.tag)
		}
		raw := files[m.Config]
		if ids[img.tag] != digest(raw) || m.Config != strings.TrimPrefix(digest(raw), "sha256:")+".json" {
			t.Errorf("%s: ID %s and config file %s, want both from the config's digest %s", img.tag, ids[img.tag], m.Config, digest(raw))
		}
		var cfg imageConfig
		if err := json.Unmarshal(raw, &cfg); err != nil {
			t.Fatalf("%s: config: %v", img.tag, err)
		}
		if cfg.OS != "linux" || cfg.Architecture != "amd64" || cfg.RootFS.Type != "layers" {
			t.Errorf("%s: config platform %s/%s rootfs %s", img.tag, cfg.OS, cfg.Architecture, cfg.RootFS.Type)
		}
		if !reflect.DeepEqual(cfg.Config, img.config) {
			t.Errorf("%s: container config %+v, want %+v", img.tag, cfg.Config, img.config)
		}
		if len(cfg.RootFS.DiffIDs) != len(m.Layers) || len(m.Layers) != len(img.layers) {
			t.Fatalf("%s: %d diff_ids, %d manifest layers, want %d", img.tag, len(cfg.RootFS.DiffIDs), len(m.Layers), len(img.layers))
		}
		for j, name := range m.Layers {
			if got := digest(files[name]); got != cfg.RootFS.DiffIDs[j] {
				t.Errorf("%s: layer %d (%s) has digest %s, config says %s", img.tag, j, name, got, cfg.RootFS.DiffIDs[j])
			}
			if !bytes.Equal(files[name], readFile(t, img.layers[j].file)) {
				t.Errorf("%s: layer %d differs from the layer written", img.tag, j)
			}
		}
	}
	if _, err := os.Stat(file + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary archive left behind: %v", err)
	}
}

func TestLayerIsReproducible(t *testing.T) {
	files := []fileEntry{{path: "a/b", mode: 0o644, data: []byte("same")}, {path: "c", link: "a/b"}}
	var digests []string
	for i := range 2 {
		l, err := writeLayer(filepath.Join(t.TempDir(), fmt.Sprint(i)), func(tw *tar.Writer) error { return addFiles(tw, files) })
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, l.diffID)
	}
	if digests[0] != digests[1] {
		t.Errorf("same files gave layers %s and %s", digests[0], digests[1])
	}
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
