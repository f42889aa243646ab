package driver

import (
	"net/netip"
	"testing"

	"github.com/rancher/kontainer-engine/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

// Every spec ParseOptions accepts must be one the rest of the driver can build: the properties
// below are what the VM specs, the labels and RKE rely on without checking again.
func FuzzParseOptions(f *testing.F) {
	f.Add("c-abc12", "default/img", "4Gi", "40Gi", "virtio", "10.42.0.0/16", "a=1:etcd+controlplane+worker", int64(2), testKubeconfig)
	f.Add("", "", "", "", "", "", "", int64(0), "")
	f.Add("x", "ns/", "1e3", "-1", "sata", "::/0", "=:", int64(-1), "YWJj")
	f.Add("Upper", "a/b", "0.5Gi", "1e12", "scsi", "10.0.0.0/8", "w=300:worker", int64(256), testKubeconfig)
	f.Fuzz(func(t *testing.T, name, image, memory, disk, bus, cidr, pool string, cpus int64, kubeconfig string) {
		opts := &types.DriverOptions{
			StringOptions: map[string]string{"name": name, "image": image, "memory": memory, "disk-size": disk,
				"disk-bus": bus, "cluster-cidr": cidr, "kubeconfig-content": kubeconfig},
			IntOptions:         map[string]int64{"cpus": cpus},
			StringSliceOptions: map[string]*types.StringSlice{"node-pools": {Value: []string{pool}}},
		}
		spec, err := ParseOptions(opts)
		if err != nil {
			return
		}
		checkAcceptedSpec(t, spec)
	})
}

func checkAcceptedSpec(t *testing.T, spec provision.Spec) {
	t.Helper()
	tpl := spec.Template
	problems := map[string]bool{
		"name is empty":                         spec.Name == "",
		"cpus out of 1..256":                    tpl.CPUs < 1 || tpl.CPUs > 256,
		"memory below 512Mi":                    tpl.Memory.Value() < minMemory,
		"disk below 1Gi":                        tpl.DiskSize.Value() < minDiskSize,
		"disk bus unknown":                      tpl.DiskBus != "virtio" && tpl.DiskBus != "scsi" && tpl.DiskBus != "sata",
		"namespace is not a DNS label":          len(validation.IsDNS1123Label(tpl.Namespace)) > 0,
		"image namespace is not a DNS label":    len(validation.IsDNS1123Label(tpl.Image.Namespace)) > 0,
		"image name is not a DNS subdomain":     len(validation.IsDNS1123Subdomain(tpl.Image.Name)) > 0,
		"name prefix is not a DNS label":        len(validation.IsDNS1123Label(tpl.NamePrefix)) > 0,
		"no pools":                              len(spec.Pools) == 0,
		"timeouts not positive":                 spec.Timeouts.VMReady <= 0 || spec.Timeouts.SSHReady <= 0,
		"cluster CIDR is not a prefix":          !isPrefix(spec.Kubernetes.ClusterCIDR),
		"access has neither kubeconfig nor URL": len(spec.Access.Kubeconfig) == 0 && spec.Access.Server == "",
	}
	for _, p := range spec.Pools {
		vm := tpl.NamePrefix + "-" + p.Name + "-" + "1"
		problems["pool "+p.Name+": count below 1"] = p.Count < 1
		problems["pool "+p.Name+": no roles"] = len(p.Roles) == 0
		problems["pool "+p.Name+": VM name is not a DNS label"] = len(validation.IsDNS1123Label(vm)) > 0
	}
	for what, bad := range problems {
		if bad {
			t.Errorf("accepted a spec whose %s: %+v", what, spec)
		}
	}
}

func isPrefix(s string) bool {
	_, err := netip.ParsePrefix(s)
	return err == nil
}
