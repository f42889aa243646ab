package controlplane

import (
	"context"
	"embed"
	"fmt"
	"os"
	"path/filepath"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/kubewatch"
)

// handWrittenCRDs are Harvester's and Multus' small CRDs, written from their documented fields.
//
//go:embed crds/*.yaml
var handWrittenCRDs embed.FS

// kubevirtCRDExtras is what KubeVirt's operator adds to the schemas generated from the types: the
// VirtualMachine status subresource, short names and the printer columns kubectl shows in demos.
var kubevirtCRDExtras = map[string]struct {
	shortNames []any
	status     bool
	columns    []any
}{
	"virtualmachines.kubevirt.io": {
		shortNames: []any{"vm", "vms"},
		status:     true,
		columns: []any{
			column("Age", "date", ".metadata.creationTimestamp"),
			column("Status", "string", ".status.printableStatus"),
			column("Ready", "string", ".status.conditions[?(@.type=='Ready')].status"),
		},
	},
	"virtualmachineinstances.kubevirt.io": {
		shortNames: []any{"vmi", "vmis"},
		columns: []any{
			column("Age", "date", ".metadata.creationTimestamp"),
			column("Phase", "string", ".status.phase"),
			column("IP", "string", ".status.interfaces[0].ipAddress"),
			column("NodeName", "string", ".status.nodeName"),
			column("Ready", "string", ".status.conditions[?(@.type=='Ready')].status"),
		},
	},
}

func column(name, typ, path string) map[string]any {
	return map[string]any{"name": name, "type": typ, "jsonPath": path}
}

// loadCRDs reads the generated KubeVirt CRDs from kubevirtDir and the embedded hand-written ones.
func loadCRDs(kubevirtDir string) ([]*unstructured.Unstructured, error) {
	var docs [][]byte
	for _, f := range kubevirtCRDFiles {
		data, err := os.ReadFile(filepath.Join(kubevirtDir, f))
		if err != nil {
			return nil, fmt.Errorf("read KubeVirt CRD: %w", err)
		}
		docs = append(docs, data)
	}
	entries, err := handWrittenCRDs.ReadDir("crds")
	if err != nil {
		return nil, fmt.Errorf("read embedded CRDs: %w", err)
	}
	for _, e := range entries {
		data, err := handWrittenCRDs.ReadFile("crds/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read embedded CRD %s: %w", e.Name(), err)
		}
		docs = append(docs, data)
	}
	var crds []*unstructured.Unstructured
	for _, d := range docs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(d, &u.Object); err != nil {
			return nil, fmt.Errorf("parse CRD: %w", err)
		}
		if extra, ok := kubevirtCRDExtras[u.GetName()]; ok {
			if err := unstructured.SetNestedSlice(u.Object, extra.shortNames, "spec", "names", "shortNames"); err != nil {
				return nil, fmt.Errorf("extend CRD %s: %w", u.GetName(), err)
			}
			versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
			for _, v := range versions {
				vm := v.(map[string]any)
				vm["additionalPrinterColumns"] = extra.columns
				if extra.status {
					vm["subresources"] = map[string]any{"status": map[string]any{}}
				}
			}
			if err := unstructured.SetNestedSlice(u.Object, versions, "spec", "versions"); err != nil {
				return nil, fmt.Errorf("extend CRD %s: %w", u.GetName(), err)
			}
		}
		crds = append(crds, u)
	}
	return crds, nil
}

// installCRDs creates the CRDs and waits until the API server serves them.
func installCRDs(ctx context.Context, dyn dynamic.Interface, crds []*unstructured.Unstructured) error {
	for _, c := range crds {
		if _, err := dyn.Resource(gvr.CustomResourceDefinitions).Create(ctx, c, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create CRD %s: %w", c.GetName(), err)
		}
	}
	for _, c := range crds {
		err := kubewatch.Until(ctx, dyn.Resource(gvr.CustomResourceDefinitions), c.GetName(), func(u *unstructured.Unstructured) (bool, error) {
			if u == nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, cond := range conds {
				m, _ := cond.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
				if m["type"] == "NamesAccepted" && m["status"] == "False" {
					return false, fmt.Errorf("names not accepted: %v", m["message"])
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("wait for CRD %s: %w", c.GetName(), err)
		}
	}
	return nil
}
