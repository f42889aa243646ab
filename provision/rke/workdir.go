package rke

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rancher/rke/cluster"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/scratch"
)

// RKE derives the names of its state and kubeconfig files from the cluster file's name.
const (
	clusterFileName    = "cluster.yml"
	stateFileName      = "cluster.rkestate"
	kubeconfigFileName = "kube_config_cluster.yml"
)

// workDir is a private directory holding RKE's files for one call; it never outlives the call, so
// the credentials in the files stay on disk only while RKE runs (a killed call's directory is
// removed by the next one).
type workDir struct{ dir *scratch.Dir }

func newWorkDir(f Files) (workDir, error) {
	dir, err := scratch.New("rke-")
	if err != nil {
		return workDir{}, fmt.Errorf("create RKE work directory: %w", err)
	}
	w := workDir{dir}
	for name, content := range map[string][]byte{stateFileName: f.State, kubeconfigFileName: f.Kubeconfig} {
		if len(content) == 0 {
			continue
		}
		if err := os.WriteFile(w.path(name), content, 0o600); err != nil {
			_ = w.remove()
			return workDir{}, fmt.Errorf("write RKE %s: %w", name, err)
		}
	}
	return w, nil
}

func (w workDir) path(name string) string {
	return filepath.Join(w.dir.Path, name)
}

// flags points RKE at the directory. The config dir stays empty: RKE takes filepath.Dir of it.
func (w workDir) flags() cluster.ExternalFlags {
	return cluster.GetExternalFlags(false, false, false, false, "", w.path(clusterFileName))
}

// files reads back what RKE left; a missing file is empty.
func (w workDir) files() (Files, error) {
	var f Files
	var err error
	if f.State, err = readOptional(w.path(stateFileName)); err != nil {
		return f, err
	}
	f.Kubeconfig, err = readOptional(w.path(kubeconfigFileName))
	return f, err
}

func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read RKE %s: %w", filepath.Base(path), err)
	}
	return b, nil
}

func (w workDir) remove() error {
	if err := w.dir.Remove(); err != nil {
		return fmt.Errorf("remove RKE work directory: %w", err)
	}
	return nil
}
