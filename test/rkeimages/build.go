package rkeimages

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
)

// builderVersion changes when the way images are assembled changes, so that sets cached by older
// code are rebuilt; everything the images are made of is hashed into the key.
const builderVersion = 1

// Options say where Build works; the zero value is the machine-wide cache and deb.debian.org.
type Options struct {
	CacheDir string                           // default: $HARVESTERRKE_CACHE, else ~/.cache/harvesterrke
	Mirror   string                           // Debian mirror host, default deb.debian.org
	Logf     func(format string, args ...any) // progress of builds; default: silent
}

// Set is a built set of images, in the cache.
type Set struct {
	Dir     string  `json:"-"`       // the set's cache directory
	Archive string  `json:"archive"` // docker-archive of all images: `docker load -i Archive`
	Images  []Image `json:"images"`
}

// Image is one image of a set.
type Image struct {
	Tag  string `json:"tag"`
	ID   string `json:"id"`   // "sha256:<hex>", as `docker image inspect --format {{.Id}}` prints it
	Size int64  `json:"size"` // bytes of its layers, uncompressed
}

// Tags are the images' tags, in the set's order.
func (s *Set) Tags() []string {
	tags := make([]string, len(s.Images))
	for i, img := range s.Images {
		tags[i] = img.Tag
	}
	return tags
}

// Build returns the set of images RKE needs, from the cache when its inputs have not changed. A
// first build takes a few minutes (Debian packages, etcd from the Go module proxy), plus ~15 min
// when the Kubernetes binaries are not cached yet; parallel callers wait for one build.
func Build(ctx context.Context, opts Options) (*Set, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	mirror := opts.Mirror
	if mirror == "" {
		mirror = "deb.debian.org"
	}
	cache := opts.CacheDir
	if cache == "" {
		var err error
		if cache, err = diskcache.Root(); err != nil {
			return nil, err
		}
	}
	root := filepath.Join(cache, "rkeimages")
	kube, err := ensureKubeBinaries(ctx, cache, logf)
	if err != nil {
		return nil, err
	}
	gover, err := goVersion(ctx)
	if err != nil {
		return nil, err
	}
	tools, err := toolSourceFiles()
	if err != nil {
		return nil, fmt.Errorf("read the image tools' sources: %w", err)
	}
	p := parts{
		base:  filepath.Join(root, "base-"+hashOf("base", builderVersion, debianPackages, prunedPaths, unusedFiles)),
		kube:  kube,
		etcd:  filepath.Join(root, "etcd-"+hashOf("etcd", builderVersion, etcdVersion, etcdMains, gover)),
		tools: filepath.Join(root, "tools-"+hashOf("tools", builderVersion, tools, gover)),
	}
	key, err := setKey(p)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "set-"+key)
	if _, err := diskcache.Dir(ctx, dir, func(ctx context.Context, tmp string) error {
		if err := buildParts(ctx, p, mirror, logf); err != nil {
			return err
		}
		logf("rkeimages: writing the image archive")
		return assemble(ctx, tmp, p)
	}); err != nil {
		return nil, err
	}
	for _, keep := range []string{dir, p.base, p.etcd, p.tools} {
		prefix := strings.SplitN(filepath.Base(keep), "-", 2)[0] + "-"
		if err := diskcache.PruneSiblings(keep, prefix); err != nil {
			logf("rkeimages: %v", err)
		}
	}
	return readSet(dir)
}

// setKey hashes what the images are made of: the definitions (tags, configurations, files, and
// the part directories, named by their own inputs' hash) and the Kubernetes binaries' size and
// modification time (hack/build-k8s.sh replaces them when it rebuilds).
func setKey(p parts) (string, error) {
	defs, err := images(p, "pause-image")
	if err != nil {
		return "", err
	}
	var kube []string
	for _, b := range kubeBinaries {
		fi, err := os.Stat(filepath.Join(p.kube, b))
		if err != nil {
			return "", fmt.Errorf("Kubernetes binary %s: %w", b, err)
		}
		kube = append(kube, fmt.Sprintf("%s %d %d", b, fi.Size(), fi.ModTime().UnixNano()))
	}
	type layerKey struct {
		Name, Tree string
		Files      []string
	}
	type imageKey struct {
		Tag    string
		Config containerConfig
		Layers []layerKey
	}
	var imgs []imageKey
	for _, d := range append(defs, pauseImage(p)) {
		ik := imageKey{Tag: d.tag, Config: d.config}
		for _, l := range d.layers {
			lk := layerKey{Name: l.name, Tree: l.tree}
			for _, f := range l.files {
				sum := sha256.Sum256(f.data)
				lk.Files = append(lk.Files, fmt.Sprintf("%s %o %s %s %x", f.path, f.mode, f.src, f.link, sum))
			}
			ik.Layers = append(ik.Layers, lk)
		}
		imgs = append(imgs, ik)
	}
	return hashOf("set", builderVersion, imgs, kube), nil
}

