package harvester

import (
	"context"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

func TestPreflightPasses(t *testing.T) {
	f := newFakes(t, harvesterObjects(), namespace("vms"))
	env, err := f.Preflight(context.Background(), testCluster().Template)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(env, testEnv) {
		t.Errorf("environment = %+v, want %+v", env, testEnv)
	}
	if got := f.recorded("create"); len(got) != 0 {
		t.Errorf("pre-flight created objects: %v", got)
	}
}

// Every independent problem is reported at once, each naming the option to change.
func TestPreflightReportsAllProblems(t *testing.T) {
	t.Run("missing namespace, image, network and key pair", func(t *testing.T) {
		f := newFakes(t, nil)
		_, err := f.Preflight(context.Background(), testCluster().Template)
		wantAll(t, err,
			`vm-namespace: namespace "vms" does not exist`,
			"image: VirtualMachineImage images/ubuntu-2404: not found",
			"network: NetworkAttachmentDefinition vms/vlan10: not found",
			"keypair: KeyPair vms/ops: not found")
	})
	t.Run("image not ready, disk too small, key pair without key, no access", func(t *testing.T) {
		f := newFakes(t, []runtime.Object{image("images", "ubuntu-2404", 40, "", 0), nad("vms", "vlan10"), keyPair("vms", "ops", "")}, namespace("vms"))
		denyAll(f)
		_, err := f.Preflight(context.Background(), testCluster().Template)
		wantAll(t, err,
			`kubeconfig-content: not allowed to create virtualmachines.kubevirt.io in namespace "vms"`,
			`kubeconfig-content: not allowed to create secrets in namespace "vms"`,
			"image: VirtualMachineImage images/ubuntu-2404 is not ready (40% imported)",
			"keypair: KeyPair vms/ops has no spec.publicKey")
	})
	t.Run("disk smaller than the image", func(t *testing.T) {
		f := newFakes(t, harvesterObjects(), namespace("vms"))
		tmpl := testCluster().Template
		tmpl.DiskSize = resource.MustParse("1Gi")
		_, err := f.Preflight(context.Background(), tmpl)
		wantAll(t, err, "disk-size: 1Gi is smaller than image images/ubuntu-2404 (2Gi)")
	})
	t.Run("image without storage class", func(t *testing.T) {
		f := newFakes(t, []runtime.Object{image("images", "ubuntu-2404", 100, "", 1<<30), nad("vms", "vlan10"), keyPair("vms", "ops", "k")}, namespace("vms"))
		_, err := f.Preflight(context.Background(), testCluster().Template)
		wantAll(t, err, "image: VirtualMachineImage images/ubuntu-2404 has no status.storageClassName")
	})
	t.Run("no network and no key pair asked for", func(t *testing.T) {
		f := newFakes(t, []runtime.Object{image("images", "ubuntu-2404", 100, "sc", 1<<30)}, namespace("vms"))
		tmpl := testCluster().Template
		tmpl.Network, tmpl.KeyPair = ObjectRef{}, ""
		env, err := f.Preflight(context.Background(), tmpl)
		if err != nil || env.StorageClass != "sc" || env.KeyPairKey != "" {
			t.Errorf("Preflight = %+v, %v; want storage class sc and no error", env, err)
		}
	})
}

func denyAll(f *fakes) {
	f.core.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = false
		return true, r, nil
	})
}

func wantAll(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one with %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error lacks %q:\n%v", p, err)
		}
	}
}

// An API that refuses connections or never answers fails fast, names the option and quotes no secret.
func TestPreflightUnreachable(t *testing.T) {
	const token = "s3cr3t-token-value"
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accept, never answer
		}
	}()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()

	for _, tc := range []struct {
		name, server, want string
	}{
		{"connection refused", "https://" + refusedAddr, "connection refused"},
		{"no answer", "https://" + hang.Addr().String(), "did not answer within 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(Credentials{Server: tc.server, Token: token})
			if err != nil {
				t.Fatal(err)
			}
			c.PreflightTimeout = 300 * time.Millisecond
			start := time.Now()
			_, err = c.Preflight(context.Background(), testCluster().Template)
			t.Logf("pre-flight failed after %s against an unreachable API", time.Since(start).Round(time.Millisecond))
			wantAll(t, err, "token: ", tc.want)
			if strings.Contains(err.Error(), token) {
				t.Error("the error quotes the token")
			}
		})
	}
}

func TestRESTConfig(t *testing.T) {
	kubeconfig := []byte(`apiVersion: v1
kind: Config
clusters: [{name: h, cluster: {server: "https://h.example:6443", certificate-authority-data: "` + "bm90LWEtY2E=" + `"}}]
users: [{name: u, user: {token: kube-token}}]
contexts: [{name: c, context: {cluster: h, user: u}}]
current-context: c
`)
	for _, tc := range []struct {
		name     string
		creds    Credentials
		host     string
		insecure bool
		err      string
	}{
		{name: "kubeconfig", creds: Credentials{Kubeconfig: kubeconfig}, host: "https://h.example:6443"},
		{name: "kubeconfig insecure drops the CA", creds: Credentials{Kubeconfig: kubeconfig, Insecure: true}, host: "https://h.example:6443", insecure: true},
		{name: "token", creds: Credentials{Server: "https://h:6443", Token: "t"}, host: "https://h:6443"},
		{name: "certificate", creds: Credentials{Server: "https://h:6443", CertData: []byte("c"), KeyData: []byte("k")}, host: "https://h:6443"},
		{name: "bad kubeconfig", creds: Credentials{Kubeconfig: []byte("token: kube-token\n: : :")}, err: "kubeconfig-content: not a usable kubeconfig"},
		{name: "nothing", creds: Credentials{}, err: "neither a kubeconfig nor an API URL"},
		{name: "URL alone", creds: Credentials{Server: "https://h:6443"}, err: "needs a token or a client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := RESTConfig(tc.creds)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "kube-token") {
					t.Errorf("err = %v, want %q without the token", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != tc.host || cfg.Insecure != tc.insecure || (tc.insecure && len(cfg.CAData) > 0) {
				t.Errorf("config host %s insecure %v (CA %d bytes), want %s %v", cfg.Host, cfg.Insecure, len(cfg.CAData), tc.host, tc.insecure)
			}
			if cfg.QPS < 50 || cfg.Burst < 100 {
				t.Errorf("QPS/Burst %v/%d too low for 30 VMs in parallel", cfg.QPS, cfg.Burst)
			}
		})
	}
}
