package harvester

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The Harvester, KubeVirt and Multus resources the driver uses, through the dynamic client.
var (
	gvrVM      = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}
	gvrVMI     = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}
	gvrImage   = schema.GroupVersionResource{Group: "harvesterhci.io", Version: "v1beta1", Resource: "virtualmachineimages"}
	gvrKeyPair = schema.GroupVersionResource{Group: "harvesterhci.io", Version: "v1beta1", Resource: "keypairs"}
	gvrNetwork = schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}
)

// ListKinds maps the dynamic resources above to their list kinds, for dynamic/fake in tests.
var ListKinds = map[schema.GroupVersionResource]string{
	gvrVM:           "VirtualMachineList",
	gvrVMI:          "VirtualMachineInstanceList",
	gvrImage:        "VirtualMachineImageList",
	gvrKeyPair:      "KeyPairList",
	gvrNetwork:      "NetworkAttachmentDefinitionList",
	gvrLoadBalancer: "LoadBalancerList",
}

// Client reaches Harvester's Kubernetes API. Both clients are interfaces so tests can use the
// dynamic/fake and kubernetes/fake clientsets.
type Client struct {
	Dynamic dynamic.Interface
	Core    kubernetes.Interface
	// Concurrency bounds parallel create and delete calls; 0 means 10.
	Concurrency int
	// PreflightTimeout bounds each pre-flight request so an unreachable API fails fast; 0 means 15 s.
	PreflightTimeout time.Duration
	// DeleteTimeout bounds the wait for deleted objects to go (a VM stops within its grace period,
	// 120 s, then Harvester removes its volumes); 0 means 10 minutes.
	DeleteTimeout time.Duration
	// Server and AuthOption name the API and the credential option in error messages.
	Server     string
	AuthOption string
	// caData and insecure are how the client verifies Server, for credentials made for it.
	caData   []byte
	insecure bool
}

const (
	// Enough for 30 VMs created, healed and watched in parallel without client-side throttling.
	clientQPS   = 50
	clientBurst = 100

	defaultConcurrency      = 10
	defaultPreflightTimeout = 15 * time.Second
	defaultDeleteTimeout    = 10 * time.Minute
)

