// Package savedstate is the persisted form of a cluster's state: what the driver keeps in
// ClusterInfo.Metadata between calls, as an explicit, versioned type. Older versions are read and
// migrated; only the current version is written. Golden blobs in testdata pin every version.
package savedstate

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

// maxSize bounds what Decode inflates; Rancher keeps ClusterInfo in a 1 MiB Secret.
const maxSize = 8 << 20

// Cluster is what the driver keeps between calls, in its working types.
type Cluster struct {
	// Spec is the cluster as last created or updated: Update compares against it, and Remove,
	// PostCheck and the snapshot calls, which get no options, read the Harvester access from it.
	Spec  provision.Spec
	State provision.State
}

// Encode returns the persisted form of c: base64 of gzipped JSON, since RKE's state and
// kubeconfig are large, compress well, and the whole ClusterInfo must fit in one Secret.
func Encode(c Cluster) (string, error) {
	raw, err := json.Marshal(fromCluster(c))
	if err != nil {
		return "", fmt.Errorf("encode state: %w", err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(raw); err != nil {
		return "", fmt.Errorf("compress state: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("compress state: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// Decode reads a persisted state of any version this driver knows.
func Decode(s string) (Cluster, error) {
	raw, err := unpack(s)
	if err != nil {
		return Cluster{}, err
	}
	var probe struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return Cluster{}, fmt.Errorf("decode state: %w", err)
	}
	var st v2State
	switch probe.Version {
	case 1:
		var v1 v1State
		if err := json.Unmarshal(raw, &v1); err != nil {
			return Cluster{}, fmt.Errorf("decode state version 1: %w", err)
		}
		st = migrateV1(v1)
	case currentVersion:
		if err := json.Unmarshal(raw, &st); err != nil {
			return Cluster{}, fmt.Errorf("decode state: %w", err)
		}
	default:
		if probe.Version > currentVersion {
			return Cluster{}, fmt.Errorf("state was written by a newer driver (state version %d, this driver reads up to %d): upgrade the driver", probe.Version, currentVersion)
		}
		return Cluster{}, fmt.Errorf("decode state: missing or invalid version %d", probe.Version)
	}
	return toCluster(st)
}

func unpack(s string) ([]byte, error) {
	packed, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("decode state: not base64: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		return nil, fmt.Errorf("decode state: not gzip: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	if len(raw) > maxSize {
		return nil, errors.New("decode state: larger than 8 MiB")
	}
	return raw, nil
}
