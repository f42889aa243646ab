package driver

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

// checkKubernetes adds the problems RKE finds in the Kubernetes options (its version list is
// loaded here, only for requests that carry Kubernetes options).
func checkKubernetes(r *optionReader, o rke.Options) {
	var ve *rke.ValidationError
	if err := rke.Validate(o); errors.As(err, &ve) {
		for _, p := range ve.Problems {
			r.problem(p.Option, "%s", p.Message)
		}
	} else if err != nil {
		r.problem(optK8sVersion, "%v", err)
	}
}

// validateKubernetes checks Kubernetes options on their own (SetVersion).
func validateKubernetes(o rke.Options) error {
	r := newOptionReader(nil)
	checkKubernetes(r, o)
	return r.err()
}

func validateSnapshotName(name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return &OptionsError{Problems: []Problem{{Option: "snapshot-name", Message: fmt.Sprintf(
			"must be lowercase letters, digits, '-' and '.', got %q", name)}}}
	}
	return nil
}

// fixedAfterCreate maps each option that cannot change after creation to the part of the spec it sets.
var fixedAfterCreate = []struct {
	option string
	get    func(provision.Spec) interface{}
}{
	{optNamespace, func(s provision.Spec) interface{} { return s.Template.Namespace }},
	{optImage, func(s provision.Spec) interface{} { return s.Template.Image }},
	{optNetwork, func(s provision.Spec) interface{} { return s.Template.Network }},
	{optCPUs, func(s provision.Spec) interface{} { return s.Template.CPUs }},
	{optMemory, func(s provision.Spec) interface{} { return s.Template.Memory.String() }},
	{optReservedMem, func(s provision.Spec) interface{} { return s.Template.ReservedMemory.String() }},
	{optDiskSize, func(s provision.Spec) interface{} { return s.Template.DiskSize.String() }},
	{optDiskBus, func(s provision.Spec) interface{} { return s.Template.DiskBus }},
	{optPrefix, func(s provision.Spec) interface{} { return s.Template.NamePrefix }},
	{optDescription, func(s provision.Spec) interface{} { return s.Template.Description }},
	{optVMLabels, func(s provision.Spec) interface{} { return s.Template.Labels }},
	{optUserData, func(s provision.Spec) interface{} { return s.Template.UserData }},
	{optKeyPair, func(s provision.Spec) interface{} { return s.Template.KeyPair }},
	{optSSHUser, func(s provision.Spec) interface{} { return s.SSH.User }},
	{optSSHKey, func(s provision.Spec) interface{} { return string(s.SSH.PrivateKey) }},
	{optTOFU, func(s provision.Spec) interface{} { return s.SSH.TrustOnFirstUse }},
	{optDockerMethod, func(s provision.Spec) interface{} { return s.Docker.InstallMethod }},
	{optDockerURL, func(s provision.Spec) interface{} { return s.Docker.InstallURL }},
	{optMirrors, func(s provision.Spec) interface{} { return s.Docker.RegistryMirrors }},
	{optInsecureRegs, func(s provision.Spec) interface{} { return s.Docker.InsecureRegistries }},
	{optStorageDriver, func(s provision.Spec) interface{} { return s.Docker.StorageDriver }},
	{optEngineLabels, func(s provision.Spec) interface{} { return s.Docker.Labels }},
	{optEngineOptions, func(s provision.Spec) interface{} { return s.Docker.Options }},
	{optRegistryURL, func(s provision.Spec) interface{} { return s.Registry.URL }},
	{optRegistryUser, func(s provision.Spec) interface{} { return s.Registry.Username }},
	{optRegistryPass, func(s provision.Spec) interface{} { return s.Registry.Password }},
	{optRegistryCA, func(s provision.Spec) interface{} { return certificatesDigest(s.Registry.CACert) }},
	{optNetPlugin, func(s provision.Spec) interface{} { return s.Kubernetes.NetworkPlugin }},
	{optClusterCIDR, func(s provision.Spec) interface{} { return s.Kubernetes.ClusterCIDR }},
	{optServiceCIDR, func(s provision.Spec) interface{} { return s.Kubernetes.ServiceCIDR }},
	{optClusterDomain, func(s provision.Spec) interface{} { return s.Kubernetes.ClusterDomain }},
	{optAPIAddress, func(s provision.Spec) interface{} { return s.APIEndpoint.Mode + s.APIEndpoint.Address }},
	{optAPIIPPool, func(s provision.Spec) interface{} { return s.APIEndpoint.IPPool }},
	{optNetworks, func(s provision.Spec) interface{} { return nicEntries(s.Template) }},
	{optAddressNetwork, func(s provision.Spec) interface{} { return s.Template.AddressNetwork }},
	{optNetworkData, func(s provision.Spec) interface{} { return s.Template.NetworkData }},
	{optExtraDisks, func(s provision.Spec) interface{} { return diskEntries(s.Template) }},
	{optCPUModel, func(s provision.Spec) interface{} { return s.Template.Hardware.CPUModel }},
	{optCPUPinning, func(s provision.Spec) interface{} { return s.Template.Hardware.DedicatedCPU }},
	{optIsolateEmu, func(s provision.Spec) interface{} { return s.Template.Hardware.IsolateEmulatorThread }},
	{optEFI, func(s provision.Spec) interface{} { return s.Template.Hardware.EFI }},
	{optSecureBoot, func(s provision.Spec) interface{} { return s.Template.Hardware.SecureBoot }},
	{optTPM, func(s provision.Spec) interface{} { return s.Template.Hardware.TPM }},
	{optVMAffinity, func(s provision.Spec) interface{} { return affinityText(s.Template) }},
	{optAntiAffinity, func(s provision.Spec) interface{} { return antiAffinityText(s.Template) }},
}

