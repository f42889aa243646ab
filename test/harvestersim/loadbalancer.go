package harvestersim

import (
	"context"
	"fmt"
	"net/netip"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/hosts"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/gvr"
)

// AddressRange is a range of IPv4 addresses, both ends included (Sim.IPPoolRange, Sim.DHCPRange).
type AddressRange = hosts.AddressRange

// CreateIPPool creates a Harvester IPPool (loadbalancer.harvesterhci.io/v1beta1) named name as an
// admin would, with one range of HostSubnet from first to last and the machine (.1) as its gateway;
// take them from IPPoolRange. A LoadBalancer with ipam pool and spec.ipPool naming it gets the first
// free address, served from the machine and reachable from the hosts.
func (s *Sim) CreateIPPool(ctx context.Context, name string, first, last netip.Addr) error {
	gateway := s.HostSubnet.Addr().Next()
	pool := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "loadbalancer.harvesterhci.io/v1beta1", "kind": "IPPool",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{"ranges": []any{map[string]any{
			"subnet": s.HostSubnet.String(), "rangeStart": first.String(), "rangeEnd": last.String(), "gateway": gateway.String(),
		}}},
	}}
	if _, err := s.dyn.Resource(gvr.IPPools).Create(ctx, pool, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
		return fmt.Errorf("create IPPool %s: %w", name, err)
	}
	return nil
}
