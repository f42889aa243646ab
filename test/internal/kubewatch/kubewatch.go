// Package kubewatch waits on the Kubernetes API with watches for the test support packages and the
// tests: a list-watch bound to a context, and a wait until a named object meets a condition. Test
// support only, never linked into the driver.
package kubewatch

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// ListFunc and WatchFunc are a client's List and Watch of one resource, e.g.
// kube.CoreV1().Events(ns).List.
type (
	ListFunc[L runtime.Object] func(context.Context, metav1.ListOptions) (L, error)
	WatchFunc                  func(context.Context, metav1.ListOptions) (watch.Interface, error)
)

// ListWatch lists and watches through list and watch with ctx (client-go v0.32's ListWatch passes
// none, so an ended test could not stop its requests) and the field selector on every call.
func ListWatch[L runtime.Object](ctx context.Context, fieldSelector string, list ListFunc[L], watchFn WatchFunc) *cache.ListWatch {
	return &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = fieldSelector
			return list(ctx, o)
		},
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = fieldSelector
			return watchFn(ctx, o)
		},
	}
}

// Until watches the object called name until cond holds for it, and returns cond's error if it
// gives one, or the context's when it ends first. cond sees nil while the object does not exist
// (also after it was deleted).
func Until(ctx context.Context, ri dynamic.ResourceInterface, name string, cond func(*unstructured.Unstructured) (bool, error)) error {
	lw := ListWatch(ctx, fields.OneTermEqualSelector("metadata.name", name).String(), ri.List, ri.Watch)
	// The object may not exist when the wait starts: the precondition asks cond about its absence.
	absent := func(store cache.Store) (bool, error) {
		if len(store.List()) > 0 {
			return false, nil
		}
		return cond(nil)
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, absent, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return cond(nil)
		}
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		return cond(u)
	})
	if err != nil && ctx.Err() != nil {
		err = ctx.Err() // rather than the watch's "timed out waiting for the condition"
	}
	if err != nil {
		return fmt.Errorf("watch %s: %w", name, err)
	}
	return nil
}
