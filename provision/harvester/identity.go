package harvester

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/rancher/rke/log"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/internal/kwatch"
)

// identityTokenWait bounds the wait for Harvester's token controller to fill the identity's token.
const identityTokenWait = time.Minute

// IdentityScope is what a cluster's identity may touch besides its VM namespace's VMs, VMIs, PVCs
// and Secrets: the objects the pre-flight check reads again on every Update.
type IdentityScope struct {
	Namespace string    // the VM namespace
	Prefix    string    // the VM name prefix; the identity's objects are named after it
	Image     ObjectRef // read (get) only
	Network   ObjectRef // read only; zero = the pod network
	KeyPair   string    // a KeyPair in Namespace, read only; empty = none
	// CloudProvider gives the identity what removing the guest cluster's cloud-provider account and
	// what it made takes: its service account, load balancers and ClusterRoleBinding.
	CloudProvider bool
	// APILoadBalancer gives it the load balancer in front of the cluster's API.
	APILoadBalancer bool
}

// IdentityName is the name of the cluster's service account, its token Secret's prefix, and of its
// Role and RoleBinding in the VM namespace.
func IdentityName(prefix string) string { return prefix + "-harvesterrke" }

// foreignRoleName names the Roles the identity gets in other namespaces (the image's, the
// network's): several clusters may share those namespaces, so the VM namespace is in the name.
func foreignRoleName(scope IdentityScope) string {
	return scope.Namespace + "-" + IdentityName(scope.Prefix)
}

// EnsureIdentity makes the cluster's own least-privilege identity on Harvester, or brings an
// existing one up to date: a ServiceAccount in the VM namespace, a Role with exactly the verbs the
// driver uses there and its RoleBinding, read-only Roles for the image and the network where they
// live elsewhere, and a token Secret. The namespaced objects are owned by the ServiceAccount, so
// deleting it (RemoveIdentity) takes them along. It returns credentials with the identity's token
// for the server the client talks to.
func (c *Client) EnsureIdentity(ctx context.Context, scope IdentityScope, owner Owner) (Credentials, error) {
	if err := owner.check(); err != nil {
		return Credentials{}, fmt.Errorf("cluster identity: %w", err)
	}
	ns, name := scope.Namespace, IdentityName(scope.Prefix)
	fail := func(err error) (Credentials, error) {
		return Credentials{}, fmt.Errorf("cluster identity %s/%s: %w", ns, name, err)
	}
	sa, err := c.ensureServiceAccount(ctx, ns, name, owner)
	if err != nil {
		return fail(err)
	}
	ownedBySA := []metav1.OwnerReference{{APIVersion: "v1", Kind: "ServiceAccount", Name: sa.Name, UID: sa.UID}}
	roles := map[string][]rbacv1.PolicyRule{ns: vmNamespaceRules(scope)}
	for _, ref := range []struct {
		obj      ObjectRef
		group    string
		resource string
	}{
		{scope.Image, "harvesterhci.io", "virtualmachineimages"},
		{scope.Network, "k8s.cni.cncf.io", "network-attachment-definitions"},
	} {
		if ref.obj.IsZero() {
			continue
		}
		roles[ref.obj.Namespace] = append(roles[ref.obj.Namespace], rbacv1.PolicyRule{
			APIGroups: []string{ref.group}, Resources: []string{ref.resource}, ResourceNames: []string{ref.obj.Name}, Verbs: []string{"get"},
		})
	}
	subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}
	for roleNS, rules := range roles {
		if roleNS == ns {
			if err := c.ensureRole(ctx, roleNS, name, rules, owner, ownedBySA, subject); err != nil {
				return fail(err)
			}
			continue
		}
		// Owner references cannot cross namespaces: the Role elsewhere owns its binding, and
		// RemoveIdentity deletes the Role, which it may do until the very request that does it.
		roleName := foreignRoleName(scope)
		rules = append(rules, rbacv1.PolicyRule{
			APIGroups: []string{rbacv1.GroupName}, Resources: []string{"roles"}, ResourceNames: []string{roleName}, Verbs: []string{"delete"},
		})
		if err := c.ensureRole(ctx, roleNS, roleName, rules, owner, nil, subject); err != nil {
			return fail(err)
		}
	}
	if scope.CloudProvider {
		if err := c.ensureIdentityClusterRole(ctx, scope, owner, subject); err != nil {
			return fail(err)
		}
	}
	tokenName := name + "-token"
	if err := c.ensureTokenSecret(ctx, ns, tokenName, sa, owner, ownedBySA); err != nil {
		return fail(err)
	}
	token, err := kwatch.ServiceAccountToken(ctx, c.Core.CoreV1().Secrets(ns), tokenName, identityTokenWait)
	if err != nil {
		return fail(err)
	}
	return Credentials{Server: c.Server, CAData: c.caData, Insecure: c.insecure, Token: token}, nil
}