// hashOf is a short hex digest of the JSON of values.
func hashOf(values ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			panic(fmt.Sprintf("rkeimages: hash %T: %v", v, err)) // only plain data is hashed
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// buildParts builds the missing parts in parallel: a Debian root filesystem (network bound) and
// Go builds (CPU bound).
func buildParts(ctx context.Context, p parts, mirror string, logf func(string, ...any)) error {
	steps := []struct {
		what, dir string
		build     func(ctx context.Context, tmp string) error
	}{
		{"the Debian base (debootstrap, ~2 min)", p.base, func(ctx context.Context, tmp string) error { return buildBase(ctx, tmp, mirror) }},
		{"etcd " + etcdVersion + " from the Go module proxy", p.etcd, buildEtcd},
		{"the image tools", p.tools, buildTools},
	}
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, s := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = diskcache.Dir(ctx, s.dir, func(ctx context.Context, tmp string) error {
				logf("rkeimages: building %s", s.what)
				start := time.Now()
				if err := s.build(ctx, tmp); err != nil {
					return err
				}
				logf("rkeimages: built %s in %s", s.what, time.Since(start).Round(time.Second))
				return nil
			})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// assemble writes the layers, then the archive of all images and set.json into dir.
func assemble(ctx context.Context, dir string, p parts) error {
	layersDir := filepath.Join(dir, "layers")
	if err := os.MkdirAll(layersDir, 0o755); err != nil {
		return fmt.Errorf("assemble images: %w", err)
	}
	defer os.RemoveAll(layersDir)
	written := map[string]layer{}
	pause, err := writeImage(ctx, layersDir, pauseImage(p), written)
	if err != nil {
		return err
	}
	pauseArchive := filepath.Join(layersDir, "pause-image.tar")
	if _, err := writeArchive(pauseArchive, []image{pause}); err != nil {
		return err
	}
	defs, err := images(p, pauseArchive)
	if err != nil {
		return err
	}
	var imgs []image
	for _, d := range defs {
		img, err := writeImage(ctx, layersDir, d, written)
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
	}
	set := Set{Archive: "images.tar"}
	ids, err := writeArchive(filepath.Join(dir, set.Archive), imgs)
	if err != nil {
		return err
	}
	for _, img := range imgs {
		var size int64
		for _, l := range img.layers {
			size += l.size
		}
		set.Images = append(set.Images, Image{Tag: img.tag, ID: ids[img.tag], Size: size})
	}
	data, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return fmt.Errorf("assemble images: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "set.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("assemble images: %w", err)
	}
	return nil
}

// writeImage writes the layers of d not written yet (by name) into dir.
func writeImage(ctx context.Context, dir string, d imageDef, written map[string]layer) (image, error) {
	img := image{tag: d.tag, config: d.config}
	for _, ld := range d.layers {
		if err := ctx.Err(); err != nil {
			return img, err
		}
		l, ok := written[ld.name]
		if !ok {
			var err error
			l, err = writeLayer(filepath.Join(dir, ld.name+".tar"), func(tw *tar.Writer) error {
				if ld.tree != "" {
					return addTree(tw, ld.tree)
				}
				return addFiles(tw, ld.files)
			})
			if err != nil {
				return img, fmt.Errorf("image %s: %w", d.tag, err)
			}
			written[ld.name] = l
		}
		img.layers = append(img.layers, l)
	}
	return img, nil
}

func readSet(dir string) (*Set, error) {
	data, err := os.ReadFile(filepath.Join(dir, "set.json"))
	if err != nil {
		return nil, fmt.Errorf("read image set: %w", err)
	}
	var s Set
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read image set %s: %w", dir, err)
	}
	s.Dir, s.Archive = dir, filepath.Join(dir, s.Archive)
	return &s, nil
}
