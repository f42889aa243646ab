package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

const (
	testUser     = "tester"
	testPassword = "not-in-any-file-9f3c"
)

func TestCheckOptions(t *testing.T) {
	good := Options{Addr: "127.0.0.1:5000", Dir: "/tmp/x", Username: "u", Password: "p"}
	tests := []struct {
		name string
		edit func(*Options)
		ok   bool
	}{
		{"good", func(*Options) {}, true},
		{"a DNS name", func(o *Options) { o.Addr = "registry.test:443" }, true},
		{"no port", func(o *Options) { o.Addr = "127.0.0.1" }, false},
		{"no host", func(o *Options) { o.Addr = ":5000" }, false},
		{"any address", func(o *Options) { o.Addr = "0.0.0.0:5000" }, false},
		{"port 0", func(o *Options) { o.Addr = "127.0.0.1:0" }, false},
		{"no directory", func(o *Options) { o.Dir = "" }, false},
		{"no username", func(o *Options) { o.Username = "" }, false},
		{"colon in username", func(o *Options) { o.Username = "a:b" }, false},
		{"no password", func(o *Options) { o.Password = "" }, false},
		{"password too long for bcrypt", func(o *Options) { o.Password = strings.Repeat("x", 73) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			_, err := checkOptions(o)
			if (err == nil) != tt.ok {
				t.Errorf("checkOptions: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestSplitTag(t *testing.T) {
	tests := []struct {
		tag, repo, ref string
		ok             bool
	}{
		{"rancher/rke-tools:v0.1.114", "rancher/rke-tools", "v0.1.114", true},
		{"a/b/c:1", "a/b/c", "1", true},
		{"localhost:5000/a", "", "", false},
		{"a", "", "", false},
		{"a:", "", "", false},
		{":v1", "", "", false},
	}
	for _, tt := range tests {
		repo, ref, ok := splitTag(tt.tag)
		if repo != tt.repo || ref != tt.ref || ok != tt.ok {
			t.Errorf("splitTag(%q) = %q, %q, %v; want %q, %q, %v", tt.tag, repo, ref, ok, tt.repo, tt.ref, tt.ok)
		}
	}
}

// testImage is an image of the test's archive, with what the registry must serve for it.
type testImage struct {
	tag    string
	config []byte
	layers [][]byte
}

func TestRegistry(t *testing.T) {
	if _, err := os.Stat(Binary); err != nil {
		testenv.Skipf(t, "needs Debian's docker-registry package (%s): %v", Binary, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	opts := Options{Addr: freeAddr(t), Dir: dir, Username: testUser, Password: testPassword}
	r, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	t.Run("credentials", func(t *testing.T) {
		tests := []struct {
			name, user, password string
			basic                bool
			want                 int
		}{
			{"none", "", "", false, http.StatusUnauthorized},
			{"wrong password", testUser, "wrong", true, http.StatusUnauthorized},
			{"unknown user", "someone", testPassword, true, http.StatusUnauthorized},
			{"right", testUser, testPassword, true, http.StatusOK},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.apiURL("/v2/"), nil)
				if tt.basic {
					req.SetBasicAuth(tt.user, tt.password)
				}
				resp, err := r.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Errorf("GET /v2/ as %q: %s, want %d", tt.user, resp.Status, tt.want)
				}
			})
		}
	})

	t.Run("only its CA is trusted", func(t *testing.T) {
		pool, err := x509.SystemCertPool()
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := c.Get(r.apiURL("/v2/"))
		if err == nil {
			resp.Body.Close()
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("GET without the registry's CA: %v, want an unknown authority error", err)
		}
	})

	base := tarOf(t, map[string]string{"etc/os-release": "ID=tiny\n"})
	images := []testImage{
		{tag: "rancher/tiny:v1", layers: [][]byte{base, tarOf(t, map[string]string{"bin/a": "a"})}},
		{tag: "example/nested/tiny:v2", layers: [][]byte{base, tarOf(t, map[string]string{"bin/b": "b"})}},
	}
	archive := writeTestArchive(t, images)

	if err := r.Push(ctx, archive); err != nil {
		t.Fatal(err)
	}
	// Five distinct blobs (two configs, the shared base, a, b) are uploaded once each; the base
	// reaches the second repository by a mount.
	if up, mounts := countUploads(t, r); up != 5 || mounts != 1 {
		t.Errorf("first push: %d uploads and %d mounts, want 5 and 1", up, mounts)
	}
	if err := r.Push(ctx, archive); err != nil {
		t.Fatal(err)
	}
	if up, mounts := countUploads(t, r); up != 5 || mounts != 1 {
		t.Errorf("after a second push: %d uploads and %d mounts in all, want still 5 and 1: it sent blobs the registry has", up, mounts)
	}

	for _, img := range images {
		checkServed(ctx, t, r, img)
	}
	pulls, err := r.Pulls()
	if err != nil {
		t.Fatal(err)
	}
	want := []Pull{{"rancher/tiny", "v1", testUser}, {"example/nested/tiny", "v2", testUser}}
	if !reflect.DeepEqual(pulls, want) {
		t.Errorf("Pulls() = %+v, want %+v (pushes and HEAD requests are no pulls)", pulls, want)
	}

	checkNoPassword(t, dir)
	pid := r.cmd.Process.Pid
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("after Close, signal 0 to the registry (pid %d): %v, want no such process", pid, err)
	}

	// A new start on the same directory has the images already, a new CA, and no pulls yet.
	r2, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if bytes.Equal(r2.CAPEM(), r.CAPEM()) {
		t.Error("a new start kept the CA")
	}
	if pulls, err := r2.Pulls(); err != nil || len(pulls) != 0 {
		t.Errorf("Pulls() after a new start = %v, %v; want none", pulls, err)
	}
	checkServed(ctx, t, r2, images[0])
}

// checkServed pulls img through the API as Docker does and checks the manifest and blobs.
func checkServed(ctx context.Context, t *testing.T, r *Registry, img testImage) {
	t.Helper()
	repo, ref, _ := splitTag(img.tag)
	data, resp := get(ctx, t, r, "/v2/"+repo+"/manifests/"+ref, manifestType)
	if ct := resp.Header.Get("Content-Type"); ct != manifestType {
		t.Errorf("%s: manifest served as %q, want %s", img.tag, ct, manifestType)
	}
	if d := resp.Header.Get("Docker-Content-Digest"); d != digestOf(data) {
		t.Errorf("%s: Docker-Content-Digest %q, want %s", img.tag, d, digestOf(data))
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: manifest: %v", img.tag, err)
	}
	want := []descriptor{{configType, int64(len(img.config)), digestOf(img.config)}}
	for _, l := range img.layers {
		want = append(want, descriptor{layerType, int64(len(l)), digestOf(l)})
	}
	if got := append([]descriptor{m.Config}, m.Layers...); m.SchemaVersion != 2 || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: manifest %s, want schema 2 with config and layers %+v", img.tag, data, want)
	}
	for _, d := range want {
		blob, _ := get(ctx, t, r, "/v2/"+repo+"/blobs/"+d.Digest, "")
		if digestOf(blob) != d.Digest || int64(len(blob)) != d.Size {
			t.Errorf("%s: blob %s served with digest %s, %d bytes; want %d bytes", img.tag, d.Digest, digestOf(blob), len(blob), d.Size)
		}
	}
}

func get(ctx context.Context, t *testing.T, r *Registry, path, accept string) ([]byte, *http.Response) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.apiURL(path), nil)
	req.SetBasicAuth(testUser, testPassword)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, data)
	}
	return data, resp
}

