package savedstate

import corev1 "k8s.io/api/core/v1"

// Version 2, the format this driver writes. Every field is named here and nowhere else: renaming
// a working type's field cannot change it. Byte slices are base64 in JSON; quantities are their
// canonical strings; durations are whole seconds.

const currentVersion = 2

type v2State struct {
	Version int       `json:"version"`
	Spec    v2Spec    `json:"spec"`
	Cluster v2Cluster `json:"cluster"`
}

type v2Spec struct {
	Name     string        `json:"name"`
	Access   v2Credentials `json:"access"`
	Template v2Template    `json:"template"`
	Pools    []v2Pool      `json:"pools"`
	SSH      v2SSH         `json:"ssh"`
	Docker   v2Docker      `json:"docker"`
	Registry *v2Registry   `json:"registry,omitempty"`
	// NoImagePrepull is the pre-pull turned off: a state written before the pre-pull existed
	// decodes with it on, as the option's default is.
	NoImagePrepull bool            `json:"noImagePrepull,omitempty"`
	Kubernetes     v2Kubernetes    `json:"kubernetes"`
	CloudProvider  v2CloudProvider `json:"cloudProvider"`
	APIEndpoint    v2APIEndpoint   `json:"apiEndpoint,omitempty"`
	Timeouts       v2Timeouts      `json:"timeouts"`
}

type v2APIEndpoint struct {
	Mode    string `json:"mode,omitempty"` // "", "load-balancer" or "external"
	Address string `json:"address,omitempty"`
	IPPool  string `json:"ipPool,omitempty"`
}

type v2CloudProvider struct {
	Enabled bool   `json:"enabled"`
	APIURL  string `json:"apiURL,omitempty"`
	// Images are the images replacing the pinned charts', by component name (as in the option).
	Images map[string]string `json:"images,omitempty"`
}

type v2Credentials struct {
	Kubeconfig []byte `json:"kubeconfig,omitempty"`
	Server     string `json:"server,omitempty"`
	Token      string `json:"token,omitempty"`
	CAData     []byte `json:"caData,omitempty"`
	CertData   []byte `json:"certData,omitempty"`
	KeyData    []byte `json:"keyData,omitempty"`
	Insecure   bool   `json:"insecure,omitempty"`
}

type v2ObjectRef struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

