package kubewatch

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

func configMap(name, phase string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": "default"},
		"data":     map[string]any{"phase": phase},
	}}
}

func phase(u *unstructured.Unstructured) string {
	p, _, _ := unstructured.NestedString(u.Object, "data", "phase")
	return p
}

var errBroken = errors.New("broken")

// TestUntil: the wait ends when the condition holds for the object as it is at the start, as it
// changes, once it is gone, or with the condition's error; it gives up when the context ends.
func TestUntil(t *testing.T) {
	for _, tc := range []struct {
		name    string
		initial *unstructured.Unstructured
		change  func(ctx context.Context, ri dynamic.ResourceInterface) error // made while waiting
		cond    func(u *unstructured.Unstructured) (bool, error)
		wantErr error // nil, errBroken or context.DeadlineExceeded
	}{
		{
			name:    "holds at the start",
			initial: configMap("cm", "ready"),
			cond:    func(u *unstructured.Unstructured) (bool, error) { return u != nil && phase(u) == "ready", nil },
		},
		{
			name: "absent at the start",
			cond: func(u *unstructured.Unstructured) (bool, error) { return u == nil, nil },
		},
		{
			name:    "created, then updated",
			initial: nil,
			change: func(ctx context.Context, ri dynamic.ResourceInterface) error {
				if _, err := ri.Create(ctx, configMap("cm", "pending"), metav1.CreateOptions{}); err != nil {
					return err
				}
				_, err := ri.Update(ctx, configMap("cm", "ready"), metav1.UpdateOptions{})
				return err
			},
			cond: func(u *unstructured.Unstructured) (bool, error) { return u != nil && phase(u) == "ready", nil },
		},
		{
			name:    "deleted",
			initial: configMap("cm", "ready"),
			change: func(ctx context.Context, ri dynamic.ResourceInterface) error {
				return ri.Delete(ctx, "cm", metav1.DeleteOptions{})
			},
			cond: func(u *unstructured.Unstructured) (bool, error) { return u == nil, nil },
		},
		{
			name:    "the condition's error",
			initial: configMap("cm", "failed"),
			cond: func(u *unstructured.Unstructured) (bool, error) {
				if u != nil && phase(u) == "failed" {
					return false, errBroken
				}
				return false, nil
			},
			wantErr: errBroken,
		},
		{
			name:    "never",
			initial: configMap("cm", "pending"),
			cond:    func(u *unstructured.Unstructured) (bool, error) { return u != nil && phase(u) == "ready", nil },
			wantErr: context.DeadlineExceeded,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			if tc.initial != nil {
				objs = append(objs, tc.initial)
			}
			dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
				map[schema.GroupVersionResource]string{gvr.ConfigMaps: "ConfigMapList"}, objs...)
			ri := dyn.Resource(gvr.ConfigMaps).Namespace("default")
			timeout := 30 * time.Second
			if tc.wantErr == context.DeadlineExceeded {
				timeout = 200 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			changed := make(chan error, 1)
			if tc.change != nil {
				go func() { changed <- tc.change(ctx, ri) }()
			}
			err := Until(ctx, ri, "cm", tc.cond)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("Until: %v, want %v", err, tc.wantErr)
			}
			if tc.change != nil {
				if err := <-changed; err != nil {
					t.Fatalf("change: %v", err)
				}
			}
		})
	}
}
