package controlplane

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// harvesterClusterRoles are the ClusterRoles Harvester's chart installs for guest clusters.
//
//go:embed rbac/harvester-clusterroles.yaml
var harvesterClusterRoles []byte

// installClusterRoles creates Harvester's guest-cluster ClusterRoles, as its chart does.
func installClusterRoles(ctx context.Context, cs kubernetes.Interface) error {
	for _, doc := range bytes.Split(harvesterClusterRoles, []byte("\n---\n")) {
		var role rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict(doc, &role); err != nil {
			return fmt.Errorf("read Harvester's ClusterRoles: %w", err)
		}
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
		}
	}
	return nil
}
