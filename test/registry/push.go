package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// Media types of the Docker image manifest, version 2, schema 2.
const (
	manifestType = "application/vnd.docker.distribution.manifest.v2+json"
	configType   = "application/vnd.docker.container.image.v1+json"
	// layerType is the only layer type schema 2 defines. The layers go up as the archive holds
	// them, uncompressed (so a layer's digest is its diff_id): Docker and containerd detect the
	// compression of what they pull, and gzipping 745 MB on every fresh cache would cost minutes.
	layerType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// descriptor points at a blob from a manifest.
type descriptor struct {
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	Digest    string `json:"digest"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

// archiveEntry is one image of a docker-archive's manifest.json (`docker save`, rkeimages).
type archiveEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Push puts every tagged image of a docker-archive file (as rkeimages.Set.Archive) into the
// registry under its repository and tag, so that "rancher/rke-tools:v0.1.114" is pulled as
// URL()+"/rancher/rke-tools:v0.1.114". Blobs the registry has already are not sent again.
func (r *Registry) Push(ctx context.Context, archive string) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("push images: %w", err)
	}
	defer f.Close()
	files, err := indexArchive(f)
	if err != nil {
		return fmt.Errorf("push images from %s: %w", archive, err)
	}
	var entries []archiveEntry
	if err := readJSON(files, "manifest.json", &entries); err != nil {
		return fmt.Errorf("push images from %s: %w", archive, err)
	}
	p := pusher{r: r, files: files, sentTo: map[string]string{}}
	for _, e := range entries {
		for _, tag := range e.RepoTags {
			if err := p.pushImage(ctx, e, tag); err != nil {
				return fmt.Errorf("push %s from %s: %w", tag, archive, err)
			}
		}
	}
	return nil
}

// indexArchive maps the name of each regular file in the tar to its contents, read in place.
func indexArchive(f *os.File) (map[string]*io.SectionReader, error) {
	files := map[string]*io.SectionReader{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		} else if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		// After Next the file is at the entry's data: tar.Reader reads whole header blocks
		// and seeks over data, never ahead. A wrong offset would not go unnoticed: the
		// registry checks every blob against its digest.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		files[hdr.Name] = io.NewSectionReader(f, off, hdr.Size)
	}
}

func readJSON(files map[string]*io.SectionReader, name string, v any) error {
	sr, ok := files[name]
	if !ok {
		return fmt.Errorf("no %s in the archive", name)
	}
	data, err := readAll(sr)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// readAll reads a file of the archive from its start, however often it was read before.
func readAll(sr *io.SectionReader) ([]byte, error) {
	return io.ReadAll(io.NewSectionReader(sr, 0, sr.Size()))
}

// pusher pushes the images of one archive.
type pusher struct {
	r      *Registry
	files  map[string]*io.SectionReader
	sentTo map[string]string // digest -> a repository that has the blob, to mount it from
}

func (p *pusher) pushImage(ctx context.Context, e archiveEntry, tag string) error {
	repo, ref, ok := splitTag(tag)
	if !ok {
		return fmt.Errorf("tag %q: want repository:tag", tag)
	}
	cfg, ok := p.files[e.Config]
	if !ok {
		return fmt.Errorf("no config %s in the archive", e.Config)
	}
	cfgData, err := readAll(cfg)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var imgCfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(cfgData, &imgCfg); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if len(imgCfg.RootFS.DiffIDs) != len(e.Layers) {
		return fmt.Errorf("config lists %d layers, the archive %d", len(imgCfg.RootFS.DiffIDs), len(e.Layers))
	}
	m := manifest{
		SchemaVersion: 2,
		MediaType:     manifestType,
		Config:        descriptor{MediaType: configType, Size: int64(len(cfgData)), Digest: digestOf(cfgData)},
	}
	if err := p.ensureBlob(ctx, repo, m.Config, bytes.NewReader(cfgData)); err != nil {
		return err
	}
	for i, name := range e.Layers {
		layer, ok := p.files[name]
		if !ok {
			return fmt.Errorf("no layer %s in the archive", name)
		}
		d := descriptor{MediaType: layerType, Size: layer.Size(), Digest: imgCfg.RootFS.DiffIDs[i]}
		if err := p.ensureBlob(ctx, repo, d, io.NewSectionReader(layer, 0, layer.Size())); err != nil {
			return err
		}
		m.Layers = append(m.Layers, d)
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	resp, err := p.r.do(ctx, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, manifestType, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("put manifest: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("put manifest: %w", statusError(resp))
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != digestOf(data) {
		return fmt.Errorf("put manifest: the registry stored %q, want %s", got, digestOf(data))
	}
	return nil
}

// ensureBlob makes sure repo has the blob: present already, mounted from a repository this push
// sent it to, or uploaded from body (monolithic: POST, then PUT with the digest, which the
// registry checks).
func (p *pusher) ensureBlob(ctx context.Context, repo string, d descriptor, body io.Reader) error {
	digest := d.Digest
	resp, err := p.r.do(ctx, http.MethodHead, "/v2/"+repo+"/blobs/"+digest, "", nil, 0)
	if err != nil {
		return fmt.Errorf("check blob %s: %w", digest, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		p.sentTo[digest] = repo
		return nil
	}
	if resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("check blob %s: %s", digest, resp.Status) // a HEAD answer has no body
	}

	start := "/v2/" + repo + "/blobs/uploads/"
	if from, ok := p.sentTo[digest]; ok {
		start += "?" + url.Values{"mount": {digest}, "from": {from}}.Encode()
	}
	resp, err = p.r.do(ctx, http.MethodPost, start, "", nil, 0)
	if err != nil {
		return fmt.Errorf("start upload of %s: %w", digest, err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusAccepted {
		defer resp.Body.Close()
		return fmt.Errorf("start upload of %s: %w", digest, statusError(resp))
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated { // mounted; 202 is an upload session
		p.sentTo[digest] = repo
		return nil
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("upload %s: location: %w", digest, err)
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	resp, err = p.r.do(ctx, http.MethodPut, loc.RequestURI(), "application/octet-stream", body, d.Size)
	if err != nil {
		return fmt.Errorf("upload %s: %w", digest, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("upload %s: %w", digest, statusError(resp))
	}
	p.sentTo[digest] = repo
	return nil
}

// do sends an authenticated request to the registry; path may carry a query.
func (r *Registry) do(ctx context.Context, method, path, contentType string, body io.Reader, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.apiURL(path), body)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(r.user, r.password)
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", contentType)
	}
	return r.client.Do(req)
}

// statusError is an unexpected answer of the registry, with the errors its body lists.
func statusError(resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
}

// splitTag splits "rancher/rke-tools:v0.1.114" at the last colon after the last slash, so that a
// registry's port is not taken for a tag.
func splitTag(tag string) (repo, ref string, ok bool) {
	i := strings.LastIndexByte(tag, ':')
	if i <= 0 || i == len(tag)-1 || strings.Contains(tag[i:], "/") {
		return "", "", false
	}
	return tag[:i], tag[i+1:], true
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}
