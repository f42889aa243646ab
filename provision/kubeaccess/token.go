package kubeaccess

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rancher/rke/log"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/internal/kwatch"
)

// The objects Rancher's kontainer-engine drivers create for their cluster-admin token.
const (
	Namespace          = "cattle-system"
	ServiceAccountName = "kontainer-engine"
	ClusterRoleBinding = "system-netes-default-clusterRoleBinding"
	// TokenSecretName is the explicit token Secret: Kubernetes 1.24 and later create none by themselves.
	TokenSecretName = "kontainer-engine-token"
	clusterAdmin    = "cluster-admin"
)

// tokenWait bounds the wait for the token controller to fill the Secret.
var tokenWait = 2 * time.Minute

// ServiceAccountToken returns a cluster-admin service-account token for Rancher, creating what is
// missing: the namespace, the service account, its binding to cluster-admin and a token Secret.
// A second run finds everything and creates nothing.
func ServiceAccountToken(ctx context.Context, cs kubernetes.Interface) (string, error) {
	log.Infof(ctx, "Creating the cluster-admin service account %s/%s for Rancher", Namespace, ServiceAccountName)
	if err := ensureNamespace(ctx, cs); err != nil {
		return "", err
	}
	if err := ensureServiceAccount(ctx, cs); err != nil {
		return "", err
	}
	if err := ensureBinding(ctx, cs); err != nil {
		return "", err
	}
	if err := ensureTokenSecret(ctx, cs); err != nil {
		return "", err
	}
	return waitForToken(ctx, cs)
}

func ensureNamespace(ctx context.Context, cs kubernetes.Interface) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	return retry(ctx, "create namespace "+Namespace, func(ctx context.Context) error {
		_, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		return ignoreExists(err)
	})
}

func ensureServiceAccount(ctx context.Context, cs kubernetes.Interface) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ServiceAccountName, Namespace: Namespace}}
	return retry(ctx, "create service account "+Namespace+"/"+ServiceAccountName, func(ctx context.Context) error {
		_, err := cs.CoreV1().ServiceAccounts(Namespace).Create(ctx, sa, metav1.CreateOptions{})
		return ignoreExists(err)
	})
}

// ensureBinding binds the service account to cluster-admin; an existing binding of that name is
// corrected, as the token must really be cluster-admin.
func ensureBinding(ctx context.Context, cs kubernetes.Interface) error {
	subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: ServiceAccountName, Namespace: Namespace}
	roleRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterAdmin}
	want := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleBinding},
		Subjects:   []rbacv1.Subject{subject},
		RoleRef:    roleRef,
	}
	bindings := cs.RbacV1().ClusterRoleBindings()
	return retry(ctx, "bind "+ServiceAccountName+" to "+clusterAdmin, func(ctx context.Context) error {
		_, err := bindings.Create(ctx, want, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		have, err := bindings.Get(ctx, ClusterRoleBinding, metav1.GetOptions{})
		if err != nil {
			return err
		}
		switch {
		case have.RoleRef != roleRef: // immutable: replace the binding
			if err := bindings.Delete(ctx, ClusterRoleBinding, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			_, err = bindings.Create(ctx, want, metav1.CreateOptions{})
			return err
		case !slices.Contains(have.Subjects, subject):
			have.Subjects = append(have.Subjects, subject)
			_, err = bindings.Update(ctx, have, metav1.UpdateOptions{})
			return err
		}
		return nil
	})
}

func ensureTokenSecret(ctx context.Context, cs kubernetes.Interface) error {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        TokenSecretName,
			Namespace:   Namespace,
			Annotations: map[string]string{corev1.ServiceAccountNameKey: ServiceAccountName},
		},
		Type: corev1.SecretTypeServiceAccountToken,
	}
	return retry(ctx, "create token secret "+Namespace+"/"+TokenSecretName, func(ctx context.Context) error {
		_, err := cs.CoreV1().Secrets(Namespace).Create(ctx, secret, metav1.CreateOptions{})
		return ignoreExists(err)
	})
}

// waitForToken waits until the token controller has filled the token Secret.
func waitForToken(ctx context.Context, cs kubernetes.Interface) (string, error) {
	token, err := kwatch.ServiceAccountToken(ctx, cs.CoreV1().Secrets(Namespace), TokenSecretName, tokenWait)
	if err != nil {
		return "", fmt.Errorf("%s: %w", Namespace, err)
	}
	return token, nil
}

func ignoreExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