// RESTConfig builds the REST configuration for credentials. TLS is verified unless Insecure is set.
// Errors never quote the credentials.
func RESTConfig(c Credentials) (*rest.Config, error) {
	var cfg *rest.Config
	switch {
	case len(c.Kubeconfig) > 0:
		var err error
		cfg, err = clientcmd.RESTConfigFromKubeConfig(c.Kubeconfig)
		if err != nil {
			// The parser's message can quote the file, which holds credentials.
			return nil, errors.New("kubeconfig-content: not a usable kubeconfig")
		}
	case c.Server == "":
		return nil, errors.New("credentials: neither a kubeconfig nor an API URL given")
	case c.Token != "":
		cfg = &rest.Config{Host: c.Server, BearerToken: c.Token}
		cfg.TLSClientConfig.CAData = c.CAData
	case len(c.CertData) > 0 && len(c.KeyData) > 0:
		cfg = &rest.Config{Host: c.Server}
		cfg.TLSClientConfig = rest.TLSClientConfig{CAData: c.CAData, CertData: c.CertData, KeyData: c.KeyData}
	default:
		return nil, errors.New("credentials: an API URL needs a token or a client certificate and key")
	}
	if c.Insecure {
		// client-go refuses a CA together with Insecure; the user asked not to verify.
		cfg.TLSClientConfig.Insecure = true
		cfg.TLSClientConfig.CAData = nil
		cfg.TLSClientConfig.CAFile = ""
	}
	cfg.QPS = clientQPS
	cfg.Burst = clientBurst
	cfg.UserAgent = "kontainer-engine-driver-harvester"
	if err := trustRancherCAs(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// RancherCAFiles are where Rancher puts its own CA certificates in the driver jail (the private CA
// of an installation with its own certificates, and additional trusted CAs): a Harvester behind the
// same CA must be trusted without certificate-authority-data. Outside the jail they are absent.
var RancherCAFiles = []string{"/etc/ssl/cacerts.pem", "/etc/ssl/ca-additional.pem"}

// trustRancherCAs makes cfg verify the server with the system's CAs and Rancher's, where cfg names
// no CA of its own. client-go takes a CA only as the sole root, so this builds the transport
// itself, with the proxy settings client-go would use (HTTPS_PROXY, NO_PROXY).
func trustRancherCAs(cfg *rest.Config) error {
	tc := cfg.TLSClientConfig
	if tc.Insecure || len(tc.CAData) > 0 || tc.CAFile != "" {
		return nil
	}
	var extra [][]byte
	for _, f := range RancherCAFiles {
		if pem, err := os.ReadFile(f); err == nil {
			extra = append(extra, pem)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return fmt.Errorf("TLS configuration for %s: %w", cfg.Host, err)
	}
	if tlsCfg == nil {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, pem := range extra {
		pool.AppendCertsFromPEM(pem)
	}
	tlsCfg.RootCAs = pool
	t := &http.Transport{TLSClientConfig: tlsCfg, Proxy: cfg.Proxy}
	cfg.Transport = utilnet.SetTransportDefaults(t)
	cfg.TLSClientConfig = rest.TLSClientConfig{}
	cfg.Proxy = nil
	return nil
}

// authOption is the driver option that holds the credentials, for error messages.
func authOption(c Credentials) string {
	switch {
	case len(c.Kubeconfig) > 0:
		return "kubeconfig-content"
	case c.Token != "":
		return "token"
	default:
		return "client-certificate-data"
	}
}

// NewClient builds a client from credentials.
func NewClient(c Credentials) (*Client, error) {
	cfg, err := RESTConfig(c)
	if err != nil {
		return nil, err
	}
	client, err := NewClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	client.AuthOption = authOption(c)
	return client, nil
}

// NewClientForConfig builds a client from a REST configuration (tests wrap its transport).
func NewClientForConfig(cfg *rest.Config) (*Client, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("build dynamic client for %s: %w", cfg.Host, err)
	}
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("build kubernetes client for %s: %w", cfg.Host, err)
	}
	ca := cfg.TLSClientConfig.CAData
	if len(ca) == 0 && cfg.TLSClientConfig.CAFile != "" {
		if ca, err = os.ReadFile(cfg.TLSClientConfig.CAFile); err != nil {
			return nil, fmt.Errorf("read the CA file of %s: %w", cfg.Host, err)
		}
	}
	return &Client{Dynamic: dyn, Core: core, Server: cfg.Host, AuthOption: "credentials", caData: ca, insecure: cfg.TLSClientConfig.Insecure}, nil
}

func (c *Client) concurrency() int {
	if c.Concurrency > 0 {
		return c.Concurrency
	}
	return defaultConcurrency
}

func (c *Client) preflightTimeout() time.Duration {
	if c.PreflightTimeout > 0 {
		return c.PreflightTimeout
	}
	return defaultPreflightTimeout
}

func (c *Client) deleteTimeout() time.Duration {
	if c.DeleteTimeout > 0 {
		return c.DeleteTimeout
	}
	return defaultDeleteTimeout
}

func (c *Client) authOption() string {
	if c.AuthOption == "" {
		return "credentials"
	}
	return c.AuthOption
}

// toUnstructured converts a typed API object through its JSON form: DefaultUnstructuredConverter
// would keep KubeVirt's uint fields (bootOrder) as uint64, which unstructured DeepCopy rejects.
func toUnstructured(obj interface{}) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return u, nil
}

// toTyped converts an unstructured object into a typed API struct.
func toTyped(obj map[string]interface{}, into interface{}) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(obj, into)
}
