package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// userToken makes a Harvester user for the test as a service account bound to cluster-admin, as
// an admin's token would be, and returns its token and a function that deletes the account (which
// revokes the token).
func userToken(ctx context.Context, t *testing.T, sim *harvestersim.Sim, name string) (string, func()) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	const ns = "default"
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: name}},
		Type:       corev1.SecretTypeServiceAccountToken,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var token string
	waitFor(t, time.Minute, "the user's token", func() bool {
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, name+"-token", metav1.GetOptions{})
		token = string(s.Data[corev1.ServiceAccountTokenKey])
		return err == nil && token != ""
	})
	revoke := func() {
		if err := cs.CoreV1().ServiceAccounts(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		_ = cs.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
	}
	return token, revoke
}

// tokenOptions are simOptions authenticating with api-url and a token instead of the admin kubeconfig.
func tokenOptions(sim *harvestersim.Sim, token, name string, pools ...string) *types.DriverOptions {
	o := simOptions(sim, name, pools...)
	delete(o.StringOptions, "kubeconfig-content")
	o.StringOptions["api-url"] = sim.Server
	o.StringOptions["token"] = token
	o.StringOptions["certificate-authority-data"] = string(sim.CACert)
	return o
}

// A cluster outlives the token it was created with: Update and Remove work with the identity
// Create made for the cluster, and Remove takes that identity away last.
func TestUserTokenRevokedAfterCreate(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{RKEImages: true})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	token, revoke := userToken(ctx, t, sim, "e2e-user")
	const name = "k-revoked"
	opts := tokenOptions(sim, token, name, "all=1:etcd+controlplane+worker")
	info := createCluster(ctx, t, p, opts, 1)
	revoke()

	// Rancher sends the options without the (now useless) token on Update.
	delete(opts.StringOptions, "token")
	opts.StringSliceOptions["node-pools"] = &types.StringSlice{Value: []string{"all=1:etcd+controlplane+worker", "w=1:worker"}}
	updated, err := p.Client.Update(ctx, info, opts)
	if err != nil {
		t.Fatalf("update after the user's token was revoked: %v", err)
	}
	info = updated
	rancherClient(ctx, t, p, info, []string{name + "-all-1", name + "-w-1"})
	removeCluster(t, sim, p, info, name)
	identityGone(ctx, t, sim, name)
}

// identityGone checks that no service account, role or binding of the cluster is left.
func identityGone(ctx context.Context, t *testing.T, sim *harvestersim.Sim, cluster string) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	sel := metav1.ListOptions{LabelSelector: "harvesterrke.io/cluster=" + cluster}
	waitFor(t, time.Minute, "the cluster's identity to go", func() bool {
		sas, err1 := cs.CoreV1().ServiceAccounts("").List(ctx, sel)
		roles, err2 := cs.RbacV1().Roles("").List(ctx, sel)
		bindings, err3 := cs.RbacV1().RoleBindings("").List(ctx, sel)
		return err1 == nil && err2 == nil && err3 == nil && len(sas.Items)+len(roles.Items)+len(bindings.Items) == 0
	})
}

// Rancher keeps the ClusterInfo from before a failed Update. The next Update, from that older info,
// finds the VM the failed one made (no duplicate), its record (no node forgotten), and the host key
// trusted on first use then: a node that presents another key now is refused, not trusted anew.
func TestUpdateAfterAFailedUpdate(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const name = "c-lost"
	opts := simOptions(sim, name, "m=1:etcd+controlplane+worker")
	opts.BoolOptions["ssh-trust-host-key-on-first-use"] = true
	info, err := p.Client.Create(ctx, opts, nil)
	expectKubernetesStep(t, info, err)
	info.CreateError = ""

	// Scale up: the new VM runs, SSH and Docker are done, then RKE fails (no images here). Over
	// gRPC the failed Update returns no info: Rancher keeps the one it had.
	delete(opts.StringOptions, "kubeconfig-content")
	opts.StringSliceOptions["node-pools"] = &types.StringSlice{Value: []string{"m=1:etcd+controlplane+worker", "w=1:worker"}}
	if _, err := p.Client.Update(ctx, info, opts); !stoppedAtImagePull(err) {
		t.Fatalf("update did not fail at the Kubernetes step: %v", err)
	}
	newVM := name + "-w-1"
	recorded := ""
	for _, vm := range clusterVMs(t, sim, name) {
		if vm.Name == newVM {
			recorded = vm.Annotations["harvesterrke.io/host-key"]
		}
	}
	if recorded == "" {
		t.Fatalf("the failed update left no host key on %s", newVM)
	}

	// The node now presents another host key.
	if out, err := sim.Exec(ctx, "default/"+newVM, "sh", "-c",
		"rm -f /etc/ssh/ssh_host_*key* && ssh-keygen -A >/dev/null && kill -HUP 1"); err != nil {
		t.Fatalf("replace the host keys: %v: %s", err, out)
	}
	_, err = p.Client.Update(ctx, info, opts)
	if err == nil || !strings.Contains(err.Error(), newVM) || !strings.Contains(strings.ToLower(err.Error()), "host key") {
		t.Fatalf("the update from the older info did not refuse %s's new host key: %v", newVM, err)
	}
	if got := vmNames(t, sim, name); strings.Join(got, ",") != name+"-m-1,"+newVM {
		t.Errorf("VMs %v after the second update", got)
	}
	if err := p.Client.Remove(ctx, info); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, sim, name)
}
