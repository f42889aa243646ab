package driver

import (
	"errors"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/driver/savedstate"
)

// metadataKey is the one ClusterInfo.Metadata entry the driver owns.
const metadataKey = "state"

// errNoState means the ClusterInfo carries no state of this driver (a first Create).
var errNoState = errors.New("cluster info holds no driver state")

// clusterState is everything the driver keeps in ClusterInfo between calls.
type clusterState = savedstate.Cluster

// encodeState stores the state in info's metadata.
func encodeState(info *types.ClusterInfo, st clusterState) error {
	packed, err := savedstate.Encode(st)
	if err != nil {
		return err
	}
	if info.Metadata == nil {
		info.Metadata = map[string]string{}
	}
	info.Metadata[metadataKey] = packed
	return nil
}

// decodeState reads the state back; errNoState when there is none.
func decodeState(info *types.ClusterInfo) (clusterState, error) {
	if info == nil || info.Metadata[metadataKey] == "" {
		return clusterState{}, errNoState
	}
	return savedstate.Decode(info.Metadata[metadataKey])
}
