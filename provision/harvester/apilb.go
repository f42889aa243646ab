package harvester

import (
	"context"
	"fmt"
	"time"

	"github.com/rancher/rke/log"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/internal/kwatch"
)

// APIPort is the port of Kubernetes' API on the control-plane nodes and on their load balancer.
const APIPort = 6443

// APILoadBalancerName is the name of the load balancer in front of a cluster's control planes.
func APILoadBalancerName(prefix string) string { return prefix + "-api" }

// apiLoadBalancer is the Harvester LoadBalancer (loadbalancer.harvesterhci.io/v1beta1) giving a
// cluster's API one address: its VM backends are the cluster's control-plane VMIs.
func apiLoadBalancer(namespace, prefix string, owner Owner, ipPool string) *unstructured.Unstructured {
	ipam := "dhcp"
	spec := map[string]interface{}{
		"description":  "Kubernetes API of cluster " + owner.Name,
		"workloadType": "vm",
		"listeners": []interface{}{map[string]interface{}{
			"name": "api", "port": int64(APIPort), "protocol": "TCP", "backendPort": int64(APIPort)}},
		"backendServerSelector": map[string]interface{}{
			LabelClusterID:    []interface{}{owner.ID},
			LabelControlPlane: []interface{}{"true"},
		},
		// A control plane that stops answering leaves the rotation within seconds.
		"healthCheck": map[string]interface{}{"port": int64(APIPort), "successThreshold": int64(1),
			"failureThreshold": int64(2), "periodSeconds": int64(2), "timeoutSeconds": int64(2)},
	}
	if ipPool != "" {
		ipam = "pool"
		spec["ipPool"] = ipPool
	}
	spec["ipam"] = ipam
	labels := map[string]interface{}{}
	for k, v := range owner.labels() {
		labels[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "loadbalancer.harvesterhci.io/v1beta1", "kind": "LoadBalancer",
		"metadata": map[string]interface{}{"name": APILoadBalancerName(prefix), "namespace": namespace, "labels": labels},
		"spec":     spec,
	}}
}

// EnsureAPILoadBalancer finds or creates the load balancer in front of the cluster's control planes
// and waits, at most timeout, until Harvester gives it an address, which it returns. ipPool names
// the IPPool the address comes from; empty means DHCP.
func (c *Client) EnsureAPILoadBalancer(ctx context.Context, namespace, prefix string, owner Owner, ipPool string, timeout time.Duration) (string, error) {
	if err := owner.check(); err != nil {
		return "", fmt.Errorf("API load balancer: %w", err)
	}
	name := APILoadBalancerName(prefix)
	lbs := c.Dynamic.Resource(gvrLoadBalancer).Namespace(namespace)
	want := apiLoadBalancer(namespace, prefix, owner, ipPool)
	have, err := lbs.Create(ctx, want, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	if apierrors.IsAlreadyExists(err) {
		if have, err = lbs.Get(ctx, name, metav1.GetOptions{}); err == nil && !owner.owns(have.GetLabels()) {
			return "", fmt.Errorf("%w: choose another vm-name-prefix", owner.notOwned("load balancer "+namespace+"/"+name, have.GetLabels()))
		}
	} else if err == nil {
		log.Infof(ctx, "[harvester] created load balancer %s/%s for the cluster's API", namespace, name)
	}
	if err != nil {
		return "", fmt.Errorf("API load balancer %s/%s: %w", namespace, name, err)
	}
	if addr := lbAddress(have); addr != "" {
		return addr, nil
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lw := kwatch.ListWatch(waitCtx, "", fields.OneTermEqualSelector("metadata.name", name).String(),
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return lbs.List(ctx, o) }, lbs.Watch)
	var addr, why string
	_, err = watchtools.UntilWithSync(waitCtx, lw, &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok || u.GetName() != name {
			return false, nil
		}
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("load balancer %s/%s was deleted", namespace, name)
		}
		addr, why = lbAddress(u), lbNotReady(u)
		return addr != "", nil
	})
	if err != nil {
		if why != "" {
			return "", fmt.Errorf("API load balancer %s/%s has no address after %s (%s): %w", namespace, name, timeout, why, err)
		}
		return "", fmt.Errorf("API load balancer %s/%s has no address after %s: %w", namespace, name, timeout, err)
	}
	log.Infof(ctx, "[harvester] the cluster's API address is %s (load balancer %s/%s)", addr, namespace, name)
	return addr, nil
}

// lbAddress is the address Harvester gave a load balancer (status.address; a pool's allocation,
// status.allocatedAddress.ip, is known as early); empty until there is one.
func lbAddress(u *unstructured.Unstructured) string {
	if addr, _, _ := unstructured.NestedString(u.Object, "status", "address"); addr != "" && addr != "0.0.0.0" {
		return addr
	}
	if ip, _, _ := unstructured.NestedString(u.Object, "status", "allocatedAddress", "ip"); ip != "" && ip != "0.0.0.0" {
		return ip
	}
	return ""
}

// lbNotReady is the message of a load balancer's Ready condition when it is not true.
func lbNotReady(u *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]interface{})
		if m["type"] == "Ready" && m["status"] != "True" {
			msg, _ := m["message"].(string)
			return msg
		}
	}
	return ""
}