// immutableChanges reports every option that differs from what the cluster was created with and
// cannot change, instead of silently ignoring it.
func immutableChanges(old, spec provision.Spec) error {
	r := newOptionReader(nil)
	if old.Name != spec.Name {
		r.problem(optName, "cannot change after creation (was %q)", old.Name)
	}
	for _, f := range fixedAfterCreate {
		before, after := f.get(old), f.get(spec)
		if reflect.DeepEqual(before, after) || (isEmpty(before) && isEmpty(after)) {
			continue
		}
		if isSecret(f.option) {
			r.problem(f.option, "cannot change after creation")
		} else {
			r.problem(f.option, "cannot change after creation (was %v, now %v)", before, after)
		}
	}
	if old.CloudProvider.Enabled && !spec.CloudProvider.Enabled {
		r.problem(optCloudProvider, "cannot be turned off: the cluster's load balancers and volumes depend on it")
	}
	staticAddressChanges(r, old, spec)
	oldRoles := map[string][]string{}
	for _, p := range old.Pools {
		oldRoles[p.Name] = p.Roles
	}
	for _, p := range spec.Pools {
		if roles, ok := oldRoles[p.Name]; ok && !reflect.DeepEqual(roles, p.Roles) {
			r.problem(optNodePools, "roles of pool %q cannot change after creation (was %s)", p.Name, strings.Join(roles, "+"))
		}
	}
	return r.err()
}

func isEmpty(v interface{}) bool {
	rv := reflect.ValueOf(v)
	return !rv.IsValid() || rv.IsZero() || ((rv.Kind() == reflect.Slice || rv.Kind() == reflect.Map) && rv.Len() == 0)
}

func isSecret(name string) bool {
	for _, o := range Options() {
		if o.Name == name {
			return o.Secret
		}
	}
	return false
}

// resize returns the spec with its last worker pool scaled so the cluster has count nodes.
func resize(spec provision.Spec, count int) (provision.Spec, error) {
	out := spec
	out.Pools = append([]provision.Pool(nil), spec.Pools...)
	for i := len(out.Pools) - 1; i >= 0; i-- {
		p := out.Pools[i]
		if !hasRole(p, rke.RoleWorker) {
			continue
		}
		others := spec.NodeCount() - p.Count
		if count-others < 1 {
			return spec, &OptionsError{Problems: []Problem{{Option: "count", Message: fmt.Sprintf(
				"must be at least %d: the other pools have %d nodes and pool %q needs one", others+1, others, p.Name)}}}
		}
		out.Pools[i].Count = count - others
		return out, nil
	}
	return spec, fmt.Errorf("set cluster size: no pool has the worker role")
}

func hasRole(p provision.Pool, role string) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}
