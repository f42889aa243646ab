package driver

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

const (
	// metadataKey is the one ClusterInfo.Metadata entry the driver owns.
	metadataKey = "state"
	// stateVersion is bumped whenever the persisted form changes incompatibly.
	stateVersion = 1
	// maxStateSize bounds what the decoder inflates; Rancher keeps ClusterInfo in a 1 MiB Secret.
	maxStateSize = 8 << 20
)

// errNoState means the ClusterInfo carries no state of this driver (a first Create).
var errNoState = errors.New("cluster info holds no driver state")

// clusterState is everything the driver keeps in ClusterInfo between calls.
type clusterState struct {
	Version int `json:"version"`
	// Spec is the cluster as last created or updated: Update compares against it, and Remove,
	// PostCheck and the snapshot calls, which get no options, read the Harvester access from it.
	Spec    provision.Spec  `json:"spec"`
	Cluster provision.State `json:"cluster"`
}

// encodeState stores the state as base64 of gzipped JSON: RKE's state and kubeconfig are large
// and compress well, and the whole ClusterInfo must fit in one Kubernetes Secret.
func encodeState(info *types.ClusterInfo, st clusterState) error {
	st.Version = stateVersion
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(raw); err != nil {
		return fmt.Errorf("compress state: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress state: %w", err)
	}
	if info.Metadata == nil {
		info.Metadata = map[string]string{}
	}
	info.Metadata[metadataKey] = base64.StdEncoding.EncodeToString(buf.Bytes())
	return nil
}

// decodeState reads the state back; errNoState when there is none.
func decodeState(info *types.ClusterInfo) (clusterState, error) {
	var st clusterState
	if info == nil || info.Metadata[metadataKey] == "" {
		return st, errNoState
	}
	packed, err := base64.StdEncoding.DecodeString(info.Metadata[metadataKey])
	if err != nil {
		return st, fmt.Errorf("decode state: not base64: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		return st, fmt.Errorf("decode state: not gzip: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxStateSize+1))
	if err != nil {
		return st, fmt.Errorf("decode state: %w", err)
	}
	if len(raw) > maxStateSize {
		return st, fmt.Errorf("decode state: larger than %d bytes", maxStateSize)
	}
	var probe struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return st, fmt.Errorf("decode state: %w", err)
	}
	switch {
	case probe.Version > stateVersion:
		return st, fmt.Errorf("state was written by a newer driver (state version %d, this driver reads up to %d): upgrade the driver", probe.Version, stateVersion)
	case probe.Version < 1:
		return st, fmt.Errorf("decode state: missing or invalid version %d", probe.Version)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("decode state: %w", err)
	}
	return st, nil
}
