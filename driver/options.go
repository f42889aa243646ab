package driver

import (
	"strconv"
	"strings"

	"github.com/rancher/kontainer-engine/types"
)

// Option keys. Rancher sends them back in lowerCamelCase as well; see optionReader.
const (
	optName        = "name"
	optDisplayName = "display-name"

	optKubeconfig    = "kubeconfig-content"
	optAPIURL        = "api-url"
	optToken         = "token"
	optCAData        = "certificate-authority-data"
	optCertData      = "client-certificate-data"
	optKeyData       = "client-key-data"
	optInsecureTLS   = "insecure-skip-tls-verify"
	optFingerprint   = "credential-fingerprint"
	optNamespace     = "vm-namespace"
	optImage         = "image"
	optCPUs          = "cpus"
	optMemory        = "memory"
	optReservedMem   = "reserved-memory"
	optDiskSize      = "disk-size"
	optDiskBus       = "disk-bus"
	optNetwork       = "network"
	optSSHUser       = "ssh-user"
	optKeyPair       = "keypair"
	optSSHKey        = "ssh-private-key"
	optTOFU          = "ssh-trust-host-key-on-first-use"
	optUserData      = "user-data"
	optPrefix        = "vm-name-prefix"
	optDescription   = "description"
	optVMLabels      = "vm-labels"
	optEtcdCount     = "etcd-count"
	optCPCount       = "control-plane-count"
	optWorkerCount   = "worker-count"
	optNodePools     = "node-pools"
	optDockerMethod  = "docker-install-method"
	optDockerURL     = "docker-install-url"
	optDockerURLHTTP = "docker-install-url-allow-http"
	optDockerVersion = "docker-version"
	optMirrors       = "registry-mirrors"
	optInsecureRegs  = "insecure-registries"
	optRegistryURL   = "private-registry-url"
	optRegistryUser  = "private-registry-username"
	optRegistryPass  = "private-registry-password"
	optRegistryCA    = "private-registry-ca-cert"
	optStorageDriver = "engine-storage-driver"
	optEngineLabels  = "engine-labels"
	optEngineOptions = "engine-options"
	optIgnoreDocker  = "ignore-docker-version"
	optPrepull       = "prepull-images"
	optK8sVersion    = "kubernetes-version"
	optNetPlugin     = "network-plugin"
	optClusterCIDR   = "cluster-cidr"
	optServiceCIDR   = "service-cidr"
	optClusterDomain = "cluster-domain"
	optIngress       = "ingress-provider"
	optDNS           = "dns-provider"
	optMonitoring    = "monitoring-provider"
	optCloudProvider = "harvester-cloud-provider"
	optCloudAPIURL   = "harvester-cloud-provider-api-url"
	optAddonImages   = "harvester-addon-images"
	optAPIAddress    = "control-plane-address"
	optAPIIPPool     = "control-plane-ip-pool"
	optVMTimeout     = "vm-ready-timeout"
	optSSHTimeout    = "ssh-ready-timeout"
)

// Defaults, named so the schema, the parser and the docs agree.
const (
	defaultNamespace     = "default"
	defaultCPUs          = 2
	defaultMemory        = "4Gi"
	defaultDiskSize      = "40Gi"
	defaultDiskBus       = "virtio"
	defaultSSHUser       = "ubuntu"
	defaultPoolCount     = 1
	defaultDockerMethod  = "script"
	defaultDockerVersion = "28.1"
	defaultNetPlugin     = "canal"
	defaultClusterCIDR   = "10.42.0.0/16"
	defaultServiceCIDR   = "10.43.0.0/16"
	defaultClusterDomain = "cluster.local"
	defaultIngress       = "nginx"
	defaultDNS           = "coredns"
	defaultMonitoring    = "metrics-server"
	defaultVMTimeout     = 600
	defaultSSHTimeout    = 300
)

// Option groups, in the order a user fills them in; the CLI and the UI group fields by them.
const (
	groupAccess     = "Harvester access"
	groupVM         = "Virtual machines"
	groupPools      = "Node pools"
	groupDocker     = "Docker"
	groupRegistry   = "Private registry"
	groupKubernetes = "Kubernetes"
	groupCloud      = "Harvester cloud provider"
	groupTimeouts   = "Timeouts"
)

// Option describes one driver option: it is the single source for Rancher's schema, the parser's
// defaults, the CLI's flags and the UI's parity test.
type Option struct {
	Name    string      `json:"name"`
	Type    string      `json:"type"` // a kontainer-engine flag type
	Usage   string      `json:"usage"`
	Default interface{} `json:"default"` // string, int64, bool or []string
	Secret  bool        `json:"secret,omitempty"`
	Group   string      `json:"group"`
	// Mutable options may change through Update; the others are fixed at creation.
	Mutable bool `json:"mutable,omitempty"`
}

