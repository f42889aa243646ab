package harvestersim

import (
	"context"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestLeftoverWaitersWakeOnRBAC: deleting a labelled identity object wakes WaitNoLeftovers' waiters.
// Regression: only VM-related kinds woke them, so a removal whose last step was the garbage
// collector deleting an identity's Role and bindings waited until its deadline.
func TestLeftoverWaitersWakeOnRBAC(t *testing.T) {
	s := Start(t, Options{NoHosts: true})
	kube, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	meta := metav1.ObjectMeta{Name: "wake", Labels: map[string]string{"harvesterrke.io/cluster": "wake"}}
	rbac := kube.RbacV1()
	for _, tc := range []struct {
		kind           string
		create, delete func() error
	}{
		{"Role", func() error {
			_, err := rbac.Roles("default").Create(ctx, &rbacv1.Role{ObjectMeta: meta}, metav1.CreateOptions{})
			return err
		}, func() error { return rbac.Roles("default").Delete(ctx, meta.Name, metav1.DeleteOptions{}) }},
		{"RoleBinding", func() error {
			_, err := rbac.RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "wake"}}, metav1.CreateOptions{})
			return err
		}, func() error { return rbac.RoleBindings("default").Delete(ctx, meta.Name, metav1.DeleteOptions{}) }},
		{"ClusterRoleBinding", func() error {
			_, err := rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: meta,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "wake"}}, metav1.CreateOptions{})
			return err
		}, func() error { return rbac.ClusterRoleBindings().Delete(ctx, meta.Name, metav1.DeleteOptions{}) }},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			if err := tc.create(); err != nil {
				t.Fatal(err)
			}
			// Nothing else changes on this stand-in without VMs: only the deletion can wake it.
			changed := s.ctrl.Changed()
			if err := tc.delete(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-changed:
			case <-ctx.Done():
				t.Fatalf("deleting a labelled %s woke no leftover waiter", tc.kind)
			}
		})
	}
}
