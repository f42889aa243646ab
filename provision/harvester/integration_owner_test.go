package harvester

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// objectSnapshot records what exists of a cluster on the API server: "kind name" -> uid, labels and
// whether it is terminating, for VMs, VMIs, Secrets and PVCs carrying its id, and PVCs named after
// its prefix. Two snapshots are equal when nothing of the cluster was created, deleted or relabelled.
func objectSnapshot(ctx context.Context, t testing.TB, c *Client, cl Cluster) map[string]string {
	t.Helper()
	ns := cl.Template.Namespace
	sel := metav1.ListOptions{LabelSelector: cl.Owner.selector()}
	out := map[string]string{}
	add := func(kind string, m metav1.Object) {
		l, _ := json.Marshal(m.GetLabels()) // sorted keys
		out[kind+" "+m.GetName()] = fmt.Sprintf("uid=%s labels=%s terminating=%v", m.GetUID(), l, m.GetDeletionTimestamp() != nil)
	}
	for kind, gvr := range map[string]schema.GroupVersionResource{"VirtualMachine": gvrVM, "VirtualMachineInstance": gvrVMI} {
		l, err := c.Dynamic.Resource(gvr).Namespace(ns).List(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		for i := range l.Items {
			add(kind, &l.Items[i])
		}
	}
	secrets, err := c.Core.CoreV1().Secrets(ns).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for i := range secrets.Items {
		add("Secret", &secrets.Items[i])
	}
	pvcs, err := c.Core.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pvcs.Items {
		if p.Labels[LabelClusterID] == cl.Owner.ID || strings.HasPrefix(p.Name, cl.Template.NamePrefix+"-") {
			add("PersistentVolumeClaim", &pvcs.Items[i])
		}
	}
	return out
}

// sameObjects reports what changed between two snapshots.
func sameObjects(t testing.TB, what string, before, after map[string]string) {
	t.Helper()
	var diff []string
	for k, v := range before {
		if after[k] != v {
			diff = append(diff, fmt.Sprintf("%s: %s -> %q", k, v, after[k]))
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s: new, %s", k, v))
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Errorf("%s changed the other cluster's objects:\n%s", what, strings.Join(diff, "\n"))
	}
}

// TestIntegrationSameNameClusters runs two clusters of the same name (as two Rancher installations
// may make) with different prefixes and ids in one namespace: whatever is done to one never
// touches the other's VMs, VMIs, Secrets and PVCs.
func TestIntegrationSameNameClusters(t *testing.T) {
	s := harvestersim.Start(t, harvestersim.Options{})
	c, _ := simClient(t, s)
	ctx := context.Background()
	a, b := simCluster(t, "it-twin", 1), simCluster(t, "it-twin", 1)
	a.Template.NamePrefix, b.Template.NamePrefix = "twin-a", "twin-b"
	if a.Owner.ID == b.Owner.ID {
		t.Fatal("two clusters got the same id")
	}
	for _, cl := range []Cluster{a, b} {
		if _, err := provision(ctx, t, c, cl, 3*time.Minute); err != nil {
			t.Fatalf("provision %s: %v", cl.Template.NamePrefix, err)
		}
	}
	env, err := c.Preflight(ctx, a.Template)
	if err != nil {
		t.Fatal(err)
	}
	bObjects := objectSnapshot(ctx, t, c, b)
	if len(bObjects) < 8 { // 2 VMs, 2 VMIs, 2 PVCs, 2 cloud-init Secrets, the anchor
		t.Fatalf("cluster b has only %v", bObjects)
	}
	check := func(what string) {
		t.Helper()
		sameObjects(t, what, bObjects, objectSnapshot(ctx, t, c, b))
		vms, err := c.List(ctx, simNS, b.Owner)
		if err != nil || len(vms) != 2 || vms[0].Address == "" || vms[1].Address == "" {
			t.Errorf("after %s, b's VMs are %+v, %v; want both running with addresses", what, vms, err)
		}
	}

	if err := c.AdoptLegacy(ctx, simNS, a.Template.NamePrefix, poolNamesOf(a), a.Owner); err != nil {
		t.Fatal(err)
	}
	check("AdoptLegacy of a")

	a.Pools[1].Count = 3
	vms, err := converge(ctx, c, a, env)
	if err != nil || !reflect.DeepEqual(vmNames(vms), []string{"twin-a-cp-1", "twin-a-worker-1", "twin-a-worker-2", "twin-a-worker-3"}) {
		t.Fatalf("scale a up: %v, %v", vmNames(vms), err)
	}
	check("scaling a up")

	a.Pools[1].Count = 1
	listed, err := c.List(ctx, simNS, a.Owner)
	if err != nil {
		t.Fatal(err)
	}
	p, err := PlanVMs(a, listed)
	if err != nil || !reflect.DeepEqual(vmNames(p.Surplus), []string{"twin-a-worker-3", "twin-a-worker-2"}) {
		t.Fatalf("plan of a's scale-down: surplus %v, %v", vmNames(p.Surplus), err)
	}
	if err := c.DeleteNodes(ctx, simNS, a.Owner, vmNames(p.Surplus)); err != nil {
		t.Fatal(err)
	}
	check("scaling a down")

	err = c.DeleteNodes(ctx, simNS, a.Owner, []string{"twin-b-worker-1"})
	wantAll(t, err, fmt.Sprintf(`vm default/twin-b-worker-1 belongs to another cluster (harvesterrke.io/cluster="it-twin", harvesterrke.io/cluster-id=%q), not to cluster it-twin (id %s): not deleting it`, b.Owner.ID, a.Owner.ID))
	check("deleting b's VM as a")

	// a with b's prefix (a changed vm-name-prefix): nothing of b is taken over.
	wrong := a
	wrong.Template.NamePrefix = "twin-b"
	created, err := c.CreateNodes(ctx, wrong, env, Plan{Missing: []VM{{Name: "twin-b-worker-1", Pool: "worker", Index: 1}}})
	wantAll(t, err, fmt.Sprintf(`vm default/twin-b-worker-1 belongs to another cluster (harvesterrke.io/cluster="it-twin", harvesterrke.io/cluster-id=%q)`, b.Owner.ID), "choose another vm-name-prefix")
	if len(created) != 0 {
		t.Errorf("created %v", vmNames(created))
	}
	_, _, err = c.LoadOrCreateAnchor(ctx, simNS, "twin-b", a.Owner, func() (map[string][]byte, error) { return nil, nil })
	wantAll(t, err, "anchor secret default/twin-b-ssh belongs to another cluster named it-twin", "choose another vm-name-prefix")
	check("creating a with b's prefix")

	removeAndCheck(ctx, t, s, c, a)
	check("removing a")
	removeAndCheck(ctx, t, s, c, b)
}

// TestIntegrationRecordFacts: the VM's uid in RecordFacts' patch is a precondition the real API
// server enforces, so facts of a VM never land on its successor of the same name.
func TestIntegrationRecordFacts(t *testing.T) {
	s := harvestersim.Start(t, harvestersim.Options{NoHosts: true})
	c, _ := simClient(t, s)
	ctx := context.Background()
	cl := simCluster(t, "it-facts", 0)
	env, err := c.Preflight(ctx, cl.Template)
	if err != nil {
		t.Fatal(err)
	}
	vms, err := converge(ctx, c, cl, env)
	if err != nil || len(vms) != 1 {
		t.Fatalf("converge: %+v, %v", vms, err)
	}
	first := vms[0]
	facts := Facts{HostKey: "ssh-ed25519 AAAAtest", Phase: "docker", Roles: []string{"controlplane", "etcd"}}
	annotations := func() map[string]string {
		t.Helper()
		u, err := c.Dynamic.Resource(gvrVM).Namespace(simNS).Get(ctx, first.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for k, v := range u.GetAnnotations() {
			if strings.HasPrefix(k, "harvesterrke.io/") {
				out[k] = v
			}
		}
		return out
	}

	wrong := first
	wrong.UID = "00000000-0000-0000-0000-000000000000"
	err = c.RecordFacts(ctx, simNS, wrong, facts)
	wantAll(t, err, "record facts on vm default/it-facts-cp-1")
	t.Logf("RecordFacts with a wrong uid: %v", err)
	if !apierrors.IsConflict(err) && !apierrors.IsInvalid(err) {
		t.Errorf("want the API server's precondition refusal (conflict or invalid), got %v", err)
	}
	if a := annotations(); len(a) != 0 {
		t.Errorf("a refused RecordFacts wrote %v", a)
	}

	if err := c.RecordFacts(ctx, simNS, first, facts); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{annotationHostKey: "ssh-ed25519 AAAAtest", annotationPhase: "docker", annotationRoles: "controlplane,etcd"}
	if a := annotations(); !reflect.DeepEqual(a, want) {
		t.Errorf("annotations %v, want %v", a, want)
	}
	if err := c.RecordFacts(ctx, simNS, first, Facts{Phase: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	listed, err := c.List(ctx, simNS, cl.Owner)
	if err != nil || len(listed) != 1 {
		t.Fatalf("List = %+v, %v", listed, err)
	}
	if got := (Facts{HostKey: "ssh-ed25519 AAAAtest", Phase: "kubernetes", Roles: []string{"controlplane", "etcd"}}); !reflect.DeepEqual(listed[0].Facts, got) || listed[0].UID != first.UID {
		t.Errorf("List read %+v, want uid %s and facts %+v", listed[0], first.UID, got)
	}

	// The VM is made again under the same name: the old VM's facts are refused on the new one.
	if err := c.DeleteNodes(ctx, simNS, cl.Owner, []string{first.Name}); err != nil {
		t.Fatal(err)
	}
	again, err := converge(ctx, c, cl, env)
	if err != nil || len(again) != 1 || again[0].Name != first.Name || again[0].UID == first.UID {
		t.Fatalf("made again: %+v, %v; want %s with a new uid", again, err, first.Name)
	}
	if err := c.RecordFacts(ctx, simNS, first, Facts{Phase: "kubernetes"}); err == nil {
		t.Error("facts of the deleted VM were written onto its successor")
	}
	listed, err = c.List(ctx, simNS, cl.Owner)
	if err != nil || len(listed) != 1 || !reflect.DeepEqual(listed[0].Facts, Facts{}) {
		t.Errorf("the successor has facts %+v (%v), want none", listed, err)
	}
	t.Run("a VM whose uid is not known is refused", func(t *testing.T) {
		err := c.RecordFacts(ctx, simNS, VM{Name: first.Name}, Facts{Phase: "ssh"})
		// An empty uid in a merge patch is no precondition: the API server keeps the VM's uid.
		if err == nil {
			t.Error("RecordFacts without a uid wrote facts")
		}
	})
	removeAndCheck(ctx, t, s, c, cl)
}

// TestIntegrationRemoveStuckVM: a VM that never goes (a finalizer nothing removes) makes Remove fail
// within DeleteTimeout, naming the VM and what holds it.
func TestIntegrationRemoveStuckVM(t *testing.T) {
	s := harvestersim.Start(t, harvestersim.Options{NoHosts: true})
	c, _ := simClient(t, s)
	ctx := context.Background()
	cl := simCluster(t, "it-stuck", 1)
	env, err := c.Preflight(ctx, cl.Template)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := converge(ctx, c, cl, env); err != nil {
		t.Fatal(err)
	}
	const hold = "harvesterrke.io/test-hold"
	setFinalizers := func(f []string) {
		t.Helper()
		patch, _ := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{"finalizers": f}})
		if _, err := c.Dynamic.Resource(gvrVM).Namespace(simNS).Patch(ctx, "it-stuck-worker-1", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setFinalizers([]string{hold})

	c.DeleteTimeout = 3 * time.Second
	start := time.Now()
	err = c.Remove(ctx, simNS, cl.Owner)
	elapsed := time.Since(start)
	wantAll(t, err, "remove cluster it-stuck", "VM default/it-stuck-worker-1 (finalizers ", hold, "still terminating after 3s")
	t.Logf("Remove after %s: %v", elapsed.Round(time.Millisecond), err)
	if strings.Contains(err.Error(), "it-stuck-cp-1") {
		t.Errorf("the VM that went is named: %v", err)
	}
	if elapsed < c.DeleteTimeout || elapsed > c.DeleteTimeout+10*time.Second {
		t.Errorf("Remove returned after %s, want just after its DeleteTimeout of %s", elapsed, c.DeleteTimeout)
	}

	// Once whatever held it lets go, Remove completes.
	u, err := c.Dynamic.Resource(gvrVM).Namespace(simNS).Get(ctx, "it-stuck-worker-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var others []string
	for _, f := range u.GetFinalizers() {
		if f != hold {
			others = append(others, f)
		}
	}
	setFinalizers(others)
	c.DeleteTimeout = time.Minute
	removeAndCheck(ctx, t, s, c, cl)
}

// TestIntegrationIdentity: the cluster's own identity on the stand-in works for everything the driver
// does, may do nothing else, and RemoveIdentity with its own credentials leaves nothing behind.
func TestIntegrationIdentity(t *testing.T) {
	s := harvestersim.Start(t, harvestersim.Options{NoHosts: true})
	admin, _ := simClient(t, s)
	ctx := context.Background()
	const vmNS = "it-vms" // not the image's and network's namespace ("default"), to test the foreign Roles
	if _, err := admin.Core.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: vmNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cl := simCluster(t, "it-ident", 1)
	cl.Template.Namespace = vmNS
	scope := IdentityScope{Namespace: vmNS, Prefix: cl.Template.NamePrefix, Image: cl.Template.Image, Network: cl.Template.Network}
	creds, err := admin.EnsureIdentity(ctx, scope, cl.Owner)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Server != s.Server || creds.Token == "" || string(creds.CAData) != string(s.CACert) || creds.Insecure {
		t.Errorf("credentials for %s (CA %d bytes, insecure %v), want %s with its CA and a token", creds.Server, len(creds.CAData), creds.Insecure, s.Server)
	}
	again, err := admin.EnsureIdentity(ctx, scope, cl.Owner)
	if err != nil || again.Token != creds.Token {
		t.Errorf("EnsureIdentity again: %v; token kept: %v", err, again.Token == creds.Token)
	}
	ident, err := NewClient(creds)
	if err != nil {
		t.Fatal(err)
	}

	sa := "system:serviceaccount:" + vmNS + ":" + IdentityName(cl.Template.NamePrefix)
	t.Run("access reviews", func(t *testing.T) {
		type access struct {
			verb, group, resource, ns, name string
		}
		allowed := []access{
			{"create", "kubevirt.io", "virtualmachines", vmNS, ""},
			{"delete", "kubevirt.io", "virtualmachines", vmNS, "it-ident-cp-1"},
			{"list", "kubevirt.io", "virtualmachines", vmNS, ""},
			{"watch", "kubevirt.io", "virtualmachineinstances", vmNS, ""},
			{"patch", "kubevirt.io", "virtualmachines", vmNS, "it-ident-cp-1"},
			{"create", "", "secrets", vmNS, ""},
			{"get", "", "secrets", vmNS, "it-ident-ssh"},
			{"delete", "", "persistentvolumeclaims", vmNS, "it-ident-cp-1-disk-0"},
			{"get", "harvesterhci.io", "virtualmachineimages", "default", "debian-12-nodocker"},
			{"get", "k8s.cni.cncf.io", "network-attachment-definitions", "default", "vlan1"},
			{"delete", "", "serviceaccounts", vmNS, IdentityName(cl.Template.NamePrefix)},
		}
		refused := []access{
			{"get", "", "secrets", "default", "it-ident-ssh"},
			{"list", "", "secrets", "default", ""},
			{"create", "kubevirt.io", "virtualmachines", "default", ""},
			{"delete", "kubevirt.io", "virtualmachines", "default", "it-ident-cp-1"},
			{"update", "kubevirt.io", "virtualmachines", vmNS, "it-ident-cp-1"}, // the driver patches
			{"get", "harvesterhci.io", "virtualmachineimages", "default", "debian-12"},
			{"list", "harvesterhci.io", "virtualmachineimages", "default", ""},
			{"get", "harvesterhci.io", "keypairs", vmNS, "ops"}, // no key pair asked for
			{"list", "", "namespaces", "", ""},
			{"delete", "", "namespaces", "", vmNS},
			{"get", "", "nodes", "", ""},
			{"create", "", "pods", vmNS, ""},
			{"create", "", "serviceaccounts", vmNS, ""},
			{"delete", "", "serviceaccounts", vmNS, "default"},
			{"create", "rbac.authorization.k8s.io", "roles", vmNS, ""},
			{"update", "rbac.authorization.k8s.io", "roles", vmNS, IdentityName(cl.Template.NamePrefix)},
			{"create", "rbac.authorization.k8s.io", "rolebindings", vmNS, ""},
			{"delete", "rbac.authorization.k8s.io", "roles", "default", "another-role"},
		}
		for _, tc := range []struct {
			want bool
			list []access
		}{{true, allowed}, {false, refused}} {
			for _, a := range tc.list {
				review, err := admin.Core.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
					User:   sa,
					Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + vmNS, "system:authenticated"},
					ResourceAttributes: &authorizationv1.ResourceAttributes{
						Verb: a.verb, Group: a.group, Resource: a.resource, Namespace: a.ns, Name: a.name,
					},
				}}, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if review.Status.Allowed != tc.want {
					t.Errorf("%s may %s %s.%s %s/%s: %v, want %v (%s)", sa, a.verb, a.resource, a.group, a.ns, a.name, review.Status.Allowed, tc.want, review.Status.Reason)
				}
			}
		}
	})

	t.Run("the token works where the driver works, and only there", func(t *testing.T) {
		if _, err := ident.List(ctx, vmNS, cl.Owner); err != nil {
			t.Errorf("List VMs in %s with the identity: %v", vmNS, err)
		}
		_, err := ident.List(ctx, "default", cl.Owner)
		if !apierrors.IsForbidden(err) {
			t.Errorf("List VMs in default with the identity: %v, want forbidden", err)
		}
		if _, err := ident.Core.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("list secrets in default with the identity: %v, want forbidden", err)
		}
	})

	// The driver's whole life of a cluster with nothing but the identity.
	t.Run("create, scale down and remove with the identity", func(t *testing.T) {
		env, err := ident.Preflight(ctx, cl.Template)
		if err != nil {
			t.Fatalf("Preflight with the identity: %v", err)
		}
		_, id, err := ident.LoadOrCreateAnchor(ctx, vmNS, cl.Template.NamePrefix, cl.Owner, func() (map[string][]byte, error) {
			return map[string][]byte{"seed": []byte("test-only")}, nil
		})
		if err != nil || id != cl.Owner.ID {
			t.Fatalf("LoadOrCreateAnchor with the identity: %q, %v", id, err)
		}
		if err := ident.AdoptLegacy(ctx, vmNS, cl.Template.NamePrefix, poolNamesOf(cl), cl.Owner); err != nil {
			t.Fatalf("AdoptLegacy with the identity: %v", err)
		}
		cl := cl
		cl.Pools = []Pool{{Name: "cp", Count: 1}, {Name: "worker", Count: 2}}
		vms, err := converge(ctx, ident, cl, env)
		if err != nil || len(vms) != 3 {
			t.Fatalf("create with the identity: %v, %v", vmNames(vms), err)
		}
		if err := ident.RecordFacts(ctx, vmNS, vms[0], Facts{Phase: "ssh"}); err != nil {
			t.Errorf("RecordFacts with the identity: %v", err)
		}
		cl.Pools[1].Count = 1
		if _, err := converge(ctx, ident, cl, env); err != nil {
			t.Fatalf("scale down with the identity: %v", err)
		}
		if err := ident.CheckAccess(ctx, vmNS); err != nil {
			t.Errorf("CheckAccess with the identity: %v", err)
		}
		if err := ident.Remove(ctx, vmNS, cl.Owner); err != nil {
			t.Fatalf("Remove with the identity: %v", err)
		}
		// All but the identity: its service account, token, roles and bindings, here and in the
		// image's namespace, go with RemoveIdentity.
		name := IdentityName(cl.Template.NamePrefix)
		identity := []string{"Secret " + vmNS + "/" + name + "-token", "ServiceAccount " + vmNS + "/" + name,
			"Role " + vmNS + "/" + name, "RoleBinding " + vmNS + "/" + name,
			"Role default/" + foreignRoleName(scope), "RoleBinding default/" + foreignRoleName(scope)}
		if left := waitLeftoversExcept(ctx, t, s, cl.Owner.selector(), identity...); len(left) > 0 {
			t.Errorf("after Remove: %v", left)
		}
		// Remove runs with the identity and RemoveIdentity follows it: Remove must leave the
		// identity's token, or its own next requests fail once the API server's token cache
		// (10 s) forgets it.
		_, err = admin.Core.CoreV1().Secrets(vmNS).Get(ctx, IdentityName(cl.Template.NamePrefix)+"-token", metav1.GetOptions{})
		if err != nil {
			t.Errorf("the identity's token Secret after Remove: %v", err)
		}
	})

	t.Run("RemoveIdentity with its own credentials leaves nothing", func(t *testing.T) {
		// EnsureIdentity again, as the next Create or Update would: the token survived Remove.
		again, err := admin.EnsureIdentity(ctx, scope, cl.Owner)
		if err != nil {
			t.Fatal(err)
		}
		if again.Token != creds.Token {
			t.Error("EnsureIdentity after Remove made a new token: the first one was lost")
		}
		if err := ident.CheckAccess(ctx, vmNS); err != nil {
			t.Fatalf("the identity does not work: %v", err)
		}
		if err := ident.RemoveIdentity(ctx, scope); err != nil {
			t.Fatalf("RemoveIdentity with the identity: %v", err)
		}
		// Its rights go with the garbage-collected bindings, its token with its service account
		// (the API server caches a token's authentication for 10 s).
		deadline := time.Now().Add(time.Minute)
		for {
			_, err := ident.List(ctx, vmNS, cl.Owner)
			if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the identity still works a minute after RemoveIdentity: %v", err)
			}
			time.Sleep(500 * time.Millisecond)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := s.WaitNoLeftovers(wctx, cl.Owner.selector()); err != nil {
			t.Error(err)
		}
		// Leftovers does not cover service accounts, roles and role bindings: looked at here.
		if left := waitNoRBACLeftovers(wctx, t, admin, cl.Owner, vmNS, "default"); len(left) > 0 {
			t.Errorf("after RemoveIdentity: %v", left)
		}
	})
}

// waitLeftoversExcept waits, at most a minute, until the stand-in's Leftovers for selector are only
// those in except, and returns the others left then.
func waitLeftoversExcept(ctx context.Context, t testing.TB, s *harvestersim.Sim, selector string, except ...string) []string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		all, err := s.Leftovers(ctx, selector)
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, l := range all {
			if !slices.Contains(except, l) {
				left = append(left, l)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitNoRBACLeftovers waits until no service account, role or role binding labelled with the
// cluster's id is left in the namespaces, and returns what is left when ctx ends.
func waitNoRBACLeftovers(wait context.Context, t testing.TB, c *Client, owner Owner, namespaces ...string) []string {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: owner.selector()}
	ctx := context.Background() // the last look is made after wait ended
	for {
		var left []string
		for _, ns := range namespaces {
			sas, err := c.Core.CoreV1().ServiceAccounts(ns).List(ctx, sel)
			if err != nil {
				return []string{err.Error()}
			}
			for _, o := range sas.Items {
				left = append(left, "ServiceAccount "+ns+"/"+o.Name)
			}
			roles, err := c.Core.RbacV1().Roles(ns).List(ctx, sel)
			if err != nil {
				return []string{err.Error()}
			}
			for _, o := range roles.Items {
				left = append(left, "Role "+ns+"/"+o.Name)
			}
			bindings, err := c.Core.RbacV1().RoleBindings(ns).List(ctx, sel)
			if err != nil {
				return []string{err.Error()}
			}
			for _, o := range bindings.Items {
				left = append(left, "RoleBinding "+ns+"/"+o.Name)
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-wait.Done():
			return left
		case <-time.After(200 * time.Millisecond):
		}
	}
}
