package harvester

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/rancher/rke/log"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/internal/kwatch"
)

// The guest cluster's cloud provider and CSI driver reach Harvester with credentials of their own,
// made as Harvester's kubeconfig generator makes them (pkg/api/kubeconfig/generate_handler.go):
// a service account in the VM namespace, its token Secret, a RoleBinding there to the ClusterRole
// harvesterhci.io:cloudprovider and a ClusterRoleBinding to harvesterhci.io:csi-driver, both
// named <namespace>-<service account>. The generator itself answers only through Rancher, so the
// driver makes the same objects with the API.
const (
	CloudProviderRole = "harvesterhci.io:cloudprovider"
	CSIDriverRole     = "harvesterhci.io:csi-driver"

	// LabelCloudProviderCluster is how Harvester's cloud provider labels the load balancers it
	// makes for a guest cluster: with the cluster name it runs with (--cluster-name).
	LabelCloudProviderCluster = "cloudprovider.harvesterhci.io/cluster"
)

var gvrLoadBalancer = schema.GroupVersionResource{Group: "loadbalancer.harvesterhci.io", Version: "v1beta1", Resource: "loadbalancers"}

// CloudProviderAccount is the name of the guest cluster's service account on Harvester.
func CloudProviderAccount(prefix string) string { return prefix + "-cloud-provider" }

// cloudProviderBinding names the bindings of the account, as the generator does.
func cloudProviderBinding(namespace, prefix string) string {
	return namespace + "-" + CloudProviderAccount(prefix)
}

// CloudProviderClusterName is the --cluster-name the guest's cloud provider runs with: the VM name
// prefix, unique in the VM namespace (the anchor Secret sees to that), so the load balancers it
// makes there are told apart from those of a cluster of the same name.
func CloudProviderClusterName(prefix string) string { return prefix }

// GuestVolumePrefix is the name prefix the guest's CSI provisioner gives its volumes, and so the
// Harvester PVCs the CSI driver makes for them: they carry no label that names the guest cluster.
func GuestVolumePrefix(prefix string) string { return prefix + "-pv" }

// identityClusterRole names the cluster-scoped part of the cluster's identity, which exists only
// with the cloud provider: the right to delete the cloud provider's ClusterRoleBinding.
func identityClusterRole(scope IdentityScope) string {
	return "harvesterrke:" + scope.Namespace + ":" + scope.Prefix
}

// EnsureCloudProvider makes the guest cluster's cloud-provider account on Harvester, or finds it:
// with the user's credential, which may grant the two ClusterRoles (the cluster's identity may not).
// The ClusterRoleBinding is owned by the identity's ClusterRole, so that RemoveIdentity's deletion
// of it takes the binding along.
func (c *Client) EnsureCloudProvider(ctx context.Context, scope IdentityScope, owner Owner) error {
	if err := owner.check(); err != nil {
		return fmt.Errorf("cloud provider account: %w", err)
	}
	ns, name := scope.Namespace, CloudProviderAccount(scope.Prefix)
	fail := func(err error) error { return fmt.Errorf("cloud provider account %s/%s: %w", ns, name, err) }
	sa, err := c.ensureServiceAccount(ctx, ns, name, owner)
	if err != nil {
		return fail(err)
	}
	ownedBySA := []metav1.OwnerReference{{APIVersion: "v1", Kind: "ServiceAccount", Name: sa.Name, UID: sa.UID}}
	if err := c.ensureTokenSecret(ctx, ns, name+"-token", sa, owner, ownedBySA); err != nil {
		return fail(err)
	}
	subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}
	binding := cloudProviderBinding(ns, scope.Prefix)
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: binding, Namespace: ns, Labels: owner.labels(), OwnerReferences: ownedBySA},
		Subjects:   []rbacv1.Subject{subject},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: CloudProviderRole},
	}
	if _, err := c.Core.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fail(fmt.Errorf("bind to %s: %w", CloudProviderRole, err))
	}
	cr, err := c.Core.RbacV1().ClusterRoles().Get(ctx, identityClusterRole(scope), metav1.GetOptions{})
	if err != nil {
		return fail(fmt.Errorf("the cluster identity's ClusterRole: %w", err))
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: binding, Labels: owner.labels(), OwnerReferences: []metav1.OwnerReference{
			{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole", Name: cr.Name, UID: cr.UID}}},
		Subjects: []rbacv1.Subject{subject},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: CSIDriverRole},
	}
	if _, err := c.Core.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fail(fmt.Errorf("bind to %s: %w", CSIDriverRole, err))
	}
	return nil
}

