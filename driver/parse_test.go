package driver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: h
  cluster: {server: "https://harvester.example.com:6443"}
users:
- name: u
  user: {token: "not-a-real-token"}
contexts:
- name: c
  context: {cluster: h, user: u}
current-context: c
`

// validOptions is a minimal valid request in kebab-case.
func validOptions() *types.DriverOptions {
	return &types.DriverOptions{
		StringOptions: map[string]string{
			"name":               "c-abc12",
			"kubeconfig-content": testKubeconfig,
			"image":              "default/ubuntu-22.04",
		},
		IntOptions:         map[string]int64{},
		BoolOptions:        map[string]bool{},
		StringSliceOptions: map[string]*types.StringSlice{},
	}
}

func problemOptions(t *testing.T, err error) []string {
	t.Helper()
	var oe *OptionsError
	if !errors.As(err, &oe) {
		t.Fatalf("want *OptionsError, got %T: %v", err, err)
	}
	var names []string
	for _, p := range oe.Problems {
		names = append(names, p.Option)
	}
	return names
}

func TestParseOptionsDefaults(t *testing.T) {
	spec, err := ParseOptions(validOptions())
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "c-abc12" || spec.Template.NamePrefix != "c-abc12" {
		t.Errorf("name/prefix = %q/%q", spec.Name, spec.Template.NamePrefix)
	}
	if spec.Template.Image.String() != "default/ubuntu-22.04" || spec.Template.Namespace != "default" {
		t.Errorf("image = %v in %q", spec.Template.Image, spec.Template.Namespace)
	}
	if spec.Template.CPUs != defaultCPUs || spec.Template.Memory.String() != defaultMemory || spec.Template.DiskSize.String() != defaultDiskSize {
		t.Errorf("template = %+v", spec.Template)
	}
	wantPools := []provision.Pool{
		{Name: "etcd", Count: 1, Roles: []string{"etcd"}},
		{Name: "control-plane", Count: 1, Roles: []string{"controlplane"}},
		{Name: "worker", Count: 1, Roles: []string{"worker"}},
	}
	if !reflect.DeepEqual(spec.Pools, wantPools) {
		t.Errorf("pools = %+v", spec.Pools)
	}
	if spec.Docker.InstallURL != "https://releases.rancher.com/install-docker/28.1.sh" {
		t.Errorf("docker url = %q", spec.Docker.InstallURL)
	}
	if spec.Timeouts.VMReady != 600*time.Second || spec.Timeouts.SSHReady != 300*time.Second {
		t.Errorf("timeouts = %+v", spec.Timeouts)
	}
	if spec.SSH.User != "ubuntu" || spec.Kubernetes.NetworkPlugin != "canal" || spec.Kubernetes.ClusterCIDR != "10.42.0.0/16" {
		t.Errorf("ssh/k8s = %+v %+v", spec.SSH, spec.Kubernetes)
	}
}

// Rancher sends keys back in lowerCamelCase; both spellings must give the same spec.
func TestParseOptionsCamelCase(t *testing.T) {
	kebab := validOptions()
	kebab.StringOptions["disk-size"] = "60Gi"
	kebab.StringOptions["vm-name-prefix"] = "demo"
	kebab.IntOptions["worker-count"] = 3
	kebab.BoolOptions["insecure-skip-tls-verify"] = true
	kebab.StringSliceOptions["registry-mirrors"] = &types.StringSlice{Value: []string{"https://mirror.example.com"}}

	camel := &types.DriverOptions{
		StringOptions:      map[string]string{},
		IntOptions:         map[string]int64{},
		BoolOptions:        map[string]bool{},
		StringSliceOptions: map[string]*types.StringSlice{},
	}
	for k, v := range kebab.StringOptions {
		camel.StringOptions[camelCase(k)] = v
	}
	for k, v := range kebab.IntOptions {
		camel.IntOptions[camelCase(k)] = v
	}
	for k, v := range kebab.BoolOptions {
		camel.BoolOptions[camelCase(k)] = v
	}
	for k, v := range kebab.StringSliceOptions {
		camel.StringSliceOptions[camelCase(k)] = v
	}
	a, errA := ParseOptions(kebab)
	b, errB := ParseOptions(camel)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("kebab and camel differ:\n%+v\n%+v", a, b)
	}
	if a.Template.DiskSize.String() != "60Gi" || a.Pools[2].Count != 3 || !a.Access.Insecure || len(a.Docker.RegistryMirrors) != 1 {
		t.Errorf("options not applied: %+v", a)
	}
}

func TestCamelCase(t *testing.T) {
	for in, want := range map[string]string{
		"name": "name", "disk-size": "diskSize", "kubeconfig-content": "kubeconfigContent",
		"ssh-trust-host-key-on-first-use": "sshTrustHostKeyOnFirstUse", "api-url": "apiUrl",
	} {
		if got := camelCase(in); got != want {
			t.Errorf("camelCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseOptionsReportsEveryProblem(t *testing.T) {
	opts := validOptions()
	delete(opts.StringOptions, "image")
	opts.StringOptions["memory"] = "lots"
	opts.StringOptions["disk-size"] = "10"
	opts.StringOptions["disk-bus"] = "ide"
	opts.StringOptions["vm-namespace"] = "Bad_NS"
	opts.StringOptions["ssh-user"] = "Root User"
	opts.StringOptions["network-plugin"] = "cilium"
	opts.StringOptions["service-cidr"] = "10.42.128.0/20"
	opts.StringOptions["docker-install-method"] = "magic"
	opts.IntOptions["cpus"] = 0
	opts.IntOptions["etcd-count"] = 0
	opts.IntOptions["vm-ready-timeout"] = -5
	_, err := ParseOptions(opts)
	got := problemOptions(t, err)
	want := []string{"cpus", "disk-bus", "disk-size", "docker-install-method", "etcd-count", "image", "memory",
		"network-plugin", "service-cidr", "ssh-user", "vm-namespace", "vm-ready-timeout"}
	for _, w := range want {
		if !contains(got, w) {
			t.Errorf("error does not name %s: %v", w, err)
		}
	}
	msg := err.Error()
	for _, hint := range []string{"virtio, scsi or sata", "quantity such as 4Gi", "at least 1Gi", "canal, calico, flannel, none", "overlaps cluster-cidr"} {
		if !strings.Contains(msg, hint) {
			t.Errorf("error lacks hint %q: %s", hint, msg)
		}
	}
}

func TestParseOptionsAccess(t *testing.T) {
	ca, cert, key := testPKI(t)
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	for _, tc := range []struct {
		name    string
		strings map[string]string
		problem string // option the error must name; empty = valid
	}{
		{"kubeconfig plain", map[string]string{"kubeconfig-content": testKubeconfig}, ""},
		{"kubeconfig base64", map[string]string{"kubeconfig-content": b64([]byte(testKubeconfig))}, ""},
		{"kubeconfig garbage", map[string]string{"kubeconfig-content": "apiVersion: [unterminated"}, "kubeconfig-content"},
		{"kubeconfig not base64", map[string]string{"kubeconfig-content": "%%%"}, "kubeconfig-content"},
		{"url and token", map[string]string{"api-url": "https://h:6443", "token": "t"}, ""},
		{"url, token and ca", map[string]string{"api-url": "https://h:6443", "token": "t", "certificate-authority-data": b64(ca)}, ""},
		{"url and certs", map[string]string{"api-url": "https://h:6443", "client-certificate-data": b64(cert), "client-key-data": b64(key)}, ""},
		{"url without credentials", map[string]string{"api-url": "https://h:6443"}, "token"},
		{"http url", map[string]string{"api-url": "http://h:6443", "token": "t"}, "api-url"},
		{"cert without key", map[string]string{"api-url": "https://h:6443", "client-certificate-data": b64(cert)}, "client-key-data"},
		{"key without cert", map[string]string{"api-url": "https://h:6443", "client-key-data": b64(key)}, "client-certificate-data"},
		{"garbage kubeconfig names only itself", map[string]string{"kubeconfig-content": "%%%"}, "kubeconfig-content"},
		{"token and cert", map[string]string{"api-url": "https://h:6443", "token": "t", "client-certificate-data": b64(cert), "client-key-data": b64(key)}, "token"},
		{"kubeconfig and token", map[string]string{"kubeconfig-content": testKubeconfig, "token": "t"}, "kubeconfig-content"},
		{"nothing", map[string]string{}, "api-url"},
		{"bad ca", map[string]string{"api-url": "https://h:6443", "token": "t", "certificate-authority-data": b64([]byte("not pem"))}, "certificate-authority-data"},
		{"key in cert field", map[string]string{"api-url": "https://h:6443", "client-certificate-data": b64(key), "client-key-data": b64(key)}, "client-certificate-data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := validOptions()
			delete(opts.StringOptions, "kubeconfig-content")
			for k, v := range tc.strings {
				opts.StringOptions[k] = v
			}
			_, err := ParseOptions(opts)
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if got := problemOptions(t, err); !contains(got, tc.problem) {
				t.Fatalf("error names %v, want %s: %v", got, tc.problem, err)
			}
			if strings.Contains(err.Error(), "BEGIN") || strings.Contains(err.Error(), "not-a-real-token") {
				t.Fatalf("error leaks credentials: %v", err)
			}
		})
	}
}

func TestParseNodePools(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pools   []string
		want    []provision.Pool
		problem string
	}{
		{"single all-roles", []string{"all=1:etcd+controlplane+worker"},
			[]provision.Pool{{Name: "all", Count: 1, Roles: []string{"etcd", "controlplane", "worker"}}}, ""},
		{"comma roles and alias", []string{"master=3:etcd,control-plane", "w=2:worker"},
			[]provision.Pool{{Name: "master", Count: 3, Roles: []string{"etcd", "controlplane"}}, {Name: "w", Count: 2, Roles: []string{"worker"}}}, ""},
		{"missing worker", []string{"master=3:etcd+controlplane"}, nil, "node-pools"},
		{"zero count", []string{"all=0:etcd+controlplane+worker"}, nil, "node-pools"},
		{"bad role", []string{"all=1:etcd+controlplane+worker+gpu"}, nil, "node-pools"},
		{"bad syntax", []string{"all:1"}, nil, "node-pools"},
		{"duplicate", []string{"a=1:etcd+controlplane+worker", "a=1:worker"}, nil, "node-pools"},
		{"bad name", []string{"All_Nodes=1:etcd+controlplane+worker"}, nil, "node-pools"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := validOptions()
			opts.StringSliceOptions["node-pools"] = &types.StringSlice{Value: tc.pools}
			spec, err := ParseOptions(opts)
			if tc.problem != "" {
				if got := problemOptions(t, err); !contains(got, tc.problem) {
					t.Fatalf("error names %v, want %s", got, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(spec.Pools, tc.want) {
				t.Errorf("pools = %+v, want %+v", spec.Pools, tc.want)
			}
		})
	}
}

func TestParseOptionsLongPrefix(t *testing.T) {
	opts := validOptions()
	opts.StringOptions["vm-name-prefix"] = strings.Repeat("a", 60)
	if got := problemOptions(t, errOf(ParseOptions(opts))); !contains(got, "vm-name-prefix") {
		t.Fatalf("long prefix accepted: %v", got)
	}
}

func TestParseOptionsUpdateKeepsStrippedSecrets(t *testing.T) {
	prev := provision.Spec{}
	prev.Access.Server = "https://h:6443"
	prev.Access.Token = "stored-token"
	prev.SSH.PrivateKey = []byte("stored-key")

	opts := validOptions()
	delete(opts.StringOptions, "kubeconfig-content")
	opts.StringOptions["api-url"] = "https://h:6443"
	spec, err := parseOptions(opts, &prev)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Access.Token != "stored-token" || string(spec.SSH.PrivateKey) != "stored-key" {
		t.Errorf("stripped secrets not kept: %+v", spec.Access)
	}

	opts.StringOptions["token"] = "fresh-token"
	spec, err = parseOptions(opts, &prev)
	if err != nil || spec.Access.Token != "fresh-token" {
		t.Errorf("fresh token not used: %v %q", err, spec.Access.Token)
	}
}

// On Update an absent harvester-cloud-provider keeps the cluster's own setting. Regression: the
// option's default (on) applied, so any edit of a cluster made before the option deployed it.
func TestUpdateWithoutCloudProviderOptionKeepsTheClusters(t *testing.T) {
	for _, tc := range []struct {
		name       string
		before     bool
		given      *bool
		wantEnable bool
	}{
		{"made before the option, not mentioned", false, nil, false},
		{"made with it, not mentioned", true, nil, true},
		{"turned on", false, ptr(true), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := provision.Spec{CloudProvider: provision.CloudProvider{Enabled: tc.before}}
			opts := validOptions()
			delete(opts.BoolOptions, "harvester-cloud-provider")
			delete(opts.BoolOptions, "harvesterCloudProvider")
			if tc.given != nil {
				opts.BoolOptions["harvesterCloudProvider"] = *tc.given
			}
			spec, err := parseOptions(opts, &prev)
			if err != nil {
				t.Fatal(err)
			}
			if spec.CloudProvider.Enabled != tc.wantEnable {
				t.Errorf("cloud provider enabled %v, want %v", spec.CloudProvider.Enabled, tc.wantEnable)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestImmutableChanges(t *testing.T) {
	old, err := ParseOptions(validOptions())
	if err != nil {
		t.Fatal(err)
	}
	opts := validOptions()
	opts.IntOptions["worker-count"] = 5
	opts.StringOptions["kubernetes-version"] = ""
	opts.StringOptions["cluster-cidr"] = "10.100.0.0/16"
	opts.IntOptions["cpus"] = 8
	spec, err := ParseOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	got := problemOptions(t, immutableChanges(old, spec))
	if !reflect.DeepEqual(got, []string{"cluster-cidr", "cpus"}) {
		t.Errorf("immutable problems = %v", got)
	}
	if err := immutableChanges(old, old); err != nil {
		t.Errorf("no change reported as %v", err)
	}
}

// Every option that is not Mutable must be guarded by immutableChanges, and no Mutable one.
func TestMutableFlagsMatchGuards(t *testing.T) {
	guarded := map[string]bool{
		optDockerVersion: true, // it only sets the default docker-install-url, which is guarded
	}
	for _, f := range fixedAfterCreate {
		guarded[f.option] = true
	}
	for _, o := range Options() {
		if o.Group == groupPools {
			continue // pool counts change; pool roles are checked separately
		}
		if o.Mutable == guarded[o.Name] {
			t.Errorf("option %s: mutable=%v but guarded=%v", o.Name, o.Mutable, guarded[o.Name])
		}
	}
}

func TestResize(t *testing.T) {
	spec := provision.Spec{Pools: []provision.Pool{
		{Name: "m", Count: 3, Roles: []string{"etcd", "controlplane"}},
		{Name: "w", Count: 2, Roles: []string{"worker"}},
	}}
	got, err := resize(spec, 7)
	if err != nil || got.Pools[1].Count != 4 || spec.Pools[1].Count != 2 {
		t.Fatalf("resize to 7: %v %+v", err, got.Pools)
	}
	if _, err := resize(spec, 3); err == nil {
		t.Fatal("resize below the other pools accepted")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func errOf(_ provision.Spec, err error) error { return err }

// testPKI returns a CA certificate, a client certificate and its key, PEM-encoded.
func testPKI(t *testing.T) (ca, cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	c := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return c, c, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// A secret Rancher leaves out of an Update is kept only while the server it was given for stays:
// otherwise whoever may edit the cluster could have the stored token sent to a server of theirs.
func TestStoredSecretsFollowTheirServer(t *testing.T) {
	ca, cert, key := testPKI(t)
	otherCA, _, _ := testPKI(t)
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	tokenPrev := provision.Spec{Access: harvester.Credentials{Server: "https://h:6443", Token: "stored-token", CAData: ca}}
	certPrev := provision.Spec{Access: harvester.Credentials{Server: "https://h:6443", CertData: cert, KeyData: key}}
	kubeconfigPrev := provision.Spec{Access: harvester.Credentials{Kubeconfig: []byte(testKubeconfig)}}
	for _, tc := range []struct {
		name    string
		prev    provision.Spec
		options map[string]string
		bools   map[string]bool
		problem string // the option the error must name; empty = the stored secret is kept
	}{
		{"same server", tokenPrev, map[string]string{"api-url": "https://h:6443", "certificate-authority-data": b64(ca)}, nil, ""},
		{"other url", tokenPrev, map[string]string{"api-url": "https://evil:6443", "certificate-authority-data": b64(ca)}, nil, "token"},
		{"other url, insecure", tokenPrev, map[string]string{"api-url": "https://evil:6443"}, map[string]bool{"insecure-skip-tls-verify": true}, "token"},
		{"same url, other CA", tokenPrev, map[string]string{"api-url": "https://h:6443", "certificate-authority-data": b64(otherCA)}, nil, "token"},
		{"same url, CA dropped", tokenPrev, map[string]string{"api-url": "https://h:6443"}, nil, "token"},
		{"same url, now insecure", tokenPrev, map[string]string{"api-url": "https://h:6443", "certificate-authority-data": b64(ca)}, map[string]bool{"insecure-skip-tls-verify": true}, "token"},
		{"client key, same server", certPrev, map[string]string{"api-url": "https://h:6443", "client-certificate-data": b64(cert)}, nil, ""},
		{"client key, other url", certPrev, map[string]string{"api-url": "https://evil:6443", "client-certificate-data": b64(cert)}, nil, "client-key-data"},
		{"kubeconfig, nothing changed", kubeconfigPrev, nil, nil, ""},
		{"kubeconfig, now insecure", kubeconfigPrev, nil, map[string]bool{"insecure-skip-tls-verify": true}, "kubeconfig-content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := validOptions()
			delete(opts.StringOptions, "kubeconfig-content")
			for k, v := range tc.options {
				opts.StringOptions[k] = v
			}
			for k, v := range tc.bools {
				opts.BoolOptions[k] = v
			}
			spec, err := parseOptions(opts, &tc.prev)
			if tc.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				if spec.Access.Token != tc.prev.Access.Token || !bytes.Equal(spec.Access.KeyData, tc.prev.Access.KeyData) ||
					!bytes.Equal(spec.Access.Kubeconfig, tc.prev.Access.Kubeconfig) {
					t.Fatalf("stored secret not kept: %+v", spec.Access)
				}
				return
			}
			if got := problemOptions(t, err); !contains(got, tc.problem) {
				t.Fatalf("error names %v, want %s: %v", got, tc.problem, err)
			}
			if spec.Access.Token == "stored-token" || bytes.Equal(spec.Access.KeyData, key) || len(spec.Access.Kubeconfig) > 0 {
				t.Fatalf("the stored secret went along to the changed server: %+v", spec.Access)
			}
			if !strings.Contains(err.Error(), "changed") {
				t.Errorf("the error does not say why the credential is needed again: %v", err)
			}
		})
	}
}

// User data may hold secrets: an error about it says where it is wrong, never what it says.
func TestUserDataErrorsQuoteNothing(t *testing.T) {
	for _, ud := range []string{
		"#cloud-config\n{hunter2: 1}: x\n",
		"#cloud-config\n? [hunter2]\n: x",
		"#cloud-config\na: *hunter2",
		"#cloud-config\nhunter2",
		"#cloud-config\na: b: hunter2",
	} {
		opts := validOptions()
		opts.StringOptions["user-data"] = ud
		_, err := ParseOptions(opts)
		if got := problemOptions(t, err); !contains(got, "user-data") {
			t.Errorf("%q: error names %v", ud, got)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error quotes the user data: %v", err)
		}
	}
}

func TestDockerInstallURL(t *testing.T) {
	for _, tc := range []struct {
		url       string
		allowHTTP bool
		problem   bool
	}{
		{"https://mirror.example.com/install.sh", false, false},
		{"http://mirror.example.com/install.sh", false, true},
		{"http://mirror.example.com/install.sh", true, false},
		{"ftp://mirror.example.com/install.sh", true, true},
		{"https://", false, true},
	} {
		opts := validOptions()
		opts.StringOptions["docker-install-url"] = tc.url
		opts.BoolOptions["docker-install-url-allow-http"] = tc.allowHTTP
		_, err := ParseOptions(opts)
		if got := err != nil && contains(problemOptions(t, err), "docker-install-url"); got != tc.problem {
			t.Errorf("%s (allow http %v): problem %v, want %v: %v", tc.url, tc.allowHTTP, got, tc.problem, err)
		}
	}
}

func TestPrepullImages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		given *bool
		want  bool
	}{
		{"default", nil, true},
		{"on", ptr(true), true},
		{"off", ptr(false), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := validOptions()
			if tc.given != nil {
				opts.BoolOptions["prepull-images"] = *tc.given
			}
			spec, err := ParseOptions(opts)
			if err != nil {
				t.Fatal(err)
			}
			if spec.PrepullImages != tc.want {
				t.Errorf("PrepullImages = %v, want %v", spec.PrepullImages, tc.want)
			}
		})
	}
}
