package harvester

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/rancher/rke/log"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// Plan reports what Reconcile would do now, without changing anything. The orchestrator drains
// Plan.Surplus through RKE and removes them with DeleteNodes before it calls Reconcile.
func (c *Client) Plan(ctx context.Context, cl Cluster) (Plan, error) {
	vms, err := c.listVMs(ctx, cl.Template.Namespace, cl.Name)
	if err != nil {
		return Plan{}, err
	}
	return plan(cl, vms)
}

// Reconcile makes the cluster's VMs match its pools: it creates the missing VMs (lowest free
// indexes) and their cloud-init Secrets, re-creates the Secret of a VM whose create was cut short,
// and deletes surplus VMs (highest index first). A VM whose name is taken adopts the existing VM
// when it carries this cluster's label and fails otherwise. Every step is idempotent, so a
// Reconcile killed at any point is completed by the next one. It returns the cluster's nodes
// (without addresses), also when some failed, with every problem in the error.
func (c *Client) Reconcile(ctx context.Context, cl Cluster, env Environment) ([]Node, error) {
	ns := cl.Template.Namespace
	vms, err := c.listVMs(ctx, ns, cl.Name)
	if err != nil {
		return nil, err
	}
	p, err := plan(cl, vms)
	if err != nil {
		return nil, err
	}
	secrets, err := c.Core.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: clusterSelector(cl.Name)})
	if err != nil {
		return nil, fmt.Errorf("list cloud-init secrets of cluster %s in %s: %w", cl.Name, ns, err)
	}
	secretByName := map[string]*corev1.Secret{}
	for i := range secrets.Items {
		secretByName[secrets.Items[i].Name] = &secrets.Items[i]
	}
	vmByName := map[string]*unstructured.Unstructured{}
	for i := range vms {
		vmByName[vms[i].GetName()] = &vms[i]
	}

	var heal []*unstructured.Unstructured
	for _, n := range p.Keep {
		vm := vmByName[n.Name]
		if s := secretByName[CloudInitSecretName(n.Name)]; s == nil || !ownedBy(s, vm.GetUID()) {
			heal = append(heal, vm)
		}
	}
	if len(p.Missing) > 0 {
		log.Infof(ctx, "[harvester] creating %d VM(s) of cluster %s in %s", len(p.Missing), cl.Name, ns)
	}
	var mu sync.Mutex
	nodes := append([]Node{}, p.Keep...)
	errs := c.parallel(ctx, len(heal)+len(p.Missing), func(ctx context.Context, i int) error {
		if i < len(heal) {
			return c.healSecret(ctx, cl, env, heal[i])
		}
		n := p.Missing[i-len(heal)]
		if err := c.createNode(ctx, cl, env, n); err != nil {
			return err
		}
		mu.Lock()
		nodes = append(nodes, n)
		mu.Unlock()
		return nil
	})
	if len(p.Surplus) > 0 {
		names := make([]string, len(p.Surplus))
		for i, n := range p.Surplus {
			names[i] = n.Name
		}
		if err := c.DeleteNodes(ctx, ns, cl.Name, names); err != nil {
			errs = append(errs, err)
		}
	}
	sortNodes(cl, nodes)
	if len(errs) > 0 {
		return nodes, fmt.Errorf("reconcile VMs of cluster %s: %w", cl.Name, errors.Join(errs...))
	}
	return nodes, nil
}

