package harvester

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Option names of the driver, so a pre-flight problem tells the user what to change.
const (
	optNamespace = "vm-namespace"
	optImage     = "image"
	optNetwork   = "network"
	optKeyPair   = "keypair"
	optDiskSize  = "disk-size"
)

// Preflight checks, before anything is created, that Harvester can run the template's VMs: the API
// answers and accepts the credentials, they may create VMs and Secrets in the namespace, and the
// namespace, image, network and key pair exist and fit. It reports every problem it finds, each
// naming the option to change, and returns what the VM specs need from Harvester.
func (c *Client) Preflight(ctx context.Context, t VMTemplate) (Environment, error) {
	var env Environment
	// Reachability and credentials first: nothing else can be checked without them.
	allowed, err := c.mayCreate(ctx, t.Namespace, "kubevirt.io", "virtualmachines")
	if err != nil {
		return env, c.accessError(err)
	}
	var problems []error
	if !allowed {
		problems = append(problems, fmt.Errorf("%s: not allowed to create virtualmachines.kubevirt.io in namespace %q", c.authOption(), t.Namespace))
	}
	if ok, err := c.mayCreate(ctx, t.Namespace, "", "secrets"); err != nil {
		problems = append(problems, fmt.Errorf("%s: check access to secrets in namespace %q: %w", c.authOption(), t.Namespace, err))
	} else if !ok {
		problems = append(problems, fmt.Errorf("%s: not allowed to create secrets in namespace %q", c.authOption(), t.Namespace))
	}

	if err := c.checkNamespace(ctx, t.Namespace); err != nil {
		problems = append(problems, err)
	}
	sc, err := c.checkImage(ctx, t.Image, t.DiskSize, optImage, optDiskSize)
	if err != nil {
		problems = append(problems, err)
	}
	env.StorageClass = sc
	if !t.Network.IsZero() {
		if _, err := c.get(ctx, gvrNetwork, t.Network); err != nil {
			problems = append(problems, fmt.Errorf("%s: NetworkAttachmentDefinition %s: %w", optNetwork, t.Network, notFoundOr(err)))
		}
	}
	problems = append(problems, c.preflightDevices(ctx, t, &env)...)
	if t.KeyPair != "" {
		key, err := c.keyPairKey(ctx, ObjectRef{Namespace: t.Namespace, Name: t.KeyPair})
		if err != nil {
			problems = append(problems, err)
		}
		env.KeyPairKey = key
	}
	if len(problems) > 0 {
		return env, fmt.Errorf("harvester pre-flight: %w", errors.Join(problems...))
	}
	return env, nil
}

// accessError explains why the first request failed, without quoting any credential.
func (c *Client) accessError(err error) error {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s: Harvester at %s rejected the credentials (they may have expired; give fresh ones): %w", c.authOption(), c.Server, err)
	case errors.As(err, &unknownCA), errors.As(err, &hostname):
		return fmt.Errorf("%s: TLS verification of Harvester at %s failed (give certificate-authority-data, or set insecure-skip-tls-verify): %w", c.authOption(), c.Server, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: Harvester API at %s did not answer within %s: %w", c.authOption(), c.Server, c.preflightTimeout(), err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: not allowed to check access in Harvester at %s: %w", c.authOption(), c.Server, err)
	default:
		return fmt.Errorf("%s: reach Harvester API at %s: %w", c.authOption(), c.Server, err)
	}
}

// mayCreate asks the API server whether the credentials may create a resource in a namespace.
func (c *Client) mayCreate(ctx context.Context, namespace, group, resource string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.preflightTimeout())
	defer cancel()
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "create", Group: group, Resource: resource},
	}}
	res, err := c.Core.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return res.Status.Allowed, nil
}

func (c *Client) checkNamespace(ctx context.Context, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, c.preflightTimeout())
	defer cancel()
	_, err := c.Core.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case err == nil, apierrors.IsForbidden(err):
		// Users limited to their namespaces may not read Namespace objects; the other checks
		// still find a missing namespace through its objects.
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s: namespace %q does not exist", optNamespace, namespace)
	default:
		return fmt.Errorf("%s: get namespace %q: %w", optNamespace, namespace, err)
	}
}

// checkImage checks that the image is imported and fits the disk; it returns its storage class.
// Problems name imageOpt, or sizeOpt for a disk too small.
func (c *Client) checkImage(ctx context.Context, ref ObjectRef, disk resource.Quantity, imageOpt, sizeOpt string) (string, error) {
	img, err := c.get(ctx, gvrImage, ref)
	if err != nil {
		return "", fmt.Errorf("%s: VirtualMachineImage %s: %w", imageOpt, ref, notFoundOr(err))
	}
	progress, _, _ := unstructured.NestedInt64(img.Object, "status", "progress")
	imported, reason := imageImported(img)
	if !imported && progress != 100 {
		if reason != "" {
			return "", fmt.Errorf("%s: VirtualMachineImage %s is not ready (%d%% imported): %s", imageOpt, ref, progress, reason)
		}
		return "", fmt.Errorf("%s: VirtualMachineImage %s is not ready (%d%% imported)", imageOpt, ref, progress)
	}
	sc, _, _ := unstructured.NestedString(img.Object, "status", "storageClassName")
	if sc == "" {
		return "", fmt.Errorf("%s: VirtualMachineImage %s has no status.storageClassName (Harvester older than v1.1?)", imageOpt, ref)
	}
	size, _, _ := unstructured.NestedInt64(img.Object, "status", "virtualSize")
	if size == 0 {
		size, _, _ = unstructured.NestedInt64(img.Object, "status", "size")
	}
	if size > 0 && disk.Value() < size {
		return sc, fmt.Errorf("%s: %s is smaller than image %s (%s)", sizeOpt, disk.String(), ref,
			resource.NewQuantity(size, resource.BinarySI).String())
	}
	return sc, nil
}

// imageImported reads the Imported condition; reason is its message when it is not true.
func imageImported(img *unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(img.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]interface{})
		if !ok || m["type"] != "Imported" {
			continue
		}
		if m["status"] == "True" {
			return true, ""
		}
		msg, _ := m["message"].(string)
		return false, msg
	}
	return false, ""
}

func (c *Client) keyPairKey(ctx context.Context, ref ObjectRef) (string, error) {
	kp, err := c.get(ctx, gvrKeyPair, ref)
	if err != nil {
		return "", fmt.Errorf("%s: KeyPair %s: %w", optKeyPair, ref, notFoundOr(err))
	}
	key, _, _ := unstructured.NestedString(kp.Object, "spec", "publicKey")
	if key == "" {
		return "", fmt.Errorf("%s: KeyPair %s has no spec.publicKey", optKeyPair, ref)
	}
	return key, nil
}

func (c *Client) get(ctx context.Context, gvr schema.GroupVersionResource, ref ObjectRef) (*unstructured.Unstructured, error) {
	ctx, cancel := context.WithTimeout(ctx, c.preflightTimeout())
	defer cancel()
	return c.Dynamic.Resource(gvr).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
}

// errNotFound reads better in a pre-flight message than the API server's wording.
var errNotFound = errors.New("not found")

func notFoundOr(err error) error {
	if apierrors.IsNotFound(err) {
		return errNotFound
	}
	return err
}

// CheckAccess makes one cheap request in namespace: whether the credentials still work.
func (c *Client) CheckAccess(ctx context.Context, namespace string) error {
	if _, err := c.mayCreate(ctx, namespace, "kubevirt.io", "virtualmachines"); err != nil {
		return c.accessError(err)
	}
	return nil
}
