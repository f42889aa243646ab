package driver

import (
	"encoding/base64"
	"fmt"

	"github.com/rancher/kontainer-engine/types"
	"k8s.io/client-go/tools/clientcmd"
)

// fillInfo stores the state in info and copies the built cluster's endpoint and admin credentials
// from RKE's kubeconfig into the fields Rancher reads (base64-encoded PEM).
func fillInfo(info *types.ClusterInfo, st clusterState) error {
	if err := encodeState(info, st); err != nil {
		return err
	}
	info.NodeCount = int64(len(st.State.Nodes))
	if len(st.State.RKE.Kubeconfig) == 0 {
		return nil
	}
	cfg, err := clientcmd.Load(st.State.Kubeconfig())
	if err != nil {
		return fmt.Errorf("read the cluster's kubeconfig: %w", err)
	}
	kctx := cfg.Contexts[cfg.CurrentContext]
	if kctx == nil || cfg.Clusters[kctx.Cluster] == nil || cfg.AuthInfos[kctx.AuthInfo] == nil {
		return fmt.Errorf("read the cluster's kubeconfig: current context %q is incomplete", cfg.CurrentContext)
	}
	cluster, user := cfg.Clusters[kctx.Cluster], cfg.AuthInfos[kctx.AuthInfo]
	info.Endpoint = cluster.Server
	info.RootCaCertificate = base64.StdEncoding.EncodeToString(cluster.CertificateAuthorityData)
	info.ClientCertificate = base64.StdEncoding.EncodeToString(user.ClientCertificateData)
	info.ClientKey = base64.StdEncoding.EncodeToString(user.ClientKeyData)
	return nil
}
