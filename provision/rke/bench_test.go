package rke

import (
	"context"
	"testing"

	"github.com/rancher/rke/metadata"
)

// BenchmarkMetadataInit is the cost of parsing RKE's embedded metadata, paid once by the calls
// that need versions or run RKE.
func BenchmarkMetadataInit(b *testing.B) {
	if err := loadMetadata(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		metadata.K8sVersionsCurrent = nil // InitMetadata appends to it
		if err := metadata.InitMetadata(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildConfig30Nodes(b *testing.B) {
	c := Config{Nodes: layout(pool{"cp", 3, etcdAndCP}, pool{"w", 27, workerOnly})}
	if err := loadMetadata(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := buildConfig(c); err != nil {
			b.Fatal(err)
		}
	}
}
