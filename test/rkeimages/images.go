package rkeimages

import (
	"embed"
	"io/fs"
	"path/filepath"
	"strings"
)

// The images of RKE v1.8.6's default Kubernetes version v1.32.7-rancher1-1 (network plugin, DNS,
// ingress and monitoring "none": no add-on images), under the tags RKE looks for.
const (
	ToolsTag = "rancher/rke-tools:v0.1.114"                   // alpine, certDownloader, kubernetesServicesSidecar, nginxProxy
	KubeTag  = "rke-extended-life/hyperkube:v1.32.7-rancher1" // kubernetes
	EtcdTag  = "rancher/mirrored-coreos-etcd:v3.5.16"         // etcd
	PauseTag = "rancher/mirrored-pause:3.7"                   // podInfraContainer
)

// PreviousKubeTag is the hyperkube tag of v1.32.6-rancher1-1, whose other images are the default's:
// the same image under it lets a cluster built at that version be upgraded to the default one.
const (
	PreviousVersion = "v1.32.6-rancher1-1"
	PreviousKubeTag = "rancher/hyperkube:v1.32.6-rancher1"
)

// Scripts of the rke-tools image, by their path in it.
//
//go:embed all:imagefiles/rke-tools
var imageFiles embed.FS

// Sources of the Go programs in the images, built by buildTools.
//
//go:embed imagetools
var toolSources embed.FS

const imagePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// sandboxArchive is where the hyperkube image carries the pause image for the kubelet's
// containerd, which has no registry to pull it from (entrypoint.sh imports it).
const sandboxArchive = "usr/local/share/rkeimages/pause.tar"

// parts are the built inputs of the images.
type parts struct {
	base  string // root filesystem of the Debian-based images
	kube  string // Kubernetes binaries
	etcd  string // etcd, etcdctl
	tools string // pause, rketools
}

// imageDef is an image before its layers are written: each layer is a tree or a list of files.
type imageDef struct {
	tag    string
	config containerConfig
	layers []layerDef
}

type layerDef struct {
	name  string // identifies the layer within a build
	tree  string
	files []fileEntry
}

// baseLayer is shared by the hyperkube and rke-tools images.
func baseLayer(p parts) layerDef { return layerDef{name: "base", tree: p.base} }

// pauseImage is also carried inside the hyperkube image, so it is defined on its own.
func pauseImage(p parts) imageDef {
	return imageDef{
		tag:    PauseTag,
		config: containerConfig{Entrypoint: []string{"/pause"}},
		layers: []layerDef{{name: "pause", files: []fileEntry{{path: "pause", mode: 0o755, src: filepath.Join(p.tools, "bin/pause")}}}},
	}
}

// images are the definitions of the set; pauseArchive is the pause image's own archive.
func images(p parts, pauseArchive string) ([]imageDef, error) {
	kube := []fileEntry{{path: sandboxArchive, mode: 0o644, src: pauseArchive}}
	for _, b := range kubeBinaries {
		kube = append(kube, fileEntry{path: "usr/local/bin/" + b, mode: 0o755, src: filepath.Join(p.kube, b)})
	}
	tools := []fileEntry{
		{path: "opt/rke-tools/bin/rketools", mode: 0o755, src: filepath.Join(p.tools, "bin/rketools")},
		{path: "opt/rke-tools/bin/docker", link: "rketools"},
		{path: "usr/local/bin/nc", link: "/opt/rke-tools/bin/rketools"},
		{path: "opt/rke-tools/rke-etcd-backup", link: "bin/rketools"},
		// RKE's restore runs /usr/local/bin/etcdctl in this image (etcd images from v3.5.7 have no shell).
		{path: "usr/local/bin/etcdctl", mode: 0o755, src: filepath.Join(p.etcd, "bin/etcdctl")},
	}
	scripts, err := scriptFiles()
	if err != nil {
		return nil, err
	}
	tools = append(tools, scripts...)
	return []imageDef{{
		tag: ToolsTag,
		// No entrypoint: RKE runs commands in it (cert-deployer, sh -c ..., nc, rke-etcd-backup),
		// and service-sidekick hands /opt/rke-tools to the Kubernetes containers as a volume.
		config: containerConfig{Env: []string{imagePath}, Cmd: []string{"/bin/bash"}, Volumes: map[string]struct{}{"/opt/rke-tools": {}}},
		layers: []layerDef{baseLayer(p), {name: "tools", files: tools}},
	}, {
		tag:    KubeTag,
		config: containerConfig{Env: []string{imagePath}, Cmd: []string{"/bin/bash"}},
		layers: []layerDef{baseLayer(p), {name: "kube", files: kube}},
	}, {
		tag:    PreviousKubeTag, // the same image: its layers are stored once
		config: containerConfig{Env: []string{imagePath}, Cmd: []string{"/bin/bash"}},
		layers: []layerDef{baseLayer(p), {name: "kube", files: kube}},
	}, {
		tag:    EtcdTag,
		config: containerConfig{Env: []string{imagePath}, Cmd: []string{"/usr/local/bin/etcd"}},
		layers: []layerDef{{name: "etcd", files: []fileEntry{
			{path: "usr/local/bin/etcd", mode: 0o755, src: filepath.Join(p.etcd, "bin/etcd")},
			{path: "usr/local/bin/etcdctl", mode: 0o755, src: filepath.Join(p.etcd, "bin/etcdctl")},
			{path: "tmp", mode: 0o777 | fs.ModeSticky},
		}}},
	}, pauseImage(p)}, nil
}

// scriptFiles are the embedded rke-tools scripts as image files: all executables.
func scriptFiles() ([]fileEntry, error) {
	const root = "imagefiles/rke-tools"
	var out []fileEntry
	err := fs.WalkDir(imageFiles, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := imageFiles.ReadFile(p)
		out = append(out, fileEntry{path: strings.TrimPrefix(p, root+"/"), mode: 0o755, data: b})
		return err
	})
	return out, err
}
