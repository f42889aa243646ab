package rkeimages

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// image is one image of an archive: its tag, what its containers run by default and its layers,
// lowest first.
type image struct {
	tag    string
	config containerConfig
	layers []layer
}

// containerConfig is the part of the image configuration Docker applies to new containers.
type containerConfig struct {
	Env        []string            `json:"Env,omitempty"`
	Entrypoint []string            `json:"Entrypoint,omitempty"`
	Cmd        []string            `json:"Cmd,omitempty"`
	Volumes    map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir string              `json:"WorkingDir,omitempty"`
}

// imageConfig is the image configuration (OCI image spec, as Docker writes it); its SHA-256 is
// the image ID.
type imageConfig struct {
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Created      time.Time       `json:"created"`
	Config       containerConfig `json:"config"`
	RootFS       rootFS          `json:"rootfs"`
}

type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// manifestEntry is one image in the archive's manifest.json, as `docker save` writes it.
type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// writeArchive writes images to file as a docker-archive (`docker load -i file`); a layer shared
// by several images is stored once. It returns the image IDs ("sha256:<hex>") by tag.
func writeArchive(file string, images []image) (map[string]string, error) {
	tmp := file + ".tmp"
	ids, err := writeArchiveTo(tmp, images)
	if err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, file); err != nil {
		return nil, fmt.Errorf("move %s into place: %w", file, err)
	}
	return ids, nil
}

func writeArchiveTo(file string, images []image) (map[string]string, error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("create image archive: %w", err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	ids := map[string]string{}
	written := map[string]bool{}
	var manifest []manifestEntry
	for _, img := range images {
		cfg := imageConfig{
			Architecture: "amd64",
			OS:           "linux",
			Created:      epoch,
			Config:       img.config,
			RootFS:       rootFS{Type: "layers", DiffIDs: []string{}},
		}
		entry := manifestEntry{RepoTags: []string{img.tag}}
		for _, l := range img.layers {
			name := strings.TrimPrefix(l.diffID, "sha256:") + "/layer.tar"
			if !written[name] {
				if err := addArchiveFile(tw, name, l.file, l.size); err != nil {
					return nil, err
				}
				written[name] = true
			}
			cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
			entry.Layers = append(entry.Layers, name)
		}
		data, err := json.Marshal(cfg)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", img.tag, err)
		}
		sum := sha256.Sum256(data)
		entry.Config = hex.EncodeToString(sum[:]) + ".json"
		if err := addArchiveData(tw, entry.Config, data); err != nil {
			return nil, err
		}
		ids[img.tag] = "sha256:" + hex.EncodeToString(sum[:])
		manifest = append(manifest, entry)
	}
	data, err := json.Marshal(manifest)
	if err != nil {
		return nil, fmt.Errorf("image archive manifest: %w", err)
	}
	if err := addArchiveData(tw, "manifest.json", data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write image archive: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write image archive: %w", err)
	}
	return ids, nil
}

func addArchiveData(tw *tar.Writer, name string, data []byte) error {
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("image archive: %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("image archive: %s: %w", name, err)
	}
	return nil
}

func addArchiveFile(tw *tar.Writer, name, src string, size int64) error {
	dir := filepath.Dir(name) + "/"
	if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
		return fmt.Errorf("image archive: %s: %w", dir, err)
	}
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: epoch}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("image archive: %s: %w", name, err)
	}
	if err := copyFile(tw, src, size); err != nil {
		return fmt.Errorf("image archive: %s: %w", name, err)
	}
	return nil
}
