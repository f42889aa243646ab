package harvester

import (
	"reflect"
	"testing"
)

func TestPlanVMs(t *testing.T) {
	vm := func(pool string, n int) VM {
		name := VMName("demo", pool, n)
		return VM{Name: name, Pool: pool, Index: n, UID: "uid-" + name}
	}
	terminating := func(v VM) VM { v.Terminating = true; return v }
	for _, tc := range []struct {
		name                   string
		pools                  []Pool
		vms                    []VM
		keep, missing, surplus []string
		err                    []string
	}{
		{name: "empty", pools: []Pool{{Name: "worker", Count: 2}},
			missing: []string{"demo-worker-1", "demo-worker-2"}},
		{name: "nothing to do", pools: []Pool{{Name: "cp", Count: 1}, {Name: "worker", Count: 2}}, vms: []VM{vm("cp", 1), vm("worker", 1), vm("worker", 2)},
			keep: []string{"demo-cp-1", "demo-worker-1", "demo-worker-2"}},
		{name: "fills the lowest free indexes", pools: []Pool{{Name: "worker", Count: 4}}, vms: []VM{vm("worker", 1), vm("worker", 3)},
			keep: []string{"demo-worker-1", "demo-worker-3"}, missing: []string{"demo-worker-2", "demo-worker-4"}},
		{name: "a terminating VM holds its name but does not count", pools: []Pool{{Name: "worker", Count: 2}}, vms: []VM{vm("worker", 1), terminating(vm("worker", 2))},
			keep: []string{"demo-worker-1"}, missing: []string{"demo-worker-3"}},
		{name: "terminating VMs are never surplus", pools: []Pool{{Name: "worker", Count: 1}}, vms: []VM{vm("worker", 1), terminating(vm("worker", 2)), terminating(vm("gone", 1))},
			keep: []string{"demo-worker-1"}},
		{name: "scale down removes the highest indexes first", pools: []Pool{{Name: "cp", Count: 1}, {Name: "worker", Count: 1}},
			vms:  []VM{vm("cp", 1), vm("worker", 1), vm("worker", 2), vm("worker", 3), vm("worker", 10)},
			keep: []string{"demo-cp-1", "demo-worker-1"}, surplus: []string{"demo-worker-10", "demo-worker-3", "demo-worker-2"}},
		{name: "a pool no longer wanted is surplus", pools: []Pool{{Name: "cp", Count: 1}},
			vms:  []VM{vm("cp", 1), vm("worker", 1), vm("worker", 2)},
			keep: []string{"demo-cp-1"}, surplus: []string{"demo-worker-2", "demo-worker-1"}},
		{name: "surplus of a dropped pool and of a smaller one, highest index first", pools: []Pool{{Name: "worker", Count: 1}},
			vms:  []VM{vm("worker", 1), vm("worker", 2), vm("old", 1), vm("old", 3)},
			keep: []string{"demo-worker-1"}, surplus: []string{"demo-old-3", "demo-worker-2", "demo-old-1"}},
		{name: "a VM of a dropped pool named otherwise is still surplus", pools: []Pool{{Name: "cp", Count: 1}},
			vms:  []VM{vm("cp", 1), {Name: "legacy-worker-1", Pool: "worker", Index: 1}},
			keep: []string{"demo-cp-1"}, surplus: []string{"legacy-worker-1"}},
		{name: "a VM named otherwise is an error, not surplus", pools: []Pool{{Name: "cp", Count: 1}},
			vms: []VM{{Name: "old-cp-1", Pool: "cp", Index: 1}},
			err: []string{"vm old-cp-1 of cluster c-abc12 is not named demo-cp-<n>", "vm-name-prefix"}},
		{name: "a VM without an index is an error", pools: []Pool{{Name: "cp", Count: 1}},
			vms: []VM{{Name: "demo-cp-x", Pool: "cp"}},
			err: []string{"vm demo-cp-x of cluster c-abc12 is not named demo-cp-<n>"}},
		{name: "a VM with index 0 is an error (names count from 1)", pools: []Pool{{Name: "cp", Count: 1}},
			vms: []VM{{Name: "demo-cp-0", Pool: "cp"}},
			err: []string{"vm demo-cp-0 of cluster c-abc12 is not named demo-cp-<n>"}},
		{name: "every misnamed VM is named", pools: []Pool{{Name: "cp", Count: 1}, {Name: "worker", Count: 1}},
			vms: []VM{{Name: "old-cp-1", Pool: "cp", Index: 1}, {Name: "old-worker-1", Pool: "worker", Index: 1}},
			err: []string{"vm old-cp-1 ", "vm old-worker-1 "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := testCluster()
			cl.Pools = tc.pools
			in := append([]VM{}, tc.vms...)
			p, err := PlanVMs(cl, tc.vms)
			if !reflect.DeepEqual(in, tc.vms) && tc.vms != nil {
				t.Errorf("PlanVMs changed its input: %+v", tc.vms)
			}
			if tc.err != nil {
				wantAll(t, err, tc.err...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range []struct {
				what      string
				got, want []string
			}{{"keep", vmNames(p.Keep), tc.keep}, {"missing", vmNames(p.Missing), tc.missing}, {"surplus", vmNames(p.Surplus), tc.surplus}} {
				if x.want == nil {
					x.want = []string{}
				}
				if !reflect.DeepEqual(x.got, x.want) {
					t.Errorf("%s = %v, want %v", x.what, x.got, x.want)
				}
			}
			// Kept and surplus VMs are the observed ones (uids included); missing ones are only named.
			for _, k := range append(append([]VM{}, p.Keep...), p.Surplus...) {
				if k.UID != "uid-"+k.Name && k.Name != "legacy-worker-1" {
					t.Errorf("%s lost its uid: %+v", k.Name, k)
				}
			}
			for _, m := range p.Missing {
				if want := (VM{Name: VMName("demo", m.Pool, m.Index), Pool: m.Pool, Index: m.Index}); !reflect.DeepEqual(m, want) {
					t.Errorf("missing %+v, want %+v", m, want)
				}
			}
		})
	}
}
