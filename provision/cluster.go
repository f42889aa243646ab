package provision

import "context"

// Cluster is the API of a cluster the driver built, reached with the admin credentials in its state.
type Cluster interface {
	// ServiceAccountToken returns a cluster-admin service-account token for Rancher, creating the
	// account, its binding and its token Secret if needed.
	ServiceAccountToken(ctx context.Context) (string, error)
	Version(ctx context.Context) (string, error)
	NodeCount(ctx context.Context) (int, error)
	RemoveLegacyServiceAccount(ctx context.Context) error
}
