package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hostimage"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// Annotations on a VirtualMachineImage that choose what its VMs boot in the stand-in.
const (
	annRootfs      = "harvestersim.harvesterrke.io/rootfs"
	annDefaultUser = "harvestersim.harvesterrke.io/default-user"
)

// imageSize is what images report as their size (a small Debian cloud image) and virtual size.
const (
	imageSize        = 360 << 20
	imageVirtualSize = 2 << 30
)

// Image is a VirtualMachineImage the stand-in registers; its VMs boot the given root filesystem.
type Image struct {
	Namespace, Name string
	DisplayName     string           // default: Name
	Rootfs          hostimage.Rootfs // default: Config.DefaultRootfs
	DefaultUser     string           // cloud-init's default user; default: Config.DefaultUser
}

func (i Image) String() string { return i.Namespace + "/" + i.Name }

// imageStorageClass is the storage class Harvester makes for an image's volumes.
func imageStorageClass(name string) string { return "longhorn-" + name }

// RegisterImage creates the image as Harvester's UI does; the controller then marks it imported.
func (c *Controller) RegisterImage(ctx context.Context, img Image) error {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "harvesterhci.io/v1beta1",
		"kind":       "VirtualMachineImage",
		"metadata": map[string]any{
			"name": img.Name, "namespace": img.Namespace,
			"annotations": map[string]any{annRootfs: string(img.Rootfs), annDefaultUser: img.DefaultUser},
		},
		"spec": map[string]any{
			"displayName": img.DisplayName,
			"sourceType":  "download",
			"url":         "http://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
			"backend":     "backingimage",
		},
	}}
	if err := c.ensureNamespace(ctx, img.Namespace); err != nil {
		return err
	}
	_, err := c.dyn.Resource(gvr.VirtualMachineImages).Namespace(img.Namespace).Create(ctx, u, metav1.CreateOptions{FieldValidation: "Strict"})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register image %s: %w", img, err)
	}
	return nil
}

// RegisterNetwork creates a VLAN network as Harvester's UI does: a bridge NAD on the management cluster
// network. ref is "<namespace>/<name>".
func (c *Controller) RegisterNetwork(ctx context.Context, ref string, vlan int) error {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		return fmt.Errorf("register network %q: want <namespace>/<name>", ref)
	}
	if err := c.ensureNamespace(ctx, ns); err != nil {
		return err
	}
	config := fmt.Sprintf(`{"cniVersion":"0.3.1","name":%q,"type":"bridge","bridge":"mgmt-br","promiscMode":true,"vlan":%d,"ipam":{}}`, name, vlan)
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.cni.cncf.io/v1",
		"kind":       "NetworkAttachmentDefinition",
		"metadata": map[string]any{
			"name": name, "namespace": ns,
			"labels": map[string]any{
				"network.harvesterhci.io/clusternetwork": "mgmt",
				"network.harvesterhci.io/type":           "L2VlanNetwork",
				"network.harvesterhci.io/vlan-id":        fmt.Sprint(vlan),
			},
		},
		"spec": map[string]any{"config": config},
	}}
	_, err := c.dyn.Resource(gvr.NetworkAttachmentDefinitions).Namespace(ns).Create(ctx, u, metav1.CreateOptions{FieldValidation: "Strict"})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register network %s: %w", ref, err)
	}
	return nil
}

