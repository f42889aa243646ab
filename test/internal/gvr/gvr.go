// Package gvr names the API resources that the Harvester stand-in serves and the tests look at
// (KubeVirt's, Harvester's, Multus' and the core ones reached through the dynamic client), so each
// is written once. Test support only, never linked into the driver.
package gvr

import "k8s.io/apimachinery/pkg/runtime/schema"

var (
	VirtualMachines              = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}
	VirtualMachineInstances      = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}
	VirtualMachineImages         = schema.GroupVersionResource{Group: "harvesterhci.io", Version: "v1beta1", Resource: "virtualmachineimages"}
	KeyPairs                     = schema.GroupVersionResource{Group: "harvesterhci.io", Version: "v1beta1", Resource: "keypairs"}
	NetworkAttachmentDefinitions = schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}
	CustomResourceDefinitions    = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

	LoadBalancers = schema.GroupVersionResource{Group: "loadbalancer.harvesterhci.io", Version: "v1beta1", Resource: "loadbalancers"}
	IPPools       = schema.GroupVersionResource{Group: "loadbalancer.harvesterhci.io", Version: "v1beta1", Resource: "ippools"}

	ServiceAccounts     = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	Roles               = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}
	RoleBindings        = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}
	ClusterRoles        = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
	ClusterRoleBindings = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}

	Secrets                = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	ConfigMaps             = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	PersistentVolumeClaims = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
)