// CloudConfig is the kubeconfig the guest's cloud provider and CSI driver use (RKE writes it to
// /etc/kubernetes/cloud-config on every node): server, Harvester's CA from the token Secret, the
// account's token, and the VM namespace as the context's namespace (both read their namespace
// from it). server is where the guest's nodes reach Harvester's API; empty means the server this
// client talks to, or Harvester's VIP when that server is Rancher's proxy.
func (c *Client) CloudConfig(ctx context.Context, scope IdentityScope, server string) ([]byte, error) {
	ns, name := scope.Namespace, CloudProviderAccount(scope.Prefix)
	secrets := c.Core.CoreV1().Secrets(ns)
	token, err := kwatch.ServiceAccountToken(ctx, secrets, name+"-token", identityTokenWait)
	if err != nil {
		return nil, fmt.Errorf("cloud provider account %s/%s: %w", ns, name, err)
	}
	s, err := secrets.Get(ctx, name+"-token", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("cloud provider account %s/%s: %w", ns, name, err)
	}
	ca := s.Data[corev1.ServiceAccountRootCAKey]
	if server == "" {
		if server, err = c.guestServer(ctx); err != nil {
			return nil, err
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["default"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default", Namespace: ns}
	cfg.CurrentContext = "default"
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("cloud provider kubeconfig: %w", err)
	}
	return out, nil
}

// harvesterVIP is where Harvester keeps its cluster's virtual IP (its chart's ConfigMap "vip").
const (
	harvesterNamespace = "harvester-system"
	harvesterVIPMap    = "vip"
)

// guestServer is Harvester's API as the guest's nodes reach it: this client's server, unless that
// is Rancher's proxy (…/k8s/clusters/<id>), which the cloud provider cannot use with a
// service-account token; then Harvester's VIP on 6443.
func (c *Client) guestServer(ctx context.Context) (string, error) {
	u, err := url.Parse(c.Server)
	if err != nil {
		return "", fmt.Errorf("harvester server %q: %w", c.Server, err)
	}
	if !strings.Contains(u.Path, "/k8s/clusters/") {
		return c.Server, nil
	}
	cm, err := c.Core.CoreV1().ConfigMaps(harvesterNamespace).Get(ctx, harvesterVIPMap, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("harvester-cloud-provider-api-url: the Harvester access goes through Rancher's proxy and Harvester's VIP cannot be read (ConfigMap %s/%s: %w); give the address the nodes reach Harvester's API at",
			harvesterNamespace, harvesterVIPMap, err)
	}
	ip := net.ParseIP(cm.Data["ip"])
	if ip == nil {
		return "", fmt.Errorf("harvester-cloud-provider-api-url: Harvester's VIP %q (ConfigMap %s/%s) is not an address; give the address the nodes reach Harvester's API at",
			cm.Data["ip"], harvesterNamespace, harvesterVIPMap)
	}
	return "https://" + net.JoinHostPort(ip.String(), "6443"), nil
}

// guestVolumeName matches the Harvester PVCs the guest's CSI driver made: <prefix>-pv-<uuid>.
func guestVolumeName(prefix string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(GuestVolumePrefix(prefix)) + `-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
}

// RemoveGuestObjects deletes what the guest cluster's cloud provider and CSI driver made on
// Harvester and waits until it is gone: the load balancers labelled with its cluster name, and
// the volumes named with its prefix (the VMs they were attached to must be gone first). Then the
// cloud-provider account (its token and RoleBinding follow it).
func (c *Client) RemoveGuestObjects(ctx context.Context, scope IdentityScope, owner Owner) error {
	ns := scope.Namespace
	sel := labels.Set{LabelCloudProviderCluster: CloudProviderClusterName(scope.Prefix)}.String()
	lbs, err := c.Dynamic.Resource(gvrLoadBalancer).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("list the guest cluster's load balancers: %w", err)
	}
	var errs []error
	lbCount := 0
	if lbs != nil && len(lbs.Items) > 0 {
		lbCount = len(lbs.Items)
		keys := make([]objKey, len(lbs.Items))
		for i, lb := range lbs.Items {
			keys[i] = objKey{ns, lb.GetName()}
		}
		errs = append(errs, c.deleteAndWait(ctx, "load balancer", keys, func(ctx context.Context, k objKey, opts metav1.DeleteOptions) error {
			return c.Dynamic.Resource(gvrLoadBalancer).Namespace(k.ns).Delete(ctx, k.name, opts)
		}, c.dynamicListWatch(ctx, gvrLoadBalancer, ns, sel), &unstructured.Unstructured{}))
	}
	pvcs, err := c.Core.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list the guest cluster's volumes: %w", err)
	}
	match := guestVolumeName(scope.Prefix)
	var volumes []objKey
	for _, p := range pvcs.Items {
		if match.MatchString(p.Name) {
			volumes = append(volumes, objKey{ns, p.Name})
		}
	}
	if len(volumes) > 0 {
		errs = append(errs, c.deleteAndWait(ctx, "guest volume", volumes, func(ctx context.Context, k objKey, opts metav1.DeleteOptions) error {
			return c.Core.CoreV1().PersistentVolumeClaims(k.ns).Delete(ctx, k.name, opts)
		}, c.pvcListWatch(ctx, ns), &corev1.PersistentVolumeClaim{}))
	}
	background := metav1.DeletePropagationBackground
	account := CloudProviderAccount(scope.Prefix)
	if err := c.Core.CoreV1().ServiceAccounts(ns).Delete(ctx, account, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete service account %s/%s: %w", ns, account, err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove what cluster %s's cloud provider and CSI driver made: %w", owner.Name, err)
	}
	log.Infof(ctx, "[harvester] cluster %s: removed %d load balancer(s) and %d volume(s) of its cloud provider and CSI driver", owner.Name, lbCount, len(volumes))
	return nil
}
