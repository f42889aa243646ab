package harvester

import (
	"errors"
	"fmt"
	"sort"
)

// PlanVMs compares the cluster's VMs (from List) with its pools. VMs being deleted hold their names but
// do not count; VMs of pools no longer wanted are surplus. Missing VMs get the lowest free indexes,
// and the lowest free static addresses of their pools; surplus ones are the highest.
func PlanVMs(cl Cluster, vms []VM) (Plan, error) {
	wanted := map[string]int{}
	for _, p := range cl.Pools {
		wanted[p.Name] = p.Count
	}
	taken := map[string]map[int]bool{}
	live := map[string][]VM{}
	var p Plan
	var problems []error
	for _, vm := range vms {
		if _, want := wanted[vm.Pool]; !want {
			if !vm.Terminating {
				p.Surplus = append(p.Surplus, vm)
			}
			continue
		}
		if vm.Index == 0 || vm.Name != VMName(cl.Template.NamePrefix, vm.Pool, vm.Index) {
			problems = append(problems, fmt.Errorf("vm %s of cluster %s is not named %s-%s-<n> (was vm-name-prefix changed?)",
				vm.Name, cl.Owner.Name, cl.Template.NamePrefix, vm.Pool))
			continue
		}
		if taken[vm.Pool] == nil {
			taken[vm.Pool] = map[int]bool{}
		}
		taken[vm.Pool][vm.Index] = true
		if !vm.Terminating {
			live[vm.Pool] = append(live[vm.Pool], vm)
		}
	}
	if len(problems) > 0 {
		return Plan{}, errors.Join(problems...)
	}
	for _, pool := range cl.Pools {
		nodes := live[pool.Name]
		sort.Slice(nodes, func(i, j int) bool { return nodes[i].Index < nodes[j].Index })
		if len(nodes) > pool.Count {
			p.Surplus = append(p.Surplus, nodes[pool.Count:]...)
			nodes = nodes[:pool.Count]
		}
		p.Keep = append(p.Keep, nodes...)
		for idx := 1; len(nodes)+countPool(p.Missing, pool.Name) < pool.Count; idx++ {
			if !taken[pool.Name][idx] {
				p.Missing = append(p.Missing, VM{Name: VMName(cl.Template.NamePrefix, pool.Name, idx), Pool: pool.Name, Index: idx})
			}
		}
	}
	if err := assignAddresses(cl, vms, p.Missing); err != nil {
		return Plan{}, err
	}
	sort.SliceStable(p.Surplus, func(i, j int) bool {
		if p.Surplus[i].Index != p.Surplus[j].Index {
			return p.Surplus[i].Index > p.Surplus[j].Index
		}
		return p.Surplus[i].Name < p.Surplus[j].Name
	})
	return p, nil
}

func countPool(vms []VM, pool string) int {
	n := 0
	for _, x := range vms {
		if x.Pool == pool {
			n++
		}
	}
	return n
}

// SortVMs orders VMs by the cluster's pool order, then index.
func SortVMs(cl Cluster, vms []VM) {
	order := map[string]int{}
	for i, p := range cl.Pools {
		order[p.Name] = i
	}
	sort.SliceStable(vms, func(i, j int) bool {
		if vms[i].Pool != vms[j].Pool {
			return order[vms[i].Pool] < order[vms[j].Pool]
		}
		return vms[i].Index < vms[j].Index
	})
}
