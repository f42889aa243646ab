package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// A cluster built with Harvester's cloud provider (the default): its account on Harvester has
// exactly Harvester's bindings and rights, every node has the cloud config and runs Kubernetes with
// an external cloud provider, the cloud provider's and CSI driver's objects are in the cluster, and
// Remove deletes what they made on Harvester (load balancers, volumes) along with everything else.
// Their images cannot be pulled here: their pods do not run (README: what a real Harvester shows).
func TestCloudProviderOnStandIn(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{RKEImages: true})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	const name = "k-cloud"
	opts := simOptions(sim, name, "cp=1:etcd+controlplane+worker", "w=1:worker")
	info := createCluster(ctx, t, p, opts, 2)
	admin, err := kubernetes.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}

	account := name + "-cloud-provider"
	t.Run("the cloud provider's account on Harvester", func(t *testing.T) {
		rb, err := admin.RbacV1().RoleBindings("default").Get(ctx, "default-"+account, metav1.GetOptions{})
		if err != nil || rb.RoleRef.Name != "harvesterhci.io:cloudprovider" || len(rb.Subjects) != 1 || rb.Subjects[0].Name != account {
			t.Errorf("RoleBinding default/default-%s: %+v %v", account, rb, err)
		}
		crb, err := admin.RbacV1().ClusterRoleBindings().Get(ctx, "default-"+account, metav1.GetOptions{})
		if err != nil || crb.RoleRef.Name != "harvesterhci.io:csi-driver" || len(crb.Subjects) != 1 || crb.Subjects[0].Namespace != "default" {
			t.Errorf("ClusterRoleBinding default-%s: %+v %v", account, crb, err)
		}
		user := "system:serviceaccount:default:" + account
		for _, a := range []struct {
			verb, group, resource, ns string
			want                      bool
		}{
			{"create", "loadbalancer.harvesterhci.io", "loadbalancers", "default", true},
			{"delete", "loadbalancer.harvesterhci.io", "loadbalancers", "default", true},
			{"list", "kubevirt.io", "virtualmachineinstances", "default", true},
			{"create", "", "persistentvolumeclaims", "default", true},
			{"update", "subresources.kubevirt.io", "virtualmachines/addvolume", "default", true},
			{"patch", "kubevirt.io", "virtualmachines", "default", true},
			{"list", "storage.k8s.io", "storageclasses", "", true},
			{"get", "", "secrets", "kube-system", false},
			{"get", "", "secrets", "default", false},
			{"list", "kubevirt.io", "virtualmachines", "kube-system", false},
			{"create", "loadbalancer.harvesterhci.io", "loadbalancers", "kube-system", false},
			{"create", "", "persistentvolumeclaims", "kube-system", false},
		} {
			review, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: a.verb, Group: a.group, Resource: a.resource, Namespace: a.ns},
			}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if review.Status.Allowed != a.want {
				t.Errorf("%s may %s %s.%s in %q: %v, want %v", account, a.verb, a.resource, a.group, a.ns, review.Status.Allowed, a.want)
			}
		}
	})

	cloudConfig := stateOf(t, info).Cluster.CloudConfig
	t.Run("every node has the cloud config and an external cloud provider", func(t *testing.T) {
		cfg, err := clientcmd.Load(cloudConfig)
		if err != nil {
			t.Fatalf("the cloud config in the state: %v", err)
		}
		kctx := cfg.Contexts[cfg.CurrentContext]
		if kctx == nil || kctx.Namespace != "default" || cfg.Clusters[kctx.Cluster].Server != sim.Server || cfg.AuthInfos[kctx.AuthInfo].Token == "" {
			t.Errorf("the cloud config: context %+v", kctx)
		}
		for _, vm := range []string{name + "-cp-1", name + "-w-1"} {
			out, err := sim.Exec(ctx, "default/"+vm, "cat", "/etc/kubernetes/cloud-config")
			// RKE's file deployer ends the file with a newline.
			if err != nil || strings.TrimSpace(string(out)) != strings.TrimSpace(string(cloudConfig)) {
				// Lengths only: the file holds the account's token.
				t.Errorf("%s: /etc/kubernetes/cloud-config (%d bytes) is not the cloud provider's kubeconfig (%d bytes): %v", vm, len(out), len(cloudConfig), err)
			}
			args, err := sim.Exec(ctx, "default/"+vm, "docker", "inspect", "--format", "{{json .Args}}", "kubelet")
			if err != nil || !strings.Contains(string(args), "--cloud-provider=external") || !strings.Contains(string(args), "--cloud-config=/etc/kubernetes/cloud-config") {
				t.Errorf("%s: kubelet runs with %s (%v)", vm, args, err)
			}
		}
	})

	t.Run("the cloud provider's and CSI driver's objects are in the cluster", func(t *testing.T) {
		cs := guestAdmin(t, info)
		for what, get := range map[string]func() error{
			"Deployment harvester-cloud-provider": func() error {
				d, err := cs.AppsV1().Deployments("kube-system").Get(ctx, "harvester-cloud-provider", metav1.GetOptions{})
				if err == nil && !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--cluster-name="+name) {
					err = fmt.Errorf("args %v", d.Spec.Template.Spec.Containers[0].Args)
				}
				return err
			},
			"DaemonSet kube-vip": func() error {
				_, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "kube-vip", metav1.GetOptions{})
				return err
			},
			"DaemonSet harvester-csi-driver": func() error {
				_, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "harvester-csi-driver", metav1.GetOptions{})
				return err
			},
			"Deployment harvester-csi-driver-controllers": func() error {
				_, err := cs.AppsV1().Deployments("kube-system").Get(ctx, "harvester-csi-driver-controllers", metav1.GetOptions{})
				return err
			},
			"CSIDriver driver.harvesterhci.io": func() error {
				_, err := cs.StorageV1().CSIDrivers().Get(ctx, "driver.harvesterhci.io", metav1.GetOptions{})
				return err
			},
			"default StorageClass harvester": func() error {
				sc, err := cs.StorageV1().StorageClasses().Get(ctx, "harvester", metav1.GetOptions{})
				if err == nil && sc.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" {
					err = fmt.Errorf("not the default class: %v", sc.Annotations)
				}
				return err
			},
		} {
			if err := get(); err != nil {
				t.Errorf("%s: %v", what, err)
			}
		}
	})

	// What the guest's cloud provider and CSI driver would have made on Harvester, as they label and
	// name it, and a volume of another cluster whose prefix starts the same.
	dyn, err := dynamic.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	lb := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "loadbalancer.harvesterhci.io/v1beta1", "kind": "LoadBalancer",
		"metadata": map[string]interface{}{"name": name + "-default-web-1a2b3c4d", "namespace": "default",
			"labels": map[string]interface{}{"cloudprovider.harvesterhci.io/cluster": name,
				"cloudprovider.harvesterhci.io/serviceNamespace": "default", "cloudprovider.harvesterhci.io/serviceName": "web"}},
		"spec": map[string]interface{}{"workloadType": "cluster", "ipam": "pool",
			"listeners": []interface{}{map[string]interface{}{"name": "http", "port": int64(80), "protocol": "TCP", "backendPort": int64(30080)}}},
	}}
	if _, err := dyn.Resource(gvr.LoadBalancers).Namespace("default").Create(ctx, lb, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
		t.Fatal(err)
	}
	volume := name + "-pv-" + uuid(t)
	other := name + "-pv-pv-" + uuid(t) // a cluster whose prefix is k-cloud-pv
	for _, pvc := range []string{volume, other} {
		if _, err := admin.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: pvc},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	removeCluster(t, sim, p, info, name)
	if _, err := dyn.Resource(gvr.LoadBalancers).Namespace("default").Get(ctx, lb.GetName(), metav1.GetOptions{}); err == nil {
		t.Error("the guest's load balancer is left")
	}
	waitFor(t, time.Minute, "the guest's volume to go", func() bool {
		_, err := admin.CoreV1().PersistentVolumeClaims("default").Get(ctx, volume, metav1.GetOptions{})
		return err != nil
	})
	if _, err := admin.CoreV1().PersistentVolumeClaims("default").Get(ctx, other, metav1.GetOptions{}); err != nil {
		t.Errorf("another cluster's volume went too: %v", err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Get(ctx, "default-"+account, metav1.GetOptions{}); err == nil {
		waitFor(t, time.Minute, "the cloud provider's ClusterRoleBinding to go", func() bool {
			_, err := admin.RbacV1().ClusterRoleBindings().Get(ctx, "default-"+account, metav1.GetOptions{})
			return err != nil
		})
	}
}

// guestAdmin is a client of the built cluster with RKE's admin credentials.
func guestAdmin(t *testing.T, info *types.ClusterInfo) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(stateOf(t, info).Cluster.RKE.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func uuid(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
