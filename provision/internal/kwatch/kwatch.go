// Package kwatch holds the watches the driver shares between its Kubernetes clients: a
// ListerWatcher bound to a context (client-go v0.32's ListWatch takes none) and the wait for a
// service-account token.
package kwatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// ListWatch builds a ListerWatcher whose calls use ctx and the given label and field selectors.
func ListWatch(ctx context.Context, labelSelector, fieldSelector string,
	list func(context.Context, metav1.ListOptions) (runtime.Object, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	return &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector, o.FieldSelector = labelSelector, fieldSelector
			return list(ctx, o)
		},
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector, o.FieldSelector = labelSelector, fieldSelector
			return watchFn(ctx, o)
		},
	}
}

// ErrTokenSecretDeleted: the token controller deletes token Secrets whose service account is gone.
var ErrTokenSecretDeleted = errors.New("the token secret was deleted while waiting for its token (service account replaced?)")

// ServiceAccountToken waits, at most timeout, until the token controller has filled the
// service-account token Secret name. The informer behind the watch lists first (a filled Secret
// answers at once) and re-lists after errors.
func ServiceAccountToken(parent context.Context, secrets corev1client.SecretInterface, name string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	lw := ListWatch(ctx, "", fields.OneTermEqualSelector("metadata.name", name).String(),
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return secrets.List(ctx, o) },
		secrets.Watch)
	var token string
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Secret{}, nil, func(ev watch.Event) (bool, error) {
		s, ok := ev.Object.(*corev1.Secret)
		if !ok || s.Name != name {
			return false, nil
		}
		if ev.Type == watch.Deleted {
			return false, ErrTokenSecretDeleted
		}
		token = string(s.Data[corev1.ServiceAccountTokenKey])
		return token != "", nil
	})
	switch {
	case err == nil:
		return token, nil
	case parent.Err() != nil:
		err = parent.Err()
	case ctx.Err() != nil:
		err = fmt.Errorf("no token after %s: %w", timeout, ctx.Err())
	}
	return "", fmt.Errorf("wait for the token in secret %s: %w", name, err)
}
