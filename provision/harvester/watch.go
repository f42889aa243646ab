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

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/internal/kwatch"
)

func (c *Client) dynamicListWatch(ctx context.Context, gvr schema.GroupVersionResource, ns, selector string) *cache.ListWatch {
	r := c.Dynamic.Resource(gvr).Namespace(ns)
	return kwatch.ListWatch(ctx, selector, "",
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return r.List(ctx, o) },
		r.Watch)
}

func (c *Client) pvcListWatch(ctx context.Context, ns string) *cache.ListWatch {
	r := c.Core.CoreV1().PersistentVolumeClaims(ns)
	return kwatch.ListWatch(ctx, "", "",
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return r.List(ctx, o) },
		r.Watch)
}

func (c *Client) secretListWatch(ctx context.Context, ns, selector string) *cache.ListWatch {
	r := c.Core.CoreV1().Secrets(ns)
	return kwatch.ListWatch(ctx, selector, "",
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return r.List(ctx, o) },
		r.Watch)
}

// waitGone waits until none of the named objects (namespace/name) exists, at most c.deleteTimeout.
// It watches through an informer, which re-lists after an expired watch or an API server restart.
// An object still there at the end is named with what holds it (its finalizers).
func (c *Client) waitGone(ctx context.Context, kind string, lw cache.ListerWatcher, objType runtime.Object, names map[string]bool) error {
	remaining := make(map[string]bool, len(names))
	for k := range names {
		remaining[k] = true
	}
	held := map[string][]string{} // key -> finalizers last seen
	note := func(obj interface{}) {
		if m, err := meta.Accessor(obj); err == nil {
			held[m.GetNamespace()+"/"+m.GetName()] = m.GetFinalizers()
		}
	}
	precondition := func(store cache.Store) (bool, error) {
		for key := range remaining {
			obj, exists, err := store.GetByKey(key)
			if err == nil && !exists {
				delete(remaining, key)
			} else if exists {
				note(obj)
			}
		}
		return len(remaining) == 0, nil
	}
	gone := func(ev watch.Event) (bool, error) {
		m, err := meta.Accessor(ev.Object)
		if err != nil {
			return false, nil
		}
		if ev.Type == watch.Deleted {
			delete(remaining, m.GetNamespace()+"/"+m.GetName())
		} else {
			note(ev.Object)
		}
		return len(remaining) == 0, nil
	}
	waitCtx, cancel := context.WithTimeout(ctx, c.deleteTimeout())
	defer cancel()
	if _, err := watchtools.UntilWithSync(waitCtx, lw, objType, precondition, gone); err != nil {
		left := make([]string, 0, len(remaining))
		for k := range remaining {
			if f := held[k]; len(f) > 0 {
				k += " (finalizers " + strings.Join(f, ", ") + ")"
			}
			left = append(left, k)
		}
		sort.Strings(left)
		if ctx.Err() != nil {
			return fmt.Errorf("wait for removal of %s %s: %w", kind, strings.Join(left, ", "), ctx.Err())
		}
		if waitCtx.Err() != nil {
			return fmt.Errorf("%s %s still terminating after %s; Harvester has not finished deleting them", kind, strings.Join(left, ", "), c.deleteTimeout())
		}
		return fmt.Errorf("wait for removal of %s %s: %w", kind, strings.Join(left, ", "), err)
	}
	return nil
}
