package harvester

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LoadOrCreateAnchor returns the data of the cluster's anchor Secret (AnchorSecretName in the VM
// namespace), creating it with generate's data if it does not exist yet. It is the first object
// created for a cluster: a Create killed before it returned anything finds the same keys here.
// A Secret of that name that belongs to another cluster is an error.
func (c *Client) LoadOrCreateAnchor(ctx context.Context, cl Cluster, generate func() (map[string][]byte, error)) (map[string][]byte, error) {
	ns, name := cl.Template.Namespace, AnchorSecretName(cl.Template.NamePrefix)
	secrets := c.Core.CoreV1().Secrets(ns)
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		data, genErr := generate()
		if genErr != nil {
			return nil, fmt.Errorf("generate anchor secret data for cluster %s: %w", cl.Name, genErr)
		}
		s, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: clusterLabels(cl.Name)},
			Type:       corev1.SecretTypeOpaque,
			Data:       data,
		}, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
		if apierrors.IsAlreadyExists(err) {
			// A concurrent Create won the race: use what it stored.
			s, err = secrets.Get(ctx, name, metav1.GetOptions{})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("load or create anchor secret %s/%s: %w", ns, name, err)
	}
	if owner := s.Labels[LabelCluster]; owner != cl.Name {
		return nil, fmt.Errorf("anchor secret %s/%s belongs to cluster %q, not %q: choose another vm-name-prefix", ns, name, owner, cl.Name)
	}
	return s.Data, nil
}
