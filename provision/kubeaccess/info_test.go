package kubeaccess

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
)

// apiServer answers /version over TLS, failing the first failures requests with 503.
func apiServer(t *testing.T, failures int32) (Access, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		if calls.Add(1) <= failures {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"major":"1","minor":"32","gitVersion":"v1.32.7"}`))
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return Access{Endpoint: srv.URL, CACert: string(ca)}, &calls
}

func TestVersion(t *testing.T) {
	fastRetries(t, 5)
	for _, failures := range []int32{0, 2} {
		access, calls := apiServer(t, failures)
		cs, err := NewClient(access)
		if err != nil {
			t.Fatal(err)
		}
		v, err := Version(context.Background(), cs)
		if err != nil || v != "v1.32.7" {
			t.Errorf("Version = %q, %v", v, err)
		}
		if calls.Load() != failures+1 {
			t.Errorf("%d requests, want %d", calls.Load(), failures+1)
		}
	}
}

func TestVersionUntrustedServer(t *testing.T) {
	access, _ := apiServer(t, 0)
	access.CACert = otherCA(t) // a CA that did not sign the server's certificate
	cs, err := NewClient(access)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Version(context.Background(), cs); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error = %v, want a certificate error", err)
	}
}

func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestVersionFakeClientset(t *testing.T) {
	cs := fake.NewClientset()
	cs.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: "v1.31.11"}
	if v, err := Version(context.Background(), cs); err != nil || v != "v1.31.11" {
		t.Errorf("Version = %q, %v", v, err)
	}
}

func TestNodeCount(t *testing.T) {
	var nodes []*corev1.Node
	for _, name := range []string{"a", "b", "c"} {
		nodes = append(nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
	}
	cs := fake.NewClientset(nodes[0], nodes[1], nodes[2])
	if n, err := NodeCount(context.Background(), cs); err != nil || n != 3 {
		t.Errorf("NodeCount = %d, %v", n, err)
	}
}

func TestRemoveLegacyServiceAccount(t *testing.T) {
	legacySA := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "netes-default", Namespace: "default"}}
	legacyCRB := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "netes-default-clusterRoleBinding"}}
	keep := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleBinding}}
	tests := []struct {
		name    string
		cs      *fake.Clientset
		failure error
		wantErr string
	}{
		{"both present", fake.NewClientset(legacySA, legacyCRB, keep), nil, ""},
		{"only the binding", fake.NewClientset(legacyCRB, keep), nil, ""},
		{"none", fake.NewClientset(keep), nil, ""},
		{"forbidden", fake.NewClientset(legacySA, keep),
			apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts"}, "netes-default", errors.New("no")),
			"delete service account default/netes-default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.failure != nil {
				failTimes(tt.cs, "delete", "serviceaccounts", 1, tt.failure)
			}
			ctx := context.Background()
			err := RemoveLegacyServiceAccount(ctx, tt.cs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tt.cs.CoreV1().ServiceAccounts("default").Get(ctx, "netes-default", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("legacy service account still there: %v", err)
			}
			if _, err := tt.cs.RbacV1().ClusterRoleBindings().Get(ctx, "netes-default-clusterRoleBinding", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("legacy binding still there: %v", err)
			}
			if _, err := tt.cs.RbacV1().ClusterRoleBindings().Get(ctx, ClusterRoleBinding, metav1.GetOptions{}); err != nil {
				t.Errorf("the current binding went too: %v", err)
			}
		})
	}
}

func TestNewClientRejects(t *testing.T) {
	tests := []struct {
		name   string
		access Access
		want   string
	}{
		{"no endpoint", Access{CACert: "x"}, "no endpoint"},
		{"no CA", Access{Endpoint: "https://192.168.10.10:6443", ClientKey: "secret-key"}, "no CA certificate"},
	}
	for _, tt := range tests {
		if _, err := NewClient(tt.access); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestFromKubeconfig(t *testing.T) {
	access, _ := apiServer(t, 0)
	kubeconfig := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: ` + access.Endpoint + `
    certificate-authority-data: ` + b64(access.CACert) + `
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
users:
- name: u
  user: {token: s3cret}
`
	cs, err := FromKubeconfig([]byte(kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Version(context.Background(), cs); err != nil || v != "v1.32.7" {
		t.Errorf("Version = %q, %v", v, err)
	}
	_, err = FromKubeconfig([]byte("users: [{user: {token: s3cret}}]\nclusters: not-a-list"))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error = %v, want one that does not quote the file", err)
	}
}