func (c *Controller) ensureNamespace(ctx context.Context, name string) error {
	_, err := c.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// syncImage does what Harvester's image controller does once an image is downloaded: the image's
// storage class exists and its status says imported, with the storage class PVCs must use.
func (c *Controller) syncImage(ctx context.Context, key string) error {
	_, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	img, err := getCached(c.images, key)
	if err != nil {
		return err
	}
	sc := imageStorageClass(name)
	if img == nil || img.GetDeletionTimestamp() != nil {
		err := c.kube.StorageV1().StorageClasses().Delete(ctx, sc, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete storage class of image %s: %w", key, err)
		}
		return nil
	}
	if err := c.ensureStorageClass(ctx, img); err != nil {
		return err
	}
	if got, _, _ := unstructured.NestedString(img.Object, "status", "storageClassName"); got == sc {
		return nil
	}
	now := time.Now().UTC().Format(time.RFC3339)
	url, _, _ := unstructured.NestedString(img.Object, "spec", "url")
	next := img.DeepCopy()
	next.Object["status"] = map[string]any{
		"appliedUrl":       url,
		"progress":         int64(100),
		"size":             int64(imageSize),
		"virtualSize":      int64(imageVirtualSize),
		"storageClassName": sc,
		"failed":           int64(0),
		"conditions": []any{
			map[string]any{"type": "Imported", "status": "True", "lastUpdateTime": now},
			map[string]any{"type": "Initialized", "status": "True", "lastUpdateTime": now},
		},
	}
	if _, err := c.dyn.Resource(gvr.VirtualMachineImages).Namespace(img.GetNamespace()).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of image %s: %w", key, err)
	}
	return nil
}

func (c *Controller) ensureStorageClass(ctx context.Context, img *unstructured.Unstructured) error {
	reclaim := corev1.PersistentVolumeReclaimDelete
	binding := storagev1.VolumeBindingImmediate
	expand := true
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        imageStorageClass(img.GetName()),
			Annotations: map[string]string{annImageID: img.GetNamespace() + "/" + img.GetName()},
		},
		Provisioner: "driver.longhorn.io",
		Parameters: map[string]string{
			"backingImage":        img.GetNamespace() + "-" + img.GetName(),
			"migratable":          "true",
			"numberOfReplicas":    "3",
			"staleReplicaTimeout": "30",
		},
		ReclaimPolicy:        &reclaim,
		VolumeBindingMode:    &binding,
		AllowVolumeExpansion: &expand,
	}
	_, err := c.kube.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create storage class for image %s/%s: %w", img.GetNamespace(), img.GetName(), err)
	}
	return nil
}

// DefaultStorageClass is Harvester's default storage class (Longhorn), for volumes not made from an image.
const DefaultStorageClass = "harvester-longhorn"

// RegisterDefaultStorageClass makes Harvester's default storage class.
func (c *Controller) RegisterDefaultStorageClass(ctx context.Context) error {
	reclaim := corev1.PersistentVolumeReclaimDelete
	binding := storagev1.VolumeBindingImmediate
	expand := true
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        DefaultStorageClass,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:          "driver.longhorn.io",
		Parameters:           map[string]string{"migratable": "true", "numberOfReplicas": "3", "staleReplicaTimeout": "30"},
		ReclaimPolicy:        &reclaim,
		VolumeBindingMode:    &binding,
		AllowVolumeExpansion: &expand,
	}
	_, err := c.kube.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create storage class %s: %w", DefaultStorageClass, err)
	}
	return nil
}

// syncKeyPair validates a KeyPair's public key and records its fingerprint, as Harvester does.
func (c *Controller) syncKeyPair(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	kp, err := c.dyn.Resource(gvr.KeyPairs).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("get key pair %s: %w", key, err)
	}
	pub, _, _ := unstructured.NestedString(kp.Object, "spec", "publicKey")
	status := map[string]any{}
	cond := map[string]any{"type": "validated", "status": "True"}
	if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub)); err != nil {
		cond["status"], cond["reason"], cond["message"] = "False", "InvalidKey", "failed to parse the public key: "+err.Error()
	} else {
		status["fingerPrint"] = ssh.FingerprintLegacyMD5(k)
	}
	old, _, _ := unstructured.NestedMap(kp.Object, "status")
	oldConds, _, _ := unstructured.NestedSlice(old, "conditions")
	if old["fingerPrint"] == status["fingerPrint"] && len(oldConds) == 1 {
		if m, _ := oldConds[0].(map[string]any); m["status"] == cond["status"] {
			return nil
		}
	}
	cond["lastUpdateTime"] = time.Now().UTC().Format(time.RFC3339)
	status["conditions"] = []any{cond}
	kp.Object["status"] = status
	if _, err := c.dyn.Resource(gvr.KeyPairs).Namespace(ns).UpdateStatus(ctx, kp, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of key pair %s: %w", key, err)
	}
	return nil
}
