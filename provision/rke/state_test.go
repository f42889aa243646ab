package rke

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rancher/rke/cluster"
	"github.com/rancher/rke/pki"
)

// caOf is the cluster CA certificate recorded in a state file.
func caOf(t testing.TB, state []byte) string {
	t.Helper()
	fs, err := cluster.StringToFullState(context.Background(), string(state))
	if err != nil {
		t.Fatalf("parse state: %v", err)
	}
	ca := fs.DesiredState.CertificatesBundle[pki.CACertName]
	if ca.CertificatePEM == "" {
		t.Fatal("state has no CA")
	}
	return ca.CertificatePEM
}

// builtFiles are the files RKE keeps for a built cluster of these nodes: the state as ClusterInit
// writes it (configuration and certificates for every node, made without reaching any), with the
// current state equal to the desired one as after a successful up, and the admin kubeconfig.
func builtFiles(t testing.TB, nodes []Node) Files {
	t.Helper()
	ctx := context.Background()
	cfg, err := buildConfig(Config{Nodes: nodes, SSHKey: testKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	flags := cluster.GetExternalFlags(false, false, false, false, "", filepath.Join(dir, clusterFileName))
	kc, err := cluster.InitClusterObject(ctx, cfg, flags, "")
	if err != nil {
		t.Fatal(err)
	}
	fs, err := cluster.RebuildState(ctx, kc, &cluster.FullState{}, flags)
	if err != nil {
		t.Fatal(err)
	}
	fs.CurrentState = fs.DesiredState
	if err := fs.WriteStateFile(ctx, kc.StateFilePath); err != nil {
		t.Fatal(err)
	}
	if err := pki.DeployAdminConfig(ctx, fs.DesiredState.CertificatesBundle[pki.KubeAdminCertName].Config, kc.LocalKubeConfigPath); err != nil {
		t.Fatal(err)
	}
	files, err := workDir(dir).files()
	if err != nil || len(files.State) == 0 || len(files.Kubeconfig) == 0 {
		t.Fatalf("files %v: %v", files, err)
	}
	return files
}
