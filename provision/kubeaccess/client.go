package kubeaccess

import (
	"errors"
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const userAgent = "kontainer-engine-driver-harvester"

// Access is how to reach the built cluster's API: its endpoint and CA, and either a client
// certificate (the admin RKE issued) or a bearer token.
type Access struct {
	Endpoint   string // https://host:6443
	CACert     string // PEM
	ClientCert string // PEM
	ClientKey  string // PEM
	Token      string
}

// NewClient builds a client for the cluster. The CA is required: the API is never trusted blindly.
func NewClient(a Access) (kubernetes.Interface, error) {
	if a.Endpoint == "" {
		return nil, errors.New("kubernetes client: no endpoint")
	}
	if a.CACert == "" {
		return nil, fmt.Errorf("kubernetes client for %s: no CA certificate", a.Endpoint)
	}
	return newClient(&rest.Config{
		Host:        a.Endpoint,
		BearerToken: a.Token,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   []byte(a.CACert),
			CertData: []byte(a.ClientCert),
			KeyData:  []byte(a.ClientKey),
		},
	})
}

// FromKubeconfig builds a client from a kubeconfig such as the one RKE writes.
func FromKubeconfig(kubeconfig []byte) (kubernetes.Interface, error) {
	cfg, err := ConfigFromKubeconfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	return newClient(cfg)
}

// ConfigFromKubeconfig is the REST configuration of a kubeconfig such as the one RKE writes.
func ConfigFromKubeconfig(kubeconfig []byte) (*rest.Config, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		// The parser's message may quote the file, which holds credentials.
		return nil, errors.New("kubernetes client: the kubeconfig does not parse")
	}
	cfg.UserAgent = userAgent
	return cfg, nil
}

// newClient leaves the request timeout unset: every call carries a context with a deadline, and a
// client-wide timeout would also cut the watch for the token.
func newClient(cfg *rest.Config) (kubernetes.Interface, error) {
	cfg.UserAgent = userAgent
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	return cs, nil
}
