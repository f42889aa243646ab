package harvester

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// newListWatch builds a ListerWatcher bound to ctx (client-go v0.32's ListWatch takes none) with
// a fixed label selector.
func newListWatch(ctx context.Context, selector string,
	list func(context.Context, metav1.ListOptions) (runtime.Object, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	return &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return list(ctx, o)
		},
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return watchFn(ctx, o)
		},
	}
}

func (c *Client) dynamicListWatch(ctx context.Context, gvr schema.GroupVersionResource, ns, selector string) *cache.ListWatch {
	r := c.Dynamic.Resource(gvr).Namespace(ns)
	return newListWatch(ctx, selector,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return r.List(ctx, o) },
		r.Watch)
}

func (c *Client) pvcListWatch(ctx context.Context, ns string) *cache.ListWatch {
	r := c.Core.CoreV1().PersistentVolumeClaims(ns)
	return newListWatch(ctx, "",
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return r.List(ctx, o) },
		r.Watch)
}

func (c *Client) secretListWatch(ctx context.Context, ns, selector string) *cache.ListWatch {
	r := c.Core.CoreV1().Secrets(ns)
	return newListWatch(ctx, selector,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return r.List(ctx, o) },
		r.Watch)
}

// waitGone waits until none of the named objects (namespace/name) exists. It watches through an
// informer, which re-lists after an expired watch or an API server restart.
func waitGone(ctx context.Context, kind string, lw cache.ListerWatcher, objType runtime.Object, names map[string]bool) error {
	remaining := make(map[string]bool, len(names))
	for k := range names {
		remaining[k] = true
	}
	precondition := func(store cache.Store) (bool, error) {
		for key := range remaining {
			if _, exists, err := store.GetByKey(key); err == nil && !exists {
				delete(remaining, key)
			}
		}
		return len(remaining) == 0, nil
	}
	gone := func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			if m, err := meta.Accessor(ev.Object); err == nil {
				delete(remaining, m.GetNamespace()+"/"+m.GetName())
			}
		}
		return len(remaining) == 0, nil
	}
	if _, err := watchtools.UntilWithSync(ctx, lw, objType, precondition, gone); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err() // clearer than the watch's "timed out waiting for the condition"
		}
		left := make([]string, 0, len(remaining))
		for k := range remaining {
			left = append(left, k)
		}
		sort.Strings(left)
		return fmt.Errorf("wait for removal of %s %s: %w", kind, strings.Join(left, ", "), err)
	}
	return nil
}