// Options lists every create option in display order.
func Options() []Option {
	opts := optionTable()
	for i, o := range opts {
		if o.Default == nil && o.Type == types.StringType {
			opts[i].Default = ""
		}
	}
	return opts
}

func optionTable() []Option {
	return append([]Option{
		{Name: optKubeconfig, Type: types.StringType, Group: groupAccess, Secret: true, Mutable: true,
			Usage: "Kubeconfig of the Harvester cluster (plain YAML or base64). One of three ways to authenticate: this, api-url + token, or api-url + client certificate and key"},
		{Name: optAPIURL, Type: types.StringType, Group: groupAccess, Mutable: true,
			Usage: "URL of Harvester's Kubernetes API, e.g. https://harvester.example.com:6443 (used with token, or with client-certificate-data and client-key-data)"},
		{Name: optToken, Type: types.StringType, Group: groupAccess, Secret: true, Mutable: true,
			Usage: "Bearer token for api-url"},
		{Name: optCAData, Type: types.StringType, Group: groupAccess, Mutable: true,
			Usage: "CA certificate of api-url, base64-encoded PEM; empty uses the system's trusted CAs"},
		{Name: optCertData, Type: types.StringType, Group: groupAccess, Mutable: true,
			Usage: "Client certificate for api-url, base64-encoded PEM"},
		{Name: optKeyData, Type: types.StringType, Group: groupAccess, Secret: true, Mutable: true,
			Usage: "Client key for api-url, base64-encoded PEM"},
		{Name: optInsecureTLS, Type: types.BoolType, Group: groupAccess, Default: false, Mutable: true,
			Usage: "Do not verify the TLS certificate of Harvester's API (insecure; for test setups only)"},
		{Name: optFingerprint, Type: types.StringType, Group: groupAccess, Mutable: true,
			Usage: "Set by the cluster form, not by hand: a fingerprint of the secret options (16 hex digits of SHA-256) that changes with them, so Rancher passes a new credential on to the driver; checked against the secrets given with it"},

		{Name: optNamespace, Type: types.StringType, Group: groupVM, Default: defaultNamespace,
			Usage: "Harvester namespace for the VMs, their disks and cloud-init secrets"},
		{Name: optImage, Type: types.StringType, Group: groupVM,
			Usage: "Harvester VM image for the nodes, as <namespace>/<name> of a VirtualMachineImage (required; a bare name is looked up in vm-namespace)"},
		{Name: optCPUs, Type: types.IntType, Group: groupVM, Default: int64(defaultCPUs),
			Usage: "Virtual CPUs per node"},
		{Name: optMemory, Type: types.StringType, Group: groupVM, Default: defaultMemory,
			Usage: "Memory per node, as a Kubernetes quantity (e.g. 4Gi)"},
		{Name: optReservedMem, Type: types.StringType, Group: groupVM,
			Usage: "Memory reserved for the VM's own overhead, as a quantity (e.g. 256Mi); empty uses Harvester's default"},
		{Name: optDiskSize, Type: types.StringType, Group: groupVM, Default: defaultDiskSize,
			Usage: "Root disk size per node, as a quantity (e.g. 40Gi); not smaller than the image"},
		{Name: optDiskBus, Type: types.StringType, Group: groupVM, Default: defaultDiskBus,
			Usage: "Root disk bus: virtio, scsi or sata"},
		{Name: optNetwork, Type: types.StringType, Group: groupVM,
			Usage: "VM network as <namespace>/<name> of a NetworkAttachmentDefinition; empty uses the pod network (masquerade). For several NICs use networks"},
		{Name: optSSHUser, Type: types.StringType, Group: groupVM, Default: defaultSSHUser,
			Usage: "User the image's cloud-init creates and the driver logs in as (needs passwordless sudo)"},
		{Name: optKeyPair, Type: types.StringType, Group: groupVM,
			Usage: "Existing Harvester KeyPair (<namespace>/<name> or name) to authorise on the nodes as well; requires ssh-private-key"},
		{Name: optSSHKey, Type: types.StringType, Group: groupVM, Secret: true,
			Usage: "SSH private key (PEM or base64) to log in with; empty generates an ed25519 key pair for the cluster"},
		{Name: optTOFU, Type: types.BoolType, Group: groupVM, Default: false,
			Usage: "Accept and record each node's SSH host key on first connection; only for images whose cloud-init ignores the host keys the driver injects"},
		{Name: optUserData, Type: types.StringType, Group: groupVM,
			Usage: "Extra cloud-init user data (#cloud-config YAML, plain or base64) merged into what the driver generates"},
		{Name: optPrefix, Type: types.StringType, Group: groupVM,
			Usage: "Prefix of VM names (<prefix>-<pool>-<n>); empty uses the cluster name"},
		{Name: optDescription, Type: types.StringType, Group: groupVM,
			Usage: "Description shown on the VMs in Harvester"},
		{Name: optVMLabels, Type: types.StringSliceType, Group: groupVM, Default: []string{},
			Usage: "Extra labels for the VMs, as key=value"},
	}, append(vmOptionTable(), []Option{

		{Name: optEtcdCount, Type: types.IntType, Group: groupPools, Default: int64(defaultPoolCount), Mutable: true,
			Usage: "Number of etcd nodes (pool \"etcd\"); ignored when node-pools is set"},
		{Name: optCPCount, Type: types.IntType, Group: groupPools, Default: int64(defaultPoolCount), Mutable: true,
			Usage: "Number of control-plane nodes (pool \"control-plane\"); ignored when node-pools is set"},
		{Name: optWorkerCount, Type: types.IntType, Group: groupPools, Default: int64(defaultPoolCount), Mutable: true,
			Usage: "Number of worker nodes (pool \"worker\"); ignored when node-pools is set"},
		{Name: optNodePools, Type: types.StringSliceType, Group: groupPools, Default: []string{}, Mutable: true,
			Usage: "Node pools as name=count:roles with roles from etcd, controlplane, worker joined by '+' (e.g. master=3:etcd+controlplane, worker=2:worker); replaces the three counts"},

		{Name: optDockerMethod, Type: types.StringType, Group: groupDocker, Default: defaultDockerMethod,
			Usage: "How to install Docker where the image has none: script (docker-install-url), distro (the distribution's packages) or none"},
		{Name: optDockerURL, Type: types.StringType, Group: groupDocker,
			Usage: "Install script for the script method; empty uses https://releases.rancher.com/install-docker/<docker-version>.sh"},
		{Name: optDockerURLHTTP, Type: types.BoolType, Group: groupDocker, Default: false, Mutable: true,
			Usage: "Allow a plain http docker-install-url: the script runs as root on every node, so only for a mirror inside a trusted network"},
		{Name: optDockerVersion, Type: types.StringType, Group: groupDocker, Default: defaultDockerVersion,
			Usage: "Docker version (major.minor) the default install script installs"},
		{Name: optMirrors, Type: types.StringSliceType, Group: groupDocker, Default: []string{},
			Usage: "Registry mirrors for Docker (URLs)"},
		{Name: optInsecureRegs, Type: types.StringSliceType, Group: groupDocker, Default: []string{},
			Usage: "Registries Docker may reach without TLS verification (host[:port])"},
		{Name: optStorageDriver, Type: types.StringType, Group: groupDocker,
			Usage: "Docker storage driver; empty keeps Docker's choice"},
		{Name: optEngineLabels, Type: types.StringSliceType, Group: groupDocker, Default: []string{},
			Usage: "Docker engine labels, as key=value"},
		{Name: optEngineOptions, Type: types.StringSliceType, Group: groupDocker, Default: []string{},
			Usage: "Extra daemon.json settings, as key=value where value is JSON or a plain string (e.g. log-driver=journald)"},
		{Name: optIgnoreDocker, Type: types.BoolType, Group: groupDocker, Default: false, Mutable: true,
			Usage: "Accept Docker versions RKE does not support"},
		{Name: optPrepull, Type: types.BoolType, Group: groupDocker, Default: true, Mutable: true,
			Usage: "Pull the images RKE needs on each node as soon as its Docker is ready, while other nodes may still be booting; a failed pull names the image, the node and the registry's answer"},

		{Name: optRegistryURL, Type: types.StringType, Group: groupRegistry,
			Usage: "Private registry RKE pulls every system image from, as host[:port] without scheme or path (e.g. registry.example.com:5000); it must hold the images under their usual names (rancher/hyperkube:... as registry.example.com:5000/rancher/hyperkube:...). Empty uses the public registries"},
		{Name: optRegistryUser, Type: types.StringType, Group: groupRegistry,
			Usage: "User name for private-registry-url; with private-registry-password, or neither for anonymous pulls"},
		{Name: optRegistryPass, Type: types.StringType, Group: groupRegistry, Secret: true,
			Usage: "Password for private-registry-username; RKE keeps it in its cluster state and gives it to the kubelet"},
		{Name: optRegistryCA, Type: types.StringType, Group: groupRegistry,
			Usage: "CA certificate(s) of private-registry-url as PEM (plain or base64), when its certificate is not from a publicly trusted CA; Docker on every node trusts it for that registry"},

		{Name: optK8sVersion, Type: types.StringType, Group: groupKubernetes, Mutable: true,
			Usage: "Kubernetes version, one RKE v1.8 supports (e.g. v1.32.7-rancher1-1); empty uses RKE's default. Changing it upgrades the cluster"},
		{Name: optNetPlugin, Type: types.StringType, Group: groupKubernetes, Default: defaultNetPlugin,
			Usage: "Network plugin: canal, calico, flannel or none"},
		{Name: optClusterCIDR, Type: types.StringType, Group: groupKubernetes, Default: defaultClusterCIDR,
			Usage: "Pod network CIDR"},
		{Name: optServiceCIDR, Type: types.StringType, Group: groupKubernetes, Default: defaultServiceCIDR,
			Usage: "Service network CIDR; must not overlap cluster-cidr"},
		{Name: optClusterDomain, Type: types.StringType, Group: groupKubernetes, Default: defaultClusterDomain,
			Usage: "Cluster DNS domain"},
		{Name: optIngress, Type: types.StringType, Group: groupKubernetes, Default: defaultIngress, Mutable: true,
			Usage: "Ingress controller: nginx or none"},
		{Name: optDNS, Type: types.StringType, Group: groupKubernetes, Default: defaultDNS, Mutable: true,
			Usage: "Cluster DNS: coredns, kube-dns or none"},
		{Name: optMonitoring, Type: types.StringType, Group: groupKubernetes, Default: defaultMonitoring, Mutable: true,
			Usage: "Metrics provider: metrics-server or none"},

		{Name: optAPIAddress, Type: types.StringType, Group: groupKubernetes,
			Usage: "The one address of the cluster's API, for clusters with several control planes: empty uses the first control-plane node's; load-balancer makes a Harvester load balancer in front of the control planes; or the IP address or DNS name of a load balancer you run in front of their port 6443. It is in the API server's certificate and the kubeconfig Rancher gets"},
		{Name: optAPIIPPool, Type: types.StringType, Group: groupKubernetes,
			Usage: "Harvester IPPool the load balancer's address comes from, with control-plane-address load-balancer; empty uses DHCP on the VM network"},
		{Name: optCloudProvider, Type: types.BoolType, Group: groupCloud, Default: true, Mutable: true,
			Usage: "Deploy Harvester's cloud provider and CSI driver: LoadBalancer services backed by Harvester load balancers, persistent volumes (StorageClass harvester, the default) backed by Harvester volumes; Update can turn it on, not off"},
		{Name: optCloudAPIURL, Type: types.StringType, Group: groupCloud, Mutable: true,
			Usage: "Harvester's API as the cluster's nodes reach it, e.g. https://<Harvester VIP>:6443; empty uses the server of the Harvester access, or Harvester's VIP when that server is Rancher's proxy"},
		{Name: optAddonImages, Type: types.StringSliceType, Group: groupCloud, Default: []string{}, Mutable: true,
			Usage: "Images replacing those of the pinned charts, as component=image with components cloud-provider, kube-vip, csi-driver, csi-node-driver-registrar, csi-resizer, csi-provisioner, csi-attacher"},

		{Name: optVMTimeout, Type: types.IntType, Group: groupTimeouts, Default: int64(defaultVMTimeout), Mutable: true,
			Usage: "Seconds to wait for every VM to run and report an IPv4 address"},
		{Name: optSSHTimeout, Type: types.IntType, Group: groupTimeouts, Default: int64(defaultSSHTimeout), Mutable: true,
			Usage: "Seconds to wait for every node to accept SSH logins"},
	}...)...)
}

// flags turns options into kontainer-engine flags. Rancher reads Value, then Default; the
// kontainer-engine CLI reads Value only: both are set.
func flags(opts []Option) *types.DriverFlags {
	out := &types.DriverFlags{Options: make(map[string]*types.Flag, len(opts))}
	for _, o := range opts {
		f := &types.Flag{Type: o.Type, Usage: o.Usage, Password: o.Secret, Default: &types.Default{}}
		switch v := o.Default.(type) {
		case string:
			f.Value, f.Default.DefaultString = v, v
		case int64:
			f.Value, f.Default.DefaultInt = strconv.FormatInt(v, 10), v
		case bool:
			f.Value, f.Default.DefaultBool = strconv.FormatBool(v), v
		case []string:
			f.Value = strings.Join(v, ",")
			f.Default.DefaultStringSlice = &types.StringSlice{Value: v}
		}
		out.Options[o.Name] = f
	}
	return out
}

func mutableOptions() []Option {
	var out []Option
	for _, o := range Options() {
		if o.Mutable {
			out = append(out, o)
		}
	}
	return out
}

// camelCase turns an option key into the form Rancher sends back: disk-size -> diskSize.
func camelCase(key string) string {
	parts := strings.Split(key, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}
