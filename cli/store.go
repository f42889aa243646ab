package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"time"

	"github.com/rancher/kontainer-engine/types"
)

// Statuses of a cluster record; the first four are kontainer-engine's.
const (
	statusCreating = "Creating" // create runs, or was interrupted: create resumes it
	statusError    = "Error"    // create failed: create resumes it
	statusRunning  = "Running"  // create finished
	statusUpdating = "Updating" // an update runs, or was interrupted
	statusRemoving = "Removing" // rm runs, or failed: rm again (or rm -f)
)

// configName is the file kontainer-engine's CLI store keeps per cluster.
const configName = "config.json"

// record is one cluster's ~/.kontainer/clusters/<name>/config.json. The fields up to Metadata are
// those of kontainer-engine's cluster.Cluster, under the same JSON names; the rest are the CLI's:
// the options the cluster was created or last updated with (an interrupted create resumes from
// them, update merges over them) and when and how the last command failed.
type record struct {
	DriverName          string            `json:"driverName,omitempty"`
	Name                string            `json:"name,omitempty"`
	Status              string            `json:"status,omitempty"`
	Version             string            `json:"version,omitempty"`
	ServiceAccountToken string            `json:"serviceAccountToken,omitempty"`
	Endpoint            string            `json:"endpoint,omitempty"`
	RootCACert          string            `json:"rootCACert,omitempty"`
	ClientCertificate   string            `json:"clientCertificate,omitempty"`
	ClientKey           string            `json:"clientKey,omitempty"`
	NodeCount           int64             `json:"nodeCount,omitempty"`
	Metadata            map[string]string `json:"metadata,omitempty"`

	DriverOptions *types.DriverOptions `json:"driverOptions,omitempty"`
	LastError     string               `json:"lastError,omitempty"`
	CreatedAt     time.Time            `json:"createdAt"`
	UpdatedAt     time.Time            `json:"updatedAt"`
}

// info is the ClusterInfo the driver gets back.
func (r *record) info() *types.ClusterInfo {
	return &types.ClusterInfo{
		Version: r.Version, ServiceAccountToken: r.ServiceAccountToken, Endpoint: r.Endpoint,
		RootCaCertificate: r.RootCACert, ClientCertificate: r.ClientCertificate, ClientKey: r.ClientKey,
		NodeCount: r.NodeCount, Metadata: r.Metadata,
	}
}

// apply takes what the driver returned. The driver's checkpoints carry no version or token (only
// PostCheck fills them), so empty ones keep the stored values.
func (r *record) apply(info *types.ClusterInfo) {
	if info == nil {
		return
	}
	r.Endpoint, r.RootCACert, r.ClientCertificate, r.ClientKey = info.Endpoint, info.RootCaCertificate, info.ClientCertificate, info.ClientKey
	r.NodeCount = info.NodeCount
	if info.Metadata != nil {
		r.Metadata = info.Metadata
	}
	if info.Version != "" {
		r.Version = info.Version
	}
	if info.ServiceAccountToken != "" {
		r.ServiceAccountToken = info.ServiceAccountToken
	}
}

// store keeps cluster records under a base directory laid out as kontainer-engine's CLI does.
type store struct {
	dir string // e.g. ~/.kontainer
}

// clusterName is what a record's directory may be called: the driver needs a DNS label anyway
// (it prefixes the VM names), and it keeps the name from escaping the store.
var clusterName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func checkName(name string) error {
	if !clusterName.MatchString(name) {
		return fmt.Errorf("%w: cluster name %q must be lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit", errUsage, name)
	}
	return nil
}

// errNotFound is returned for a cluster without a record.
var errNotFound = errors.New("not found")

func (s store) clusterDir(name string) string { return filepath.Join(s.dir, "clusters", name) }

func (s store) path(name string) string { return filepath.Join(s.clusterDir(name), configName) }

// get reads a cluster's record.
func (s store) get(name string) (*record, error) {
	data, err := os.ReadFile(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cluster %s %w in %s (ls lists the clusters)", name, errNotFound, filepath.Join(s.dir, "clusters"))
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster %s: %w", name, err)
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read cluster %s: %s: %w", name, s.path(name), err)
	}
	return &r, nil
}

// put writes a record atomically (temp file, fsync, rename): a process killed at any point leaves
// the previous or the new record, never a torn one. Records hold credentials: 0600 in a 0700 dir.
func (s store) put(r *record) error {
	r.UpdatedAt = time.Now().UTC()
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster %s: %w", r.Name, err)
	}
	dir := s.clusterDir(r.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save cluster %s: %w", r.Name, err)
	}
	if err := writeAtomic(s.path(r.Name), data); err != nil {
		return fmt.Errorf("save cluster %s: %w", r.Name, err)
	}
	return nil
}

// writeAtomic replaces path with data, mode 0600.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // makes the rename durable; not every file system supports it
		d.Close()
	}
	return nil
}

// remove deletes a cluster's directory.
func (s store) remove(name string) error {
	if err := os.RemoveAll(s.clusterDir(name)); err != nil {
		return fmt.Errorf("remove the state of cluster %s: %w", name, err)
	}
	return nil
}

// list reads every record, sorted by name. Directories without a readable record are reported
// with an error each rather than hiding the others.
func (s store) list() ([]*record, []error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "clusters"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{fmt.Errorf("list clusters: %w", err)}
	}
	var out []*record
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		r, err := s.get(e.Name())
		if errors.Is(err, errNotFound) {
			continue // a directory being created or removed
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errs
}

// lock takes an exclusive lock on a cluster, so two commands never change it at once (e.g. a
// resumed create while the first still runs). The kernel drops it when the process dies, so a
// killed command never leaves the cluster locked.
func (s store) lock(name string) (unlock func(), err error) {
	if err := os.MkdirAll(s.clusterDir(name), 0o700); err != nil {
		return nil, fmt.Errorf("lock cluster %s: %w", name, err)
	}
	f, err := os.OpenFile(filepath.Join(s.clusterDir(name), ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock cluster %s: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("cluster %s is busy: another command is working on it", name)
		}
		return nil, fmt.Errorf("lock cluster %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}
