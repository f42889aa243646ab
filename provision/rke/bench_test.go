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
	c := Config{Nodes: layout(pool{"cp", 3, etcdAndCP}, pool{"w", 27, workerOnly}), SSHKey: testKey(b)}
	if err := loadMetadata(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := buildConfig(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompressFiles reports the raw and compressed sizes of RKE's files per cluster size.
func BenchmarkCompressFiles(b *testing.B) {
	for _, c := range sizeCases() {
		b.Run(c.name, func(b *testing.B) {
			files := builtFiles(b, c.nodes)
			var packed []byte
			for b.Loop() {
				var err error
				if packed, err = files.Compress(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(files.State)+len(files.Kubeconfig)), "raw-bytes")
			b.ReportMetric(float64(len(packed)), "compressed-bytes")
		})
	}
}
