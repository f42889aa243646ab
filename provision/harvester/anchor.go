package harvester

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// LoadOrCreateAnchor returns the data of the cluster's anchor Secret (AnchorSecretName(prefix) in
// namespace) and the cluster's id, creating the Secret with generate's data and a new id (or
// owner.ID, when the state already knows it) if it does not exist yet. It is the first object
// created for a cluster: a Create killed before it returned anything finds the same keys and id
// here. An anchor of a cluster of another name, or with another id than owner.ID, is an error;
// one without an id (made before ids existed) gets one.
func (c *Client) LoadOrCreateAnchor(ctx context.Context, namespace, prefix string, owner Owner, generate func() (map[string][]byte, error)) (map[string][]byte, string, error) {
	name := AnchorSecretName(prefix)
	secrets := c.Core.CoreV1().Secrets(namespace)
	fail := func(err error) (map[string][]byte, string, error) {
		return nil, "", fmt.Errorf("load or create anchor secret %s/%s: %w", namespace, name, err)
	}
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		data, genErr := generate()
		if genErr != nil {
			return nil, "", fmt.Errorf("generate anchor secret data for cluster %s: %w", owner.Name, genErr)
		}
		if owner.ID == "" {
			if owner.ID, err = NewClusterID(); err != nil {
				return fail(err)
			}
		}
		s, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: owner.labels()},
			Type:       corev1.SecretTypeOpaque,
			Data:       data,
		}, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
		if apierrors.IsAlreadyExists(err) {
			// A concurrent Create won the race: use what it stored.
			s, err = secrets.Get(ctx, name, metav1.GetOptions{})
		}
	}
	if err != nil {
		return fail(err)
	}
	if other := s.Labels[LabelCluster]; other != owner.Name {
		return nil, "", fmt.Errorf("anchor secret %s/%s belongs to cluster %q, not %q: choose another vm-name-prefix", namespace, name, other, owner.Name)
	}
	id := s.Labels[LabelClusterID]
	switch {
	case id == "":
		if id = owner.ID; id == "" {
			if id, err = NewClusterID(); err != nil {
				return fail(err)
			}
		}
		if err := c.setClusterID(ctx, namespace, s, id); err != nil {
			return fail(err)
		}
	case owner.ID != "" && id != owner.ID:
		return nil, "", fmt.Errorf("anchor secret %s/%s belongs to another cluster named %s (id %s; this cluster's id is %s): choose another vm-name-prefix",
			namespace, name, owner.Name, id, owner.ID)
	}
	return s.Data, id, nil
}

// setClusterID labels an anchor made before clusters had ids, on the condition that it is still
// the object read (a concurrent call may have labelled it with another id).
func (c *Client) setClusterID(ctx context.Context, namespace string, s *corev1.Secret, id string) error {
	patch, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
		"labels":          map[string]string{LabelClusterID: id},
		"resourceVersion": s.ResourceVersion,
	}})
	if err != nil {
		return err
	}
	_, err = c.Core.CoreV1().Secrets(namespace).Patch(ctx, s.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("label with cluster id: %w", err)
	}
	return nil
}

// ClusterID returns the id of the cluster whose anchor Secret is in namespace, for a removal without
// state: the id on the anchor, a new one (put on it) when the anchor was made before clusters had
// ids, or a new one when there is no anchor, for AdoptLegacy to put on whatever is left.
func (c *Client) ClusterID(ctx context.Context, namespace, prefix, cluster string) (string, error) {
	name := AnchorSecretName(prefix)
	s, err := c.Core.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return NewClusterID()
	case err != nil:
		return "", fmt.Errorf("get anchor secret %s/%s: %w", namespace, name, err)
	case s.Labels[LabelCluster] != cluster:
		return NewClusterID() // another cluster's anchor: nothing of it is touched
	case s.Labels[LabelClusterID] != "":
		return s.Labels[LabelClusterID], nil
	}
	id, err := NewClusterID()
	if err != nil {
		return "", err
	}
	if err := c.setClusterID(ctx, namespace, s, id); err != nil {
		return "", fmt.Errorf("anchor secret %s/%s: %w", namespace, name, err)
	}
	return id, nil
}
