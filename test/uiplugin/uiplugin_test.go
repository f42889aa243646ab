// Package uiplugin checks the UI extension's Helm chart against Rancher: the UIPlugin it renders is
// created on a real kube-apiserver that serves Rancher's UIPlugin CRD, with strict field validation,
// as the Helm install from Rancher's Extensions page would create it.
//
// The chart comes from `make dist-ui`; `make test-chart` builds it and runs this test with
// HARVESTERRKE_UI_CHART (the chart archive) and HARVESTERRKE_HELM (the helm binary) set.
package uiplugin

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// Where Rancher's Extensions page installs extension charts, with the chart's name as release name.
const namespace = "cattle-ui-plugin-system"

var (
	crdGVR       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	uipluginGVR  = schema.GroupVersionResource{Group: "catalog.cattle.io", Version: "v1", Resource: "uiplugins"}
	namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// render runs `helm template` on the chart as Rancher installs it and returns the one UIPlugin.
func render(t *testing.T) (*unstructured.Unstructured, string) {
	t.Helper()
	chart, helm := os.Getenv("HARVESTERRKE_UI_CHART"), os.Getenv("HARVESTERRKE_HELM")
	if chart == "" || helm == "" {
		t.Skip("HARVESTERRKE_UI_CHART and HARVESTERRKE_HELM are unset: `make test-chart` builds the chart and runs this test")
	}
	// The chart's name: <name>-<version>.tgz.
	base := strings.TrimSuffix(filepath.Base(chart), ".tgz")
	name := base[:strings.LastIndex(base, "-")]
	out, err := exec.Command(helm, "template", name, chart, "--namespace", namespace).CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	var plugins []*unstructured.Unstructured
	for _, doc := range bytes.Split(out, []byte("\n---")) {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
			t.Fatalf("helm template printed YAML that does not parse: %v\n%s", err, doc)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if obj.GetKind() != "UIPlugin" {
			t.Errorf("the chart renders a %s; an extension chart holds one UIPlugin only", obj.GetKind())
			continue
		}
		plugins = append(plugins, obj)
	}
	if len(plugins) != 1 {
		t.Fatalf("the chart renders %d UIPlugins, want 1:\n%s", len(plugins), out)
	}
	return plugins[0], name
}

func TestChartUIPluginOnRancherCRD(t *testing.T) {
	plugin, chartName := render(t)
	sim := harvestersim.Start(t, harvestersim.Options{KubernetesOnly: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := dynamic.NewForConfig(sim.Config)
	if err != nil {
		t.Fatal(err)
	}
	installCRD(ctx, t, client)
	ns := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]interface{}{"name": namespace}}}
	if _, err := client.Resource(namespaceGVR).Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	plugins := client.Resource(uipluginGVR).Namespace(namespace)
	strict := metav1.CreateOptions{FieldValidation: "Strict"}

	created, err := plugins.Create(ctx, plugin.DeepCopy(), strict)
	if err != nil {
		t.Fatalf("the API server refuses the chart's UIPlugin: %v", err)
	}
	spec, _, _ := unstructured.NestedStringMap(created.Object, "spec", "plugin", "metadata")
	for _, key := range []string{"catalog.cattle.io/rancher-version", "catalog.cattle.io/ui-extensions-version", "catalog.cattle.io/display-name"} {
		if spec[key] == "" {
			t.Errorf("spec.plugin.metadata has no %s; the Dashboard reads it before loading the extension", key)
		}
	}
	name, _, _ := unstructured.NestedString(created.Object, "spec", "plugin", "name")
	version, _, _ := unstructured.NestedString(created.Object, "spec", "plugin", "version")
	endpoint, _, _ := unstructured.NestedString(created.Object, "spec", "plugin", "endpoint")
	compressed, _, _ := unstructured.NestedString(created.Object, "spec", "plugin", "compressedEndpoint")
	if name != chartName || created.GetName() != chartName {
		t.Errorf("UIPlugin %s names plugin %q, want the chart's name %q (the bundle's global is <name>-<version>)", created.GetName(), name, chartName)
	}
	if !strings.HasSuffix(endpoint, "/"+version) || compressed != endpoint+".tgz" {
		t.Errorf("endpoint %q and compressedEndpoint %q do not lead to version %s", endpoint, compressed, version)
	}

	// The schema is really applied: what Rancher's API would refuse, this one refuses too.
	for what, mutate := range map[string]func(*unstructured.Unstructured){
		"an unknown field": func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "x", "spec", "plugin", "endpiont")
		},
		"a string for a boolean": func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "yes", "spec", "plugin", "noCache")
		},
		"no spec": func(u *unstructured.Unstructured) { delete(u.Object, "spec") },
	} {
		bad := plugin.DeepCopy()
		bad.SetName("bad")
		mutate(bad)
		if _, err := plugins.Create(ctx, bad, strict); err == nil {
			t.Errorf("the API server accepted a UIPlugin with %s: the CRD's schema is not applied", what)
		} else if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
			t.Errorf("a UIPlugin with %s: want a validation error, got %v", what, err)
		}
	}
}

// installCRD creates the UIPlugin CRD from testdata and waits until the API server serves it.
func installCRD(ctx context.Context, t *testing.T, client dynamic.Interface) {
	t.Helper()
	data, err := os.ReadFile("testdata/uiplugins.catalog.cattle.io.yaml")
	if err != nil {
		t.Fatal(err)
	}
	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &crd.Object); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
		t.Fatalf("create the UIPlugin CRD: %v", err)
	}
	for {
		got, err := client.Resource(crdGVR).Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conditions, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conditions {
			if m, ok := c.(map[string]interface{}); ok && m["type"] == "Established" && m["status"] == "True" {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the UIPlugin CRD was not established: %v", got.Object["status"])
		case <-time.After(200 * time.Millisecond):
		}
	}
}