// countUploads counts the completed blob uploads and mounts in the registry's log.
func countUploads(t *testing.T, r *Registry) (uploads, mounts int) {
	t.Helper()
	reqs, err := r.requests()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range reqs {
		switch {
		case q.Method == http.MethodPut && strings.Contains(q.URI, "/blobs/uploads/") && q.Status == http.StatusCreated:
			uploads++
		case q.Method == http.MethodPost && strings.Contains(q.URI, "mount=") && q.Status == http.StatusCreated:
			mounts++
		}
	}
	return uploads, mounts
}

// checkNoPassword fails when a file of the registry's directory holds the password in clear.
func checkNoPassword(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err == nil && bytes.Contains(data, []byte(testPassword)) {
			t.Errorf("%s holds the password", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// freeAddr is a 127.0.0.1 address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// tarOf is a layer: a tar of files by path.
func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeTestArchive writes images as a docker-archive laid out as rkeimages writes one (each
// layer once, in a directory named by its digest) and sets each image's config.
func writeTestArchive(t *testing.T, images []testImage) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	written := map[string]bool{}
	var entries []archiveEntry
	for i := range images {
		img := &images[i]
		e := archiveEntry{RepoTags: []string{img.tag}}
		var diffIDs []string
		for _, l := range img.layers {
			d := digestOf(l)
			name := strings.TrimPrefix(d, "sha256:") + "/layer.tar"
			if !written[name] {
				if err := tw.WriteHeader(&tar.Header{Name: filepath.Dir(name) + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
					t.Fatal(err)
				}
				add(name, l)
				written[name] = true
			}
			diffIDs = append(diffIDs, d)
			e.Layers = append(e.Layers, name)
		}
		cfg, err := json.Marshal(map[string]any{
			"architecture": "amd64", "os": "linux", "config": map[string]any{"Cmd": []string{"/bin/a"}},
			"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
		})
		if err != nil {
			t.Fatal(err)
		}
		img.config = cfg
		e.Config = strings.TrimPrefix(digestOf(cfg), "sha256:") + ".json"
		add(e.Config, cfg)
		entries = append(entries, e)
	}
	data, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	add("manifest.json", data)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "images.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
