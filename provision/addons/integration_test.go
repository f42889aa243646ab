package addons_test

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/addons"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/testenv"
)

// TestCreateOnAPIServer creates every rendered object on a real kube-apiserver with strict field
// validation, so that a schema or validation error in the manifests (which RKE's addon job would
// only log as a warning) fails here. Then it replaces them with the render of other parameters, as
// kubectl apply does when a cluster's settings change: the parameters must only reach mutable fields.
func TestCreateOnAPIServer(t *testing.T) {
	testenv.SkipShort(t, "starts etcd, kube-apiserver and kube-controller-manager")
	sim := harvestersim.Start(t, harvestersim.Options{KubernetesOnly: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	client, err := dynamic.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	resourceOf := func(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
		gvk := obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return nil, err
		}
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			return client.Resource(mapping.Resource).Namespace(obj.GetNamespace()), nil
		}
		return client.Resource(mapping.Resource), nil
	}

	objects := func(p addons.Params) []*unstructured.Unstructured {
		var objs []*unstructured.Unstructured
		for _, doc := range splitDocuments(t, render(t, p)) {
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
				t.Fatal(err)
			}
			objs = append(objs, obj)
		}
		return objs
	}
	for _, obj := range objects(params) {
		r, err := resourceOf(obj)
		if err == nil {
			_, err = r.Create(ctx, obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
		}
		if err != nil {
			t.Errorf("create %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
	if t.Failed() {
		return
	}

	changed := addons.Params{ClusterName: "renamed", VolumeNamePrefix: "renamed", RegistryPrefix: "registry.example.com:5000",
		Images: addons.Images{CSIDriver: "example.com/harvester-csi-driver:dev"}}
	for _, obj := range objects(changed) {
		r, err := resourceOf(obj)
		if err != nil {
			t.Fatal(err)
		}
		current, err := r.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Errorf("get %s %s: %v", obj.GetKind(), obj.GetName(), err)
			continue
		}
		obj.SetResourceVersion(current.GetResourceVersion())
		if _, err := r.Update(ctx, obj, metav1.UpdateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
			t.Errorf("update %s %s with other parameters: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
}
