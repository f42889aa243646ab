package harvester

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rancher/rke/log"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// CreateNodes creates the plan's missing VMs (and their cloud-init Secrets) in parallel, and
// re-creates the Secret of a kept VM whose create was cut short. A VM whose name is taken adopts
// the existing VM when it is the cluster's and fails otherwise. Every step is idempotent, so a call
// killed at any point is completed by the next one. It returns the VMs it created or adopted, also
// when others failed, with every problem in the error.
func (c *Client) CreateNodes(ctx context.Context, cl Cluster, env Environment, p Plan) ([]VM, error) {
	ns := cl.Template.Namespace
	if err := cl.Owner.check(); err != nil {
		return nil, fmt.Errorf("create VMs: %w", err)
	}
	var heal []VM
	if len(p.Keep) > 0 {
		secrets, err := c.Core.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: cl.Owner.selector()})
		if err != nil {
			return nil, fmt.Errorf("list cloud-init secrets of cluster %s in %s: %w", cl.Owner.Name, ns, err)
		}
		secretByName := map[string]*corev1.Secret{}
		for i := range secrets.Items {
			secretByName[secrets.Items[i].Name] = &secrets.Items[i]
		}
		for _, vm := range p.Keep {
			if s := secretByName[CloudInitSecretName(vm.Name)]; s == nil || !ownedBy(s, types.UID(vm.UID)) {
				heal = append(heal, vm)
			}
		}
	}
	if len(p.Missing) > 0 {
		log.Infof(ctx, "[harvester] creating %d VM(s) of cluster %s in %s", len(p.Missing), cl.Owner.Name, ns)
	}
	var mu sync.Mutex
	var created []VM
	errs := c.parallel(ctx, len(heal)+len(p.Missing), func(ctx context.Context, i int) error {
		if i < len(heal) {
			return c.healSecret(ctx, cl, env, typedVM(ns, heal[i]))
		}
		vm, err := c.createNode(ctx, cl, env, p.Missing[i-len(heal)])
		if err != nil {
			return err
		}
		mu.Lock()
		created = append(created, vm)
		mu.Unlock()
		return nil
	})
	SortVMs(cl, created)
	if len(errs) > 0 {
		return created, fmt.Errorf("create VMs of cluster %s: %w", cl.Owner.Name, errors.Join(errs...))
	}
	return created, nil
}

// typedVM is as much of a VM object as its cloud-init Secret needs.
func typedVM(ns string, vm VM) *kubevirtv1.VirtualMachine {
	var annotations map[string]string
	if vm.StaticAddress != "" {
		annotations = map[string]string{annotationStaticAddress: vm.StaticAddress}
	}
	return &kubevirtv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{
		Name: vm.Name, Namespace: ns, UID: types.UID(vm.UID), Labels: map[string]string{LabelPool: vm.Pool}, Annotations: annotations,
	}}
}

// createNode creates one VM, or adopts it if an earlier attempt created it, then its Secret.
func (c *Client) createNode(ctx context.Context, cl Cluster, env Environment, n VM) (VM, error) {
	ns := cl.Template.Namespace
	spec, err := VMSpec(cl, env, n)
	if err != nil {
		return n, err
	}
	obj, err := toUnstructured(spec)
	if err != nil {
		return n, fmt.Errorf("vm %s: convert spec: %w", n.Name, err)
	}
	log.Infof(ctx, "[harvester] %s: creating VM", n.Name)
	vms := c.Dynamic.Resource(gvrVM).Namespace(ns)
	created, err := vms.Create(ctx, obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	if apierrors.IsAlreadyExists(err) {
		created, err = vms.Get(ctx, n.Name, metav1.GetOptions{})
		if err == nil {
			if !cl.Owner.owns(created.GetLabels()) {
				return n, fmt.Errorf("%w: choose another vm-name-prefix", cl.Owner.notOwned("vm "+ns+"/"+n.Name, created.GetLabels()))
			}
			log.Infof(ctx, "[harvester] %s: VM exists already, adopting it", n.Name)
		}
	}
	if err != nil {
		return n, fmt.Errorf("create vm %s/%s: %w", ns, n.Name, err)
	}
	var vm kubevirtv1.VirtualMachine
	if err := toTyped(created.Object, &vm); err != nil {
		return n, fmt.Errorf("vm %s: read: %w", n.Name, err)
	}
	return observed(created), c.healSecret(ctx, cl, env, &vm)
}

// healSecret makes sure a VM's cloud-init Secret exists and is owned by this VM (a Secret left from
// an earlier VM of the same name would be garbage-collected under it).
func (c *Client) healSecret(ctx context.Context, cl Cluster, env Environment, vm *kubevirtv1.VirtualMachine) error {
	want, err := CloudInitSecret(cl, env, vm)
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
	if !cl.Owner.owns(have.Labels) {
		return cl.Owner.notOwned("secret "+vm.Namespace+"/"+want.Name, have.Labels)
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
