package controller

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// AllVMs targets a fault at every VM; a fault for a VM's own name takes precedence over it.
const AllVMs = "*"

// Fault changes how the stand-in treats a VM, to test the driver's handling of failures. Zero fields
// change nothing. Boot delay and missing address apply to the VM at once; the SSH delay applies to hosts
// started after the fault is set.
type Fault struct {
	// BootDelay replaces Config.BootDelay: the time from the VM's start until its VMI runs with an address.
	BootDelay time.Duration
	// NoAddress: the VMI runs but never reports an address (no guest agent), until the fault is cleared.
	NoAddress bool
	// SSHRefusedFor: the host boots (and gets its address) but refuses SSH connections for this long.
	SSHRefusedFor time.Duration
	// RejectCreate: the API server denies creating the VM, with this message (a ValidatingAdmissionPolicy).
	RejectCreate string
}

type faultSet struct {
	mu   sync.Mutex
	byVM map[string]Fault // by "<namespace>/<name>" or AllVMs
}

// SetFault sets the fault of a VM ("<namespace>/<name>") or of AllVMs, replacing the target's
// previous fault; nil clears it. A creation rejection is in force at the API server when it returns.
func (c *Controller) SetFault(ctx context.Context, target string, f *Fault) error {
	if ns, name, ok := strings.Cut(target, "/"); target != AllVMs && (!ok || ns == "" || name == "") {
		return fmt.Errorf("inject fault: target %q: want <namespace>/<name> or %q", target, AllVMs)
	}
	before := c.faults.rejections()
	c.faults.mu.Lock()
	if f == nil {
		delete(c.faults.byVM, target)
	} else {
		c.faults.byVM[target] = *f
	}
	c.faults.mu.Unlock()
	if after := c.faults.rejections(); !maps.Equal(before, after) {
		if err := c.setRejections(ctx, after); err != nil {
			return err
		}
		probe := target
		if target == AllVMs {
			probe = "default/harvestersim-probe" // a VM without a fault of its own
		}
		if err := c.waitRejection(ctx, probe, c.faults.get(probe).RejectCreate != ""); err != nil {
			return err
		}
	}
	c.requeueAllVMs() // faults apply to running VMs too
	return nil
}

// get returns the fault for the VM key: its own, else the global one.
func (f *faultSet) get(key string) Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.byVM[key]; ok {
		return v
	}
	return f.byVM[AllVMs]
}

// rejections is the content of the admission policy's parameter ConfigMap: "<namespace>.<name>" (or
// "_all") -> the message to deny creation with, "" for a VM whose own fault does not reject (it takes
// precedence over a rejection of all VMs). Namespaces cannot contain dots: the keys are unambiguous.
func (f *faultSet) rejections() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for target, v := range f.byVM {
		out[rejectionKey(target)] = v.RejectCreate
	}
	return out
}

func rejectionKey(target string) string {
	if target == AllVMs {
		return "_all"
	}
	ns, name, _ := strings.Cut(target, "/")
	return ns + "." + name
}

// The objects that make the API server itself deny VirtualMachine creation, as a webhook of a real
// Harvester would (quota, validation): a ValidatingAdmissionPolicy whose parameter lists the targets.
const (
	faultPolicyName = "harvestersim-reject-vm-create"
	faultParamsNS   = "kube-system"
	faultParamsName = "harvestersim-faults"
)

// InstallFaults puts the admission policy that rejects VM creations in place, rejecting none yet.
func (c *Controller) InstallFaults(ctx context.Context) error {
	fail := admissionv1.Fail
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: faultPolicyName},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			ParamKind:     &admissionv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule:       admissionv1.Rule{APIGroups: []string{"kubevirt.io"}, APIVersions: []string{"v1"}, Resources: []string{"virtualmachines"}},
				},
			}}},
			Variables: []admissionv1.Variable{{Name: "key", Expression: "request.namespace + '.' + object.metadata.name"}},
			Validations: []admissionv1.Validation{{
				Expression: "!has(params.data) || (variables.key in params.data ? params.data[variables.key] == '' : " +
					"!('_all' in params.data && params.data['_all'] != ''))",
				MessageExpression: "string(variables.key in params.data ? params.data[variables.key] : params.data['_all'])",
				Reason:            ptr(metav1.StatusReasonForbidden),
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: faultPolicyName},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        faultPolicyName,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			ParamRef: &admissionv1.ParamRef{Name: faultParamsName, Namespace: faultParamsNS,
				ParameterNotFoundAction: ptr(admissionv1.AllowAction)},
		},
	}
	adm := c.kube.AdmissionregistrationV1()
	if _, err := adm.ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("install fault admission policy: %w", err)
	}
	if _, err := adm.ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("install fault admission policy binding: %w", err)
	}
	return c.setRejections(ctx, map[string]string{})
}

func ptr[T any](v T) *T { return &v }

// setRejections writes the policy's parameters and waits until the API server enforces them.
func (c *Controller) setRejections(ctx context.Context, want map[string]string) error {
	cms := c.kube.CoreV1().ConfigMaps(faultParamsNS)
	cm, err := cms.Get(ctx, faultParamsName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: faultParamsName, Namespace: faultParamsNS}, Data: want}
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
	case err == nil:
		cm.Data = want
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("set VM creation rejections: %w", err)
	}
	return nil
}

// waitRejection waits until a dry-run create of VM target ("<namespace>/<name>") is denied (reject)
// or admitted (!reject).
// The API server applies policy parameters from its own informer, with no signal to watch, so this
// probes with backoff.
func (c *Controller) waitRejection(ctx context.Context, target string, reject bool) error {
	ns, name, _ := strings.Cut(target, "/")
	if err := c.ensureNamespace(ctx, ns); err != nil {
		return err
	}
	probe := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"template": map[string]any{"spec": map[string]any{"domain": map[string]any{"devices": map[string]any{}}}}},
	}}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	delay := 10 * time.Millisecond
	for {
		_, err := c.dyn.Resource(gvr.VirtualMachines).Namespace(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		denied := apierrors.IsForbidden(err) && strings.Contains(err.Error(), faultPolicyName)
		if denied == reject && (reject || err == nil || apierrors.IsAlreadyExists(err)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the API server to apply the creation fault for %s: %w (last: %v)", target, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}
