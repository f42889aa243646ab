package kubeaccess_test

import (
	"context"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/addons"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/kubeaccess"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

// TestAgainstAPIServer plays the built cluster with the stand-in's real etcd, kube-apiserver and
// kube-controller-manager (whose token controller fills the token Secret).
func TestAgainstAPIServer(t *testing.T) {
	testenv.SkipShort(t, "starts etcd, kube-apiserver and kube-controller-manager")
	sim := harvestersim.Start(t, harvestersim.Options{KubernetesOnly: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin, err := kubeaccess.NewClient(kubeaccess.Access{Endpoint: sim.Server, CACert: string(sim.CACert),
		ClientCert: string(sim.ClientCert), ClientKey: string(sim.ClientKey)})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("token", func(t *testing.T) { testToken(ctx, t, sim, admin) })
	t.Run("version and nodes", func(t *testing.T) { testInfo(ctx, t, sim) })
	t.Run("legacy service account", func(t *testing.T) { testLegacy(ctx, t, admin) })
	t.Run("apply manifests", func(t *testing.T) { testApply(ctx, t, sim, admin) })
	t.Run("API server restart", func(t *testing.T) { testRestart(ctx, t, sim, admin) })
}

// testApply: the rendered cloud provider and CSI driver are applied, a second apply brings back
// what was changed by hand, and a manifest the API server refuses is named.
func testApply(ctx context.Context, t *testing.T, sim *harvestersim.Sim, admin kubernetes.Interface) {
	manifests, err := addons.Render(addons.Params{ClusterName: "demo", VolumeNamePrefix: "demo-pv"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := kubeaccess.ConfigFromKubeconfig(sim.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := kubeaccess.Apply(ctx, cfg, manifests); err != nil {
		t.Fatal(err)
	}
	d, err := admin.AppsV1().Deployments("kube-system").Get(ctx, "harvester-cloud-provider", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Args = []string{"--changed-by-hand"}
	if _, err := admin.AppsV1().Deployments("kube-system").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kubeaccess.Apply(ctx, cfg, manifests); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	d, err = admin.AppsV1().Deployments("kube-system").Get(ctx, "harvester-cloud-provider", metav1.GetOptions{})
	if err != nil || !strings.Contains(strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "), "--cluster-name=demo") {
		t.Errorf("the second apply did not restore the Deployment: %v %v", d.Spec.Template.Spec.Containers[0].Args, err)
	}
	if _, err := admin.StorageV1().StorageClasses().Get(ctx, "harvester", metav1.GetOptions{}); err != nil {
		t.Errorf("StorageClass harvester: %v", err)
	}
	err = kubeaccess.Apply(ctx, cfg, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad, namespace: kube-system}\ndata: {k: [1]}\n")
	if err == nil || !strings.Contains(err.Error(), "ConfigMap kube-system/bad") {
		t.Errorf("a refused manifest: %v", err)
	}
}

// testToken: the token authenticates on its own (CA and bearer token only), is cluster-admin, and a
// second run returns it again without creating anything.
func testToken(ctx context.Context, t *testing.T, sim *harvestersim.Sim, admin kubernetes.Interface) {
	token, err := kubeaccess.ServiceAccountToken(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	before := uids(ctx, t, admin)

	again, err := kubeaccess.ServiceAccountToken(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if again != token {
		t.Error("the second run returned another token")
	}
	if after := uids(ctx, t, admin); after != before {
		t.Errorf("the second run replaced objects: %v → %v", before, after)
	}

	rancher, err := kubeaccess.NewClient(kubeaccess.Access{Endpoint: sim.Server, CACert: string(sim.CACert), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rancher.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the token cannot list nodes: %v", err)
	}
	review, err := rancher.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: "*", Group: "*", Resource: "*"}},
	}, metav1.CreateOptions{})
	if err != nil || !review.Status.Allowed {
		t.Errorf("the token is not cluster-admin: %v %+v", err, review)
	}

	forged, err := kubeaccess.NewClient(kubeaccess.Access{Endpoint: sim.Server, CACert: string(sim.CACert), Token: token + "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := forged.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("a forged token: %v, want Unauthorized", err)
	}
}

// uids identifies the objects ServiceAccountToken makes, to see that none is made twice.
type objectUIDs struct{ namespace, serviceAccount, binding, secret types.UID }

func uids(ctx context.Context, t *testing.T, cs kubernetes.Interface) objectUIDs {
	t.Helper()
	ns, err1 := cs.CoreV1().Namespaces().Get(ctx, kubeaccess.Namespace, metav1.GetOptions{})
	sa, err2 := cs.CoreV1().ServiceAccounts(kubeaccess.Namespace).Get(ctx, kubeaccess.ServiceAccountName, metav1.GetOptions{})
	crb, err3 := cs.RbacV1().ClusterRoleBindings().Get(ctx, kubeaccess.ClusterRoleBinding, metav1.GetOptions{})
	secret, err4 := cs.CoreV1().Secrets(kubeaccess.Namespace).Get(ctx, kubeaccess.TokenSecretName, metav1.GetOptions{})
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			t.Fatal(err)
		}
	}
	secrets, err := cs.CoreV1().Secrets(kubeaccess.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil || len(secrets.Items) != 1 {
		t.Fatalf("%d secrets in %s, want the token only (%v)", len(secrets.Items), kubeaccess.Namespace, err)
	}
	return objectUIDs{ns.UID, sa.UID, crb.UID, secret.UID}
}

func testInfo(ctx context.Context, t *testing.T, sim *harvestersim.Sim) {
	cs, err := kubeaccess.FromKubeconfig(sim.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	v, err := kubeaccess.Version(ctx, cs)
	if err != nil || !strings.HasPrefix(v, "v1.") {
		t.Errorf("Version = %q, %v", v, err)
	}
	// The stand-in runs no kubelet: an empty list, read through the API.
	if n, err := kubeaccess.NodeCount(ctx, cs); err != nil || n != 0 {
		t.Errorf("NodeCount = %d, %v", n, err)
	}
}

func testLegacy(ctx context.Context, t *testing.T, admin kubernetes.Interface) {
	_, err := admin.CoreV1().ServiceAccounts("default").Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "netes-default"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "netes-default-clusterRoleBinding"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "netes-default", Namespace: "default"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ { // the second run finds nothing to delete
		if err := kubeaccess.RemoveLegacyServiceAccount(ctx, admin); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	if _, err := admin.CoreV1().ServiceAccounts("default").Get(ctx, "netes-default", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("legacy service account: %v", err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Get(ctx, "netes-default-clusterRoleBinding", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("legacy binding: %v", err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Get(ctx, kubeaccess.ClusterRoleBinding, metav1.GetOptions{}); err != nil {
		t.Errorf("the current binding: %v", err)
	}
}

// testRestart: calls made while the API server restarts ride through on retries.
func testRestart(ctx context.Context, t *testing.T, sim *harvestersim.Sim, admin kubernetes.Interface) {
	restarted := make(chan error, 1)
	go func() { restarted <- sim.RestartAPIServer(ctx) }()
	start := time.Now()
	for calls := 1; ; calls++ {
		if _, err := kubeaccess.NodeCount(ctx, admin); err != nil {
			t.Fatalf("call %d during the restart: %v", calls, err)
		}
		select {
		case err := <-restarted:
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kubeaccess.ServiceAccountToken(ctx, admin); err != nil {
				t.Errorf("after the restart: %v", err)
			}
			t.Logf("%d calls during the %s restart", calls, time.Since(start).Round(time.Second))
			return
		default:
		}
	}
}
