package kubeaccess

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// What older kontainer-engine drivers created for Rancher's token.
const (
	legacyNamespace      = "default"
	legacyServiceAccount = "netes-default"
	legacyBinding        = "netes-default-clusterRoleBinding"
)

// RemoveLegacyServiceAccount deletes the service account and binding older drivers used for
// Rancher's token; absent ones are fine.
func RemoveLegacyServiceAccount(ctx context.Context, cs kubernetes.Interface) error {
	err := retry(ctx, "delete service account "+legacyNamespace+"/"+legacyServiceAccount, func(ctx context.Context) error {
		return ignoreNotFound(cs.CoreV1().ServiceAccounts(legacyNamespace).Delete(ctx, legacyServiceAccount, metav1.DeleteOptions{}))
	})
	if err != nil {
		return err
	}
	return retry(ctx, "delete cluster role binding "+legacyBinding, func(ctx context.Context) error {
		return ignoreNotFound(cs.RbacV1().ClusterRoleBindings().Delete(ctx, legacyBinding, metav1.DeleteOptions{}))
	})
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