// ensureTokenSecret creates the service account's token Secret; one issued to an earlier account
// of the same name (whose token no longer works) is replaced.
func (c *Client) ensureTokenSecret(ctx context.Context, ns, name string, sa *corev1.ServiceAccount, owner Owner, owners []metav1.OwnerReference) error {
	secrets := c.Core.CoreV1().Secrets(ns)
	want := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: owner.labels(), OwnerReferences: owners,
			Annotations: map[string]string{corev1.ServiceAccountNameKey: sa.Name}},
		Type: corev1.SecretTypeServiceAccountToken,
	}
	_, err := secrets.Create(ctx, want, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	have, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get token secret: %w", err)
	}
	if uid := have.Annotations[corev1.ServiceAccountUIDKey]; uid == "" || uid == string(sa.UID) {
		return nil
	}
	if err := secrets.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the token secret of a replaced service account: %w", err)
	}
	_, err = secrets.Create(ctx, want, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	return err
}

// vmNamespaceRules are the verbs the driver uses in the VM namespace, and no more.
func vmNamespaceRules(scope IdentityScope) []rbacv1.PolicyRule {
	name := IdentityName(scope.Prefix)
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"kubevirt.io"}, Resources: []string{"virtualmachines"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
		{APIGroups: []string{"kubevirt.io"}, Resources: []string{"virtualmachineinstances"}, Verbs: []string{"get", "list", "watch", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get", "list", "watch", "patch", "delete"}},
		// Removal deletes the identity itself last; its Role, RoleBinding and token go with it.
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, ResourceNames: []string{name}, Verbs: []string{"delete"}},
	}
	if scope.KeyPair != "" {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{"harvesterhci.io"}, Resources: []string{"keypairs"}, ResourceNames: []string{scope.KeyPair}, Verbs: []string{"get"}})
	}
	lbVerbs := []string{}
	if scope.CloudProvider {
		// The cloud provider's account is removed last; its load balancers before.
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, ResourceNames: []string{CloudProviderAccount(scope.Prefix)}, Verbs: []string{"delete"}})
		lbVerbs = []string{"get", "list", "watch", "delete"}
	}
	if scope.APILoadBalancer {
		lbVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	}
	if len(lbVerbs) > 0 {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{"loadbalancer.harvesterhci.io"}, Resources: []string{"loadbalancers"}, Verbs: lbVerbs})
	}
	return rules
}

// ensureIdentityClusterRole gives the identity the one cluster-scoped right it needs: deleting the
// cloud provider's ClusterRoleBinding, which that ClusterRole also owns; and deleting itself, which
// RemoveIdentity does, so the garbage collector takes both bindings along.
func (c *Client) ensureIdentityClusterRole(ctx context.Context, scope IdentityScope, owner Owner, subject rbacv1.Subject) error {
	name := identityClusterRole(scope)
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterrolebindings"}, ResourceNames: []string{cloudProviderBinding(scope.Namespace, scope.Prefix)}, Verbs: []string{"delete"}},
		{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, ResourceNames: []string{name}, Verbs: []string{"delete"}},
	}
	roles := c.Core.RbacV1().ClusterRoles()
	cr, err := roles.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: owner.labels()}, Rules: rules},
		metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	if apierrors.IsAlreadyExists(err) {
		if cr, err = roles.Get(ctx, name, metav1.GetOptions{}); err == nil && !owner.owns(cr.Labels) {
			return owner.notOwned("ClusterRole "+name, cr.Labels)
		}
		if err == nil && !reflect.DeepEqual(cr.Rules, rules) {
			cr.Rules = rules
			cr, err = roles.Update(ctx, cr, metav1.UpdateOptions{FieldValidation: metav1.FieldValidationStrict})
		}
	}
	if err != nil {
		return fmt.Errorf("ClusterRole %s: %w", name, err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: owner.labels(), OwnerReferences: []metav1.OwnerReference{
			{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole", Name: cr.Name, UID: cr.UID}}},
		Subjects: []rbacv1.Subject{subject},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
	}
	if _, err := c.Core.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("ClusterRoleBinding %s: %w", name, err)
	}
	return nil
}

func (c *Client) ensureServiceAccount(ctx context.Context, ns, name string, owner Owner) (*corev1.ServiceAccount, error) {
	sas := c.Core.CoreV1().ServiceAccounts(ns)
	sa, err := sas.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: owner.labels()}},
		metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	if apierrors.IsAlreadyExists(err) {
		sa, err = sas.Get(ctx, name, metav1.GetOptions{})
		if err == nil && !owner.owns(sa.Labels) {
			return nil, fmt.Errorf("%w: choose another vm-name-prefix", owner.notOwned("service account "+ns+"/"+name, sa.Labels))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create service account: %w", err)
	}
	return sa, nil
}

