package savedstate

// Version 1, as drivers up to round 1 wrote it: the JSON encoding of the working types of that
// time, which carried no tags (hence the capitalised names) except in the node records. It is
// only read, and migrated to the current version.

type v1State struct {
	Version int       `json:"version"`
	Spec    v1Spec    `json:"spec"`
	Cluster v1Cluster `json:"cluster"`
}

type v1Spec struct {
	Name       string        `json:"Name"`
	Access     v1Credentials `json:"Access"`
	Template   v1Template    `json:"Template"`
	Pools      []v1Pool      `json:"Pools"`
	SSH        v1SSH         `json:"SSH"`
	Docker     v1Docker      `json:"Docker"`
	Kubernetes v1Kubernetes  `json:"Kubernetes"`
	Timeouts   v1Timeouts    `json:"Timeouts"`
}

type v1Credentials struct {
	Kubeconfig []byte `json:"Kubeconfig"`
	Server     string `json:"Server"`
	Token      string `json:"Token"`
	CAData     []byte `json:"CAData"`
	CertData   []byte `json:"CertData"`
	KeyData    []byte `json:"KeyData"`
	Insecure   bool   `json:"Insecure"`
}

type v1ObjectRef struct {
	Namespace string `json:"Namespace"`
	Name      string `json:"Name"`
}

type v1Template struct {
	Namespace      string            `json:"Namespace"`
	Image          v1ObjectRef       `json:"Image"`
	Network        v1ObjectRef       `json:"Network"`
	CPUs           int               `json:"CPUs"`
	Memory         string            `json:"Memory"` // Kubernetes quantities
	ReservedMemory string            `json:"ReservedMemory"`
	DiskSize       string            `json:"DiskSize"`
	DiskBus        string            `json:"DiskBus"`
	NamePrefix     string            `json:"NamePrefix"`
	Description    string            `json:"Description"`
	Labels         map[string]string `json:"Labels"`
	UserData       string            `json:"UserData"`
	KeyPair        string            `json:"KeyPair"`
}

type v1Pool struct {
	Name  string   `json:"Name"`
	Count int      `json:"Count"`
	Roles []string `json:"Roles"`
}

type v1SSH struct {
	User            string `json:"User"`
	PrivateKey      []byte `json:"PrivateKey"`
	TrustOnFirstUse bool   `json:"TrustOnFirstUse"`
}

type v1Docker struct {
	InstallMethod            string            `json:"InstallMethod"`
	InstallURL               string            `json:"InstallURL"`
	RegistryMirrors          []string          `json:"RegistryMirrors"`
	InsecureRegistries       []string          `json:"InsecureRegistries"`
	StorageDriver            string            `json:"StorageDriver"`
	Labels                   []string          `json:"Labels"`
	Options                  map[string]string `json:"Options"`
	IgnoreUnsupportedVersion bool              `json:"IgnoreUnsupportedVersion"`
}

type v1Kubernetes struct {
	KubernetesVersion   string `json:"KubernetesVersion"`
	NetworkPlugin       string `json:"NetworkPlugin"`
	ClusterCIDR         string `json:"ClusterCIDR"`
	ServiceCIDR         string `json:"ServiceCIDR"`
	ClusterDomain       string `json:"ClusterDomain"`
	IngressProvider     string `json:"IngressProvider"`
	DNSProvider         string `json:"DNSProvider"`
	MonitoringProvider  string `json:"MonitoringProvider"`
	IgnoreDockerVersion bool   `json:"IgnoreDockerVersion"`
}

// v1Timeouts are time.Duration values: nanoseconds.
type v1Timeouts struct {
	VMReady  int64 `json:"VMReady"`
	SSHReady int64 `json:"SSHReady"`
}

type v1Cluster struct {
	ClientKey   []byte   `json:"clientKey"`
	HostKeySeed []byte   `json:"hostKeySeed"`
	Nodes       []v1Node `json:"nodes"`
	RKE         v1RKE    `json:"rke"`
}

type v1Node struct {
	Name    string `json:"name"`
	Pool    string `json:"pool"`
	Address string `json:"address"`
	HostKey string `json:"hostKey"`
	Phase   string `json:"phase"`
}

type v1RKE struct {
	State      []byte `json:"State"`
	Kubeconfig []byte `json:"Kubeconfig"`
}
