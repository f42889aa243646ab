package rke

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rancher/rke/cluster"
	"github.com/rancher/rke/pki"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/scratch"
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
	cfg, err := buildConfig(Config{Nodes: nodes})
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
	files, err := workDir{&scratch.Dir{Path: dir}}.files()
	if err != nil || len(files.State) == 0 || len(files.Kubeconfig) == 0 {
		t.Fatalf("files %v: %v", files, err)
	}
	return files
}

// RKE keeps its state in the built cluster and in every etcd snapshot: it must not carry the key
// that logs in to the nodes.
func TestStateHoldsNoSSHKey(t *testing.T) {
	files := builtFiles(t, layout(pool{"cp", 1, etcdAndCP}, pool{"w", 2, workerOnly}))
	fs, err := cluster.StringToFullState(context.Background(), string(files.State))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []*cluster.State{&fs.DesiredState, &fs.CurrentState} {
		if st.RancherKubernetesEngineConfig == nil {
			continue
		}
		for _, n := range st.RancherKubernetesEngineConfig.Nodes {
			if n.SSHKey != "" {
				t.Errorf("node %s carries an SSH key in RKE's state", n.HostnameOverride)
			}
		}
	}
	if strings.Contains(string(files.State), "OPENSSH PRIVATE KEY") {
		t.Error("RKE's state holds an OpenSSH private key")
	}
}
