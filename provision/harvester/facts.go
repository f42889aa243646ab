package harvester

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Annotations on a VM with what the driver learned about its node (see Facts).
const (
	annotationHostKey = "harvesterrke.io/host-key"
	annotationPhase   = "harvesterrke.io/phase"
	annotationRoles   = "harvesterrke.io/roles"
)

// RecordFacts keeps facts on the VM they were learned on. The VM's uid is a precondition: facts
// of a VM deleted in between are never written onto its successor of the same name. Empty fields
// are left as they are.
func (c *Client) RecordFacts(ctx context.Context, namespace string, vm VM, f Facts) error {
	if vm.UID == "" {
		// A merge patch with an empty uid is no precondition at all.
		return fmt.Errorf("record facts on vm %s/%s: its uid is not known", namespace, vm.Name)
	}
	annotations := map[string]string{}
	if f.HostKey != "" {
		annotations[annotationHostKey] = f.HostKey
	}
	if f.Phase != "" {
		annotations[annotationPhase] = f.Phase
	}
	if len(f.Roles) > 0 {
		annotations[annotationRoles] = strings.Join(f.Roles, ",")
	}
	if len(annotations) == 0 {
		return nil
	}
	patch, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
		"uid":         vm.UID,
		"annotations": annotations,
	}})
	if err != nil {
		return err
	}
	_, err = c.Dynamic.Resource(gvrVM).Namespace(namespace).Patch(ctx, vm.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("record facts on vm %s/%s: %w", namespace, vm.Name, err)
	}
	return nil
}