// createNode creates one VM, or adopts it if an earlier attempt created it, then its Secret.
func (c *Client) createNode(ctx context.Context, cl Cluster, env Environment, n Node) error {
	ns := cl.Template.Namespace
	spec, err := VMSpec(cl, env, n.Pool, n.Index)
	if err != nil {
		return err
	}
	obj, err := toUnstructured(spec)
	if err != nil {
		return fmt.Errorf("vm %s: convert spec: %w", n.Name, err)
	}
	log.Infof(ctx, "[harvester] %s: creating VM", n.Name)
	vms := c.Dynamic.Resource(gvrVM).Namespace(ns)
	created, err := vms.Create(ctx, obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	if apierrors.IsAlreadyExists(err) {
		created, err = vms.Get(ctx, n.Name, metav1.GetOptions{})
		if err == nil {
			if owner := created.GetLabels()[LabelCluster]; owner != cl.Name {
				return fmt.Errorf("vm %s/%s already exists and does not belong to cluster %s (its %s label is %q): choose another vm-name-prefix",
					ns, n.Name, cl.Name, LabelCluster, owner)
			}
			log.Infof(ctx, "[harvester] %s: VM exists already, adopting it", n.Name)
		}
	}
	if err != nil {
		return fmt.Errorf("create vm %s/%s: %w", ns, n.Name, err)
	}
	return c.healSecret(ctx, cl, env, created)
}

// healSecret makes sure a VM's cloud-init Secret exists and is owned by this VM (a Secret left from
// an earlier VM of the same name would be garbage-collected under it).
func (c *Client) healSecret(ctx context.Context, cl Cluster, env Environment, obj *unstructured.Unstructured) error {
	var vm kubevirtv1.VirtualMachine
	if err := toTyped(obj.Object, &vm); err != nil {
		return fmt.Errorf("vm %s: read: %w", obj.GetName(), err)
	}
	want, err := CloudInitSecret(cl, env, &vm)
	if err != nil {
		return err
	}
	secrets := c.Core.CoreV1().Secrets(vm.Namespace)
	_, err = secrets.Create(ctx, want, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	if err == nil {
		log.Infof(ctx, "[harvester] %s: cloud-init secret created", vm.Name)
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create cloud-init secret %s/%s: %w", vm.Namespace, want.Name, err)
	}
	have, err := secrets.Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get cloud-init secret %s/%s: %w", vm.Namespace, want.Name, err)
	}
	if owner := have.Labels[LabelCluster]; owner != cl.Name {
		return fmt.Errorf("secret %s/%s exists and does not belong to cluster %s (its %s label is %q)", vm.Namespace, want.Name, cl.Name, LabelCluster, owner)
	}
	if ownedBy(have, vm.UID) {
		return nil
	}
	want.ResourceVersion = have.ResourceVersion
	if _, err := secrets.Update(ctx, want, metav1.UpdateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
		return fmt.Errorf("update cloud-init secret %s/%s: %w", vm.Namespace, want.Name, err)
	}
	log.Infof(ctx, "[harvester] %s: cloud-init secret re-attached to the VM", vm.Name)
	return nil
}

func ownedBy(s *corev1.Secret, uid types.UID) bool {
	for _, o := range s.OwnerReferences {
		if o.UID == uid {
			return true
		}
	}
	return false
}

// plan compares the cluster's VMs with its pools. VMs being deleted hold their names but do not
// count; VMs of pools no longer wanted are surplus.
func plan(cl Cluster, vms []unstructured.Unstructured) (Plan, error) {
	wanted := map[string]int{}
	for _, p := range cl.Pools {
		wanted[p.Name] = p.Count
	}
	taken := map[string]map[int]bool{}
	live := map[string][]Node{}
	var p Plan
	var problems []error
	for _, vm := range vms {
		name, pool := vm.GetName(), vm.GetLabels()[LabelPool]
		idx, ok := nodeIndex(name, pool)
		n := Node{Name: name, Pool: pool, Index: idx}
		terminating := vm.GetDeletionTimestamp() != nil
		if _, want := wanted[pool]; !want {
			if !terminating {
				p.Surplus = append(p.Surplus, n)
			}
			continue
		}
		if !ok || name != VMName(cl.Template.NamePrefix, pool, idx) {
			problems = append(problems, fmt.Errorf("vm %s of cluster %s is not named %s-%s-<n> (was vm-name-prefix changed?)",
				name, cl.Name, cl.Template.NamePrefix, pool))
			continue
		}
		if taken[pool] == nil {
			taken[pool] = map[int]bool{}
		}
		taken[pool][idx] = true
		if !terminating {
			live[pool] = append(live[pool], n)
		}
	}
	if len(problems) > 0 {
		return Plan{}, errors.Join(problems...)
	}
	for _, pool := range cl.Pools {
		nodes := live[pool.Name]
		sort.Slice(nodes, func(i, j int) bool { return nodes[i].Index < nodes[j].Index })
		if len(nodes) > pool.Count {
			p.Surplus = append(p.Surplus, nodes[pool.Count:]...)
			nodes = nodes[:pool.Count]
		}
		p.Keep = append(p.Keep, nodes...)
		for idx := 1; len(nodes)+countPool(p.Missing, pool.Name) < pool.Count; idx++ {
			if !taken[pool.Name][idx] {
				p.Missing = append(p.Missing, Node{Name: VMName(cl.Template.NamePrefix, pool.Name, idx), Pool: pool.Name, Index: idx})
			}
		}
	}
	sort.SliceStable(p.Surplus, func(i, j int) bool {
		if p.Surplus[i].Index != p.Surplus[j].Index {
			return p.Surplus[i].Index > p.Surplus[j].Index
		}
		return p.Surplus[i].Name < p.Surplus[j].Name
	})
	return p, nil
}

func countPool(nodes []Node, pool string) int {
	n := 0
	for _, x := range nodes {
		if x.Pool == pool {
			n++
		}
	}
	return n
}

// sortNodes orders nodes by the cluster's pool order, then index.
func sortNodes(cl Cluster, nodes []Node) {
	order := map[string]int{}
	for i, p := range cl.Pools {
		order[p.Name] = i
	}
	sort.SliceStable(nodes, func(i, j int) bool {
		if nodes[i].Pool != nodes[j].Pool {
			return order[nodes[i].Pool] < order[nodes[j].Pool]
		}
		return nodes[i].Index < nodes[j].Index
	})
}

// listVMs lists the cluster's VMs; an empty namespace means all namespaces.
func (c *Client) listVMs(ctx context.Context, ns, cluster string) ([]unstructured.Unstructured, error) {
	list, err := c.Dynamic.Resource(gvrVM).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: clusterSelector(cluster)})
	if err != nil {
		return nil, fmt.Errorf("list VMs of cluster %s: %w", cluster, err)
	}
	return list.Items, nil
}

// parallel runs fn for 0..n-1 with at most Concurrency calls at once and returns their errors.
func (c *Client) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) []error {
	sem := make(chan struct{}, c.concurrency())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			mu.Lock()
			errs = append(errs, ctx.Err())
			mu.Unlock()
			wg.Wait()
			return errs
		}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			if err := fn(ctx, i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	return errs
}
