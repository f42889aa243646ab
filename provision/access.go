package provision

import (
	"context"

	"k8s.io/client-go/kubernetes"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/kubeaccess"
)

// Cluster opens the built cluster's API with the admin kubeconfig RKE issued.
func (p *Provisioner) Cluster(_ context.Context, st State) (Cluster, error) {
	if len(st.RKE.Kubeconfig) == 0 {
		return nil, errNoCluster
	}
	cs, err := kubeaccess.FromKubeconfig(st.Kubeconfig())
	if err != nil {
		return nil, err
	}
	return apiCluster{cs}, nil
}

// apiCluster is a Cluster reached through client-go.
type apiCluster struct{ cs kubernetes.Interface }

func (c apiCluster) ServiceAccountToken(ctx context.Context) (string, error) {
	return kubeaccess.ServiceAccountToken(ctx, c.cs)
}

func (c apiCluster) Version(ctx context.Context) (string, error) {
	return kubeaccess.Version(ctx, c.cs)
}

func (c apiCluster) NodeCount(ctx context.Context) (int, error) {
	return kubeaccess.NodeCount(ctx, c.cs)
}

func (c apiCluster) RemoveLegacyServiceAccount(ctx context.Context) error {
	return kubeaccess.RemoveLegacyServiceAccount(ctx, c.cs)
}