// ensureRole creates or updates a Role and binds it to subject.
func (c *Client) ensureRole(ctx context.Context, ns, name string, rules []rbacv1.PolicyRule, owner Owner, owners []metav1.OwnerReference, subject rbacv1.Subject) error {
	meta := metav1.ObjectMeta{Name: name, Namespace: ns, Labels: owner.labels(), OwnerReferences: owners}
	roles := c.Core.RbacV1().Roles(ns)
	role, err := roles.Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: rules}, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	if apierrors.IsAlreadyExists(err) {
		have, err := roles.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get role %s/%s: %w", ns, name, err)
		}
		if !owner.owns(have.Labels) {
			return owner.notOwned("role "+ns+"/"+name, have.Labels)
		}
		have.Rules = rules
		if role, err = roles.Update(ctx, have, metav1.UpdateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
			return fmt.Errorf("update role %s/%s: %w", ns, name, err)
		}
	} else if err != nil {
		return fmt.Errorf("create role %s/%s: %w", ns, name, err)
	}
	if len(owners) == 0 {
		meta.OwnerReferences = []metav1.OwnerReference{{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role", Name: role.Name, UID: role.UID}}
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: meta, Subjects: []rbacv1.Subject{subject},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}}
	_, err = c.Core.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create role binding %s/%s: %w", ns, name, err)
	}
	return nil
}

// RemoveIdentity deletes the cluster's identity, last of everything: with the identity's own
// credentials the deletion of its ServiceAccount is the last request they can make. Harvester's
// garbage collector then removes its Role, RoleBinding and token Secret.
func (c *Client) RemoveIdentity(ctx context.Context, scope IdentityScope) error {
	ns, name := scope.Namespace, IdentityName(scope.Prefix)
	var errs []error
	done := map[string]bool{ns: true}
	for _, ref := range []ObjectRef{scope.Image, scope.Network} {
		if ref.IsZero() || done[ref.Namespace] {
			continue
		}
		done[ref.Namespace] = true
		// Its binding is owned by the Role: the garbage collector takes it. Once the Role is gone
		// the identity may not touch it again, so each is deleted once.
		roleName := foreignRoleName(scope)
		background := metav1.DeletePropagationBackground
		if err := c.Core.RbacV1().Roles(ref.Namespace).Delete(ctx, roleName, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete role %s/%s: %w", ref.Namespace, roleName, err))
		}
	}
	background := metav1.DeletePropagationBackground
	if scope.CloudProvider {
		// Its bindings (the identity's and the cloud provider's) are owned by it.
		cr := identityClusterRole(scope)
		if err := c.Core.RbacV1().ClusterRoles().Delete(ctx, cr, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete ClusterRole %s: %w", cr, err))
		}
	}
	err := c.Core.CoreV1().ServiceAccounts(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &background})
	if err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete service account %s/%s: %w", ns, name, err))
	}
	if len(errs) == 0 {
		log.Infof(ctx, "[harvester] deleted the cluster's identity %s/%s (its role, binding and token follow)", ns, name)
	}
	return errors.Join(errs...)
}
