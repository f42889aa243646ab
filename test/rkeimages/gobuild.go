package rkeimages

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/logtail"
)

// etcdVersion is the etcd built for rancher/mirrored-coreos-etcd, the version its tag names.
const etcdVersion = "v3.5.16"

// etcdMains are the etcd and etcdctl commands of a scratch module: the etcd modules' replace
// directives make `go install` of them fail, a module requiring them works.
var etcdMains = map[string]string{
	"etcd/main.go": `package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
`,
	"etcdctl/main.go": `package main

import (
	"os"

	"go.etcd.io/etcd/etcdctl/v3/ctlv3"
)

// As etcd's own etcdctl: the API version variable would otherwise be taken for an unknown flag.
func main() {
	os.Unsetenv("ETCDCTL_API")
	ctlv3.MustStart()
}
`,
}

// buildEtcd builds etcd and etcdctl into dir/bin from the Go module proxy.
func buildEtcd(ctx context.Context, dir string) error {
	src := filepath.Join(dir, "src")
	files := map[string]string{"go.mod": "module rkeimages.local/etcd\n\ngo 1.22\n\nrequire (\n" +
		"\tgo.etcd.io/etcd/server/v3 " + etcdVersion + "\n\tgo.etcd.io/etcd/etcdctl/v3 " + etcdVersion + "\n)\n"}
	for name, text := range etcdMains {
		files[name] = text
	}
	if err := writeFiles(src, files); err != nil {
		return fmt.Errorf("build etcd: %w", err)
	}
	if err := goCommand(ctx, src, "mod", "tidy"); err != nil {
		return fmt.Errorf("build etcd %s: %w", etcdVersion, err)
	}
	if err := goCommand(ctx, src, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "bin")+"/", "./etcd", "./etcdctl"); err != nil {
		return fmt.Errorf("build etcd %s: %w", etcdVersion, err)
	}
	return nil
}

// toolSourceFiles are the sources of imagetools (tests left out), by path below it.
func toolSourceFiles() (map[string]string, error) {
	files := map[string]string{}
	err := fs.WalkDir(toolSources, "imagetools", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := toolSources.ReadFile(p)
		files[strings.TrimPrefix(p, "imagetools/")] = string(b)
		return err
	})
	return files, err
}

// buildTools builds the image tools (pause, rketools) into dir/bin, in a scratch module: they use
// only the standard library.
func buildTools(ctx context.Context, dir string) error {
	files, err := toolSourceFiles()
	if err != nil {
		return fmt.Errorf("build image tools: %w", err)
	}
	files["go.mod"] = "module rkeimages.local/imagetools\n\ngo 1.24\n"
	src := filepath.Join(dir, "src")
	if err := writeFiles(src, files); err != nil {
		return fmt.Errorf("build image tools: %w", err)
	}
	if err := goCommand(ctx, src, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "bin")+"/", "./pause", "./rketools"); err != nil {
		return fmt.Errorf("build image tools: %w", err)
	}
	return nil
}

// goCommand runs the go tool in dir for static binaries, unaffected by the caller's workspace.
func goCommand(ctx context.Context, dir string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, logtail.Last(out.String(), 30))
	}
	return nil
}

// goVersion is the version of the go tool that builds the binaries, part of the cache key.
func goVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("find the Go version: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func writeFiles(dir string, files map[string]string) error {
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(path.Clean(name)))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}
