package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// infoForCluster is the ClusterInfo of a cluster whose built Kubernetes is the stand-in's own API
// server: the persisted state points at it through the admin kubeconfig.
func infoForCluster(t *testing.T, kubeconfig []byte) *types.ClusterInfo {
	t.Helper()
	raw, err := json.Marshal(map[string]any{
		"version": 1,
		"spec":    map[string]any{"Name": "c-guest"},
		"cluster": map[string]any{
			"nodes": []map[string]string{{"name": "n1", "pool": "all", "address": "127.0.0.1", "phase": "kubernetes"}},
			"rke":   map[string]any{"Kubeconfig": kubeconfig},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	return &types.ClusterInfo{Metadata: map[string]string{"state": base64.StdEncoding.EncodeToString(buf.Bytes())}}
}

// PostCheck gives Rancher a token that works on its own; running it again creates nothing new;
// version and size come from the cluster's API.
func TestPostCheckAgainstARealAPIServer(t *testing.T) {
	guest := harvestersim.Start(t, harvestersim.Options{KubernetesOnly: true})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	info := infoForCluster(t, guest.Kubeconfig)

	first, err := p.Client.PostCheck(ctx, info)
	if err != nil {
		t.Fatal(err)
	}
	if first.Endpoint != guest.Server || first.ServiceAccountToken == "" || first.Version == "" {
		t.Fatalf("post-check info: endpoint %q, token set %v, version %q", first.Endpoint, first.ServiceAccountToken != "", first.Version)
	}
	ca, err := base64.StdEncoding.DecodeString(first.RootCaCertificate)
	if err != nil || !bytes.Equal(ca, guest.CACert) {
		t.Fatalf("root CA is not the cluster's: %v", err)
	}
	// Rancher reaches the cluster with nothing but the endpoint, the CA and the token.
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: first.Endpoint, BearerToken: first.ServiceAccountToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("token cannot list nodes: %v", err)
	}
	admin, err := kubernetes.NewForConfig(guest.Config)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := admin.CoreV1().ServiceAccounts("cattle-system").Get(ctx, "kontainer-engine", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	second, err := p.Client.PostCheck(ctx, info)
	if err != nil {
		t.Fatal(err)
	}
	if second.ServiceAccountToken != first.ServiceAccountToken {
		t.Errorf("second post-check issued another token")
	}
	sa2, err := admin.CoreV1().ServiceAccounts("cattle-system").Get(ctx, "kontainer-engine", metav1.GetOptions{})
	if err != nil || sa2.UID != sa.UID {
		t.Errorf("second post-check re-created the service account: %v", err)
	}
	secrets, err := admin.CoreV1().Secrets("cattle-system").List(ctx, metav1.ListOptions{})
	if err != nil || len(secrets.Items) != 1 {
		t.Errorf("token secrets after two post-checks: %d, %v", len(secrets.Items), err)
	}

	v, err := p.Client.GetVersion(ctx, info)
	if err != nil || v.Version != first.Version {
		t.Errorf("get version: %+v %v", v, err)
	}
	size, err := p.Client.GetClusterSize(ctx, info)
	if err != nil || size.Count != 0 { // the stand-in's API server has no kubelets
		t.Errorf("get cluster size: %+v %v", size, err)
	}
	if err := p.Client.RemoveLegacyServiceAccount(ctx, info); err != nil {
		t.Errorf("remove legacy service account: %v", err)
	}
}