type v2Template struct {
	Namespace      string            `json:"namespace"`
	Image          v2ObjectRef       `json:"image"`
	Network        v2ObjectRef       `json:"network,omitempty"`
	CPUs           int               `json:"cpus"`
	Memory         string            `json:"memory"`
	ReservedMemory string            `json:"reservedMemory,omitempty"`
	DiskSize       string            `json:"diskSize"`
	DiskBus        string            `json:"diskBus"`
	NamePrefix     string            `json:"namePrefix"`
	Description    string            `json:"description,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	UserData       string            `json:"userData,omitempty"`
	KeyPair        string            `json:"keyPair,omitempty"`

	NICs            []v2NIC         `json:"nics,omitempty"`
	Disks           []v2Disk        `json:"disks,omitempty"`
	StaticAddresses []v2AddressPool `json:"staticAddresses,omitempty"`
	NetworkData     string          `json:"networkData,omitempty"`
	AddressNetwork  string          `json:"addressNetwork,omitempty"`
	Hardware        *v2Hardware     `json:"hardware,omitempty"`
	Placement       *v2Placement    `json:"placement,omitempty"`
}

type v2NIC struct {
	Network *v2ObjectRef `json:"network,omitempty"` // nil: the pod network
	Model   string       `json:"model"`
	MAC     string       `json:"mac,omitempty"`
	Pools   []string     `json:"pools,omitempty"`
}

type v2Disk struct {
	Size         string       `json:"size"`
	Image        *v2ObjectRef `json:"image,omitempty"` // nil: an empty disk
	StorageClass string       `json:"storageClass,omitempty"`
	Bus          string       `json:"bus"`
	BootOrder    uint         `json:"bootOrder,omitempty"`
	Pools        []string     `json:"pools,omitempty"`
}

// v2AddressPool holds addresses as their text.
type v2AddressPool struct {
	Start   string   `json:"start"`
	End     string   `json:"end"`
	Prefix  int      `json:"prefix"`
	Gateway string   `json:"gateway,omitempty"`
	DNS     []string `json:"dns,omitempty"`
	Network string   `json:"network,omitempty"`
	Pools   []string `json:"pools,omitempty"`
}

type v2Hardware struct {
	CPUModel              string `json:"cpuModel,omitempty"`
	DedicatedCPU          bool   `json:"dedicatedCPU,omitempty"`
	IsolateEmulatorThread bool   `json:"isolateEmulatorThread,omitempty"`
	EFI                   bool   `json:"efi,omitempty"`
	SecureBoot            bool   `json:"secureBoot,omitempty"`
	TPM                   bool   `json:"tpm,omitempty"`
}

// v2Placement keeps the user's affinity in Kubernetes' own JSON form.
type v2Placement struct {
	Affinity         *corev1.Affinity `json:"affinity,omitempty"`
	HardAntiAffinity bool             `json:"hardAntiAffinity,omitempty"`
}

type v2Pool struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Roles []string `json:"roles"`
}

type v2SSH struct {
	User            string `json:"user"`
	PrivateKey      []byte `json:"privateKey,omitempty"`
	TrustOnFirstUse bool   `json:"trustOnFirstUse,omitempty"`
}

type v2Docker struct {
	InstallMethod      string            `json:"installMethod"`
	InstallURL         string            `json:"installURL,omitempty"`
	RegistryMirrors    []string          `json:"registryMirrors,omitempty"`
	InsecureRegistries []string          `json:"insecureRegistries,omitempty"`
	StorageDriver      string            `json:"storageDriver,omitempty"`
	Labels             []string          `json:"labels,omitempty"`
	Options            map[string]string `json:"options,omitempty"`
}

// v2Registry is the private registry; the password is kept as the Harvester token is, since every
// RKE run (an upgrade, a new node) pulls with it.
type v2Registry struct {
	URL      string `json:"url"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	CACert   []byte `json:"caCert,omitempty"`
}

type v2Kubernetes struct {
	Version            string `json:"version,omitempty"`
	NetworkPlugin      string `json:"networkPlugin"`
	ClusterCIDR        string `json:"clusterCIDR"`
	ServiceCIDR        string `json:"serviceCIDR"`
	ClusterDomain      string `json:"clusterDomain"`
	IngressProvider    string `json:"ingressProvider"`
	DNSProvider        string `json:"dnsProvider"`
	MonitoringProvider string `json:"monitoringProvider"`
	// IgnoreDockerVersion is RKE's ignore_docker_version; the Docker bootstrap follows it too.
	IgnoreDockerVersion bool `json:"ignoreDockerVersion,omitempty"`
}

type v2Timeouts struct {
	VMReadySeconds  int64 `json:"vmReadySeconds"`
	SSHReadySeconds int64 `json:"sshReadySeconds"`
}

type v2Cluster struct {
	ID          string        `json:"id,omitempty"`
	ClientKey   []byte        `json:"clientKey,omitempty"`
	HostKeySeed []byte        `json:"hostKeySeed,omitempty"`
	Identity    v2Credentials `json:"identity,omitempty"`
	Nodes       []v2Node      `json:"nodes,omitempty"`
	CloudConfig []byte        `json:"cloudConfig,omitempty"`
	APIAddress  string        `json:"apiAddress,omitempty"`
	RKE         v2RKE         `json:"rke,omitempty"`
}

type v2Node struct {
	Name    string `json:"name"`
	Pool    string `json:"pool"`
	UID     string `json:"uid,omitempty"`
	Address string `json:"address,omitempty"`
	HostKey string `json:"hostKey,omitempty"`
	Phase   string `json:"phase,omitempty"`
}

type v2RKE struct {
	State      []byte `json:"state,omitempty"`
	Kubeconfig []byte `json:"kubeconfig,omitempty"`
}
