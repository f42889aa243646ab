package savedstate

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/addons"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/docker"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/ssh"
)

var update = flag.Bool("update", false, "rewrite the current version's golden files")

// goldenCluster is the cluster the golden files hold: every field set to something other than
// its default. The CA certificate and the SSH key are generated when a golden file is written, so
// tests check that they parse rather than compare them.
func goldenCluster() Cluster {
	return Cluster{
		Spec: provision.Spec{
			Name:          "c-golden",
			PrepullImages: true,
			Access: harvester.Credentials{
				Server: "https://harvester.example.com:6443",
				Token:  "golden-token",
			},
			Template: harvester.VMTemplate{
				Namespace:      "guests",
				Image:          harvester.ObjectRef{Namespace: "images", Name: "debian-12"},
				Network:        harvester.ObjectRef{Namespace: "default", Name: "vlan1"},
				CPUs:           3,
				Memory:         resource.MustParse("3Gi"),
				ReservedMemory: resource.MustParse("256Mi"),
				DiskSize:       resource.MustParse("25Gi"),
				DiskBus:        "scsi",
				NamePrefix:     "gold",
				Description:    "golden cluster",
				Labels:         map[string]string{"team": "gold"},
				UserData:       "#cloud-config\npackages: [jq]",
				KeyPair:        "mykey",
			},
			Pools: []provision.Pool{
				{Name: "master", Count: 1, Roles: []string{"etcd", "controlplane"}},
				{Name: "worker", Count: 2, Roles: []string{"worker"}},
			},
			SSH: provision.SSH{User: "debian", TrustOnFirstUse: true},
			Docker: docker.Config{
				InstallMethod:      "distro",
				RegistryMirrors:    []string{"https://mirror.example.com"},
				InsecureRegistries: []string{"registry.local:5000"},
				StorageDriver:      "overlay2",
				Labels:             []string{"zone=a"},
				Options:            map[string]string{"log-driver": "journald", "max-concurrent-downloads": "6"},
			},
			Kubernetes: rke.Options{
				KubernetesVersion:   "v1.32.7-rancher1-1",
				NetworkPlugin:       "none",
				ClusterCIDR:         "10.52.0.0/16",
				ServiceCIDR:         "10.53.0.0/16",
				ClusterDomain:       "gold.local",
				IngressProvider:     "none",
				DNSProvider:         "none",
				MonitoringProvider:  "none",
				IgnoreDockerVersion: true,
			},
			Timeouts: provision.Timeouts{VMReady: 120 * time.Second, SSHReady: 90 * time.Second},
		},
		State: provision.State{
			HostKeySeed: []byte("0123456789abcdef0123456789abcdef"),
			Nodes: []provision.Node{
				{Name: "gold-master-1", Pool: "master", Address: "10.0.0.11", HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDGZ7Xz3PgH6ZjR0sQ3bWvI9c2k4HgqQ0yJb4n3sE0tA", Phase: provision.PhaseKubernetes},
				{Name: "gold-worker-1", Pool: "worker", Address: "10.0.0.12", Phase: provision.PhaseDocker},
				{Name: "gold-worker-2", Pool: "worker", Phase: provision.PhaseVM},
			},
			RKE: rke.Files{State: []byte(`{"desiredState":{},"currentState":{}}`), Kubeconfig: []byte("apiVersion: v1\nkind: Config\n")},
		},
	}
}

// goldenClusterV2 adds what version 2 knows and version 1 did not.
func goldenClusterV2() Cluster {
	c := goldenCluster()
	c.State.ClusterID = "7f3k2q9x4m1z"
	c.State.Identity = harvester.Credentials{Server: "https://harvester.example.com:6443", Token: "identity-token"}
	c.State.Nodes[0].UID = "0b7c1f6e-3c55-4e2a-9d1e-7d2b6f0a9c11"
	c.State.Nodes[1].UID = "5a2e9c4d-8b1f-4f3a-a6e2-1c9d8b7a6f52"
	c.Spec.CloudProvider = provision.CloudProvider{Enabled: true, APIURL: "https://10.0.0.10:6443",
		Images: addons.Images{KubeVip: "registry.example.com/kube-vip:v1"}}
	c.State.CloudConfig = []byte("apiVersion: v1\nkind: Config\n")
	c.Spec.APIEndpoint = provision.APIEndpoint{Mode: provision.EndpointLoadBalancer, IPPool: "api-pool"}
	c.State.APIAddress = "10.0.0.200"
	c.Spec.Registry = provision.Registry{URL: "registry.example.com:5000", Username: "puller", Password: "golden-registry-password",
		CACert: []byte("-----BEGIN CERTIFICATE-----\nMIIBgolden\n-----END CERTIFICATE-----\n")}
	t := &c.Spec.Template
	t.NICs = []harvester.NIC{
		{Network: harvester.ObjectRef{Namespace: "default", Name: "vlan1"}, Model: "virtio"},
		{Model: "e1000", MAC: "02:00:00:00:10:01", Pools: []string{"worker"}},
	}
	t.Disks = []harvester.Disk{
		{Size: resource.MustParse("100Gi"), StorageClass: "harvester-longhorn", Bus: "scsi", BootOrder: 2, Pools: []string{"worker"}},
		{Size: resource.MustParse("20Gi"), Image: harvester.ObjectRef{Namespace: "images", Name: "data"}, Bus: "virtio"},
	}
	t.StaticAddresses = []harvester.AddressPool{{
		Start: netip.MustParseAddr("10.0.0.20"), End: netip.MustParseAddr("10.0.0.29"), Prefix: 24,
		Gateway: netip.MustParseAddr("10.0.0.1"), DNS: []netip.Addr{netip.MustParseAddr("10.0.0.2")},
		Network: "default/vlan1", Pools: []string{"master"},
	}}
	t.NetworkData = "version: 2\nethernets: {nic-0: {mtu: 9000}}\n"
	t.AddressNetwork = "default/vlan1"
	t.Hardware = harvester.Hardware{CPUModel: "host-passthrough", DedicatedCPU: true, IsolateEmulatorThread: true, EFI: true, SecureBoot: true, TPM: true}
	t.Placement = harvester.Placement{HardAntiAffinity: true, Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 5, Preference: corev1.NodeSelectorTerm{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}}}}}}
	return c
}

func readGolden(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(raw))
}

// sameCluster compares two clusters, quantities by value and the generated key material by use.
func sameCluster(t *testing.T, got, want Cluster) {
	t.Helper()
	if len(got.Spec.Access.CAData) > 0 {
		block, _ := pem.Decode(got.Spec.Access.CAData)
		if block == nil {
			t.Fatal("certificate-authority-data is not PEM")
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Fatalf("certificate-authority-data: %v", err)
		}
		got.Spec.Access.CAData = want.Spec.Access.CAData
	}
	if len(got.Spec.SSH.PrivateKey) > 0 {
		if _, err := ssh.ParsePrivateKey(got.Spec.SSH.PrivateKey); err != nil {
			t.Fatalf("ssh private key: %v", err)
		}
		got.Spec.SSH.PrivateKey = want.Spec.SSH.PrivateKey
	}
	for _, q := range []struct{ got, want *resource.Quantity }{
		{&got.Spec.Template.Memory, &want.Spec.Template.Memory},
		{&got.Spec.Template.ReservedMemory, &want.Spec.Template.ReservedMemory},
		{&got.Spec.Template.DiskSize, &want.Spec.Template.DiskSize},
	} {
		if q.got.Cmp(*q.want) != 0 {
			t.Errorf("quantity %s, want %s", q.got, q.want)
		}
		*q.got = *q.want
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", " ")
		wj, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("decoded cluster differs:\n got %s\nwant %s", gj, wj)
	}
}

// A state written by round 1's driver decodes to the same cluster, with what version 1 did not
// know left empty for the next call to fill in.
func TestDecodeVersion1Golden(t *testing.T) {
	got, err := Decode(readGolden(t, "state-v1.golden"))
	if err != nil {
		t.Fatal(err)
	}
	want := goldenCluster()
	if len(got.Spec.Access.CAData) == 0 || len(got.Spec.SSH.PrivateKey) == 0 {
		t.Fatal("the golden state's CA or SSH key got lost")
	}
	sameCluster(t, got, want)
}

func TestDecodeVersion2Golden(t *testing.T) {
	got, err := Decode(readGolden(t, "state-v2.golden"))
	if err != nil {
		t.Fatal(err)
	}
	sameCluster(t, got, goldenClusterV2())
}

// A version 2 state written before the private registry was added decodes without one.
func TestDecodeVersion2WithoutRegistry(t *testing.T) {
	got, err := Decode(readGolden(t, "state-v2-no-registry.golden"))
	if err != nil {
		t.Fatal(err)
	}
	want := goldenClusterV2()
	want.Spec.Registry = provision.Registry{}
	sameCluster(t, got, want)
}

// The current version's JSON is pinned field by field: a renamed working field must not change it.
func TestEncodeVersion2Golden(t *testing.T) {
	c := goldenClusterV2()
	packed, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := unpack(packed)
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	if *update {
		for name, content := range map[string]string{"state-v2.json": pretty.String() + "\n", "state-v2.golden": packed + "\n"} {
			if err := os.WriteFile("testdata/"+name, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if want := readGolden(t, "state-v2.json"); pretty.String() != want {
		t.Errorf("version 2 JSON changed (a new version needs a migration; -update rewrites the golden files only for additions):\n%s", pretty.String())
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []Cluster{goldenClusterV2(), {Spec: provision.Spec{Name: "empty"}}} {
		packed, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(packed)
		if err != nil {
			t.Fatal(err)
		}
		sameCluster(t, got, c)
	}
}

// The pre-pull is kept only when turned off, so the states written before it decode with it on.
func TestImagePrepullOff(t *testing.T) {
	c := goldenClusterV2()
	c.Spec.PrepullImages = false
	packed, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := unpack(packed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"noImagePrepull":true`)) {
		t.Errorf("the state does not say the pre-pull is off:\n%s", raw)
	}
	got, err := Decode(packed)
	if err != nil {
		t.Fatal(err)
	}
	sameCluster(t, got, c)
}

func TestDecodeErrors(t *testing.T) {
	pack := func(s string) string {
		var buf bytes.Buffer
		zw := gzipWriter(&buf)
		zw.Write([]byte(s))
		zw.Close()
		return b64(buf.Bytes())
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"not base64", "%%", "not base64"},
		{"not gzip", "aGVsbG8=", "not gzip"},
		{"not json", pack("hello"), "decode state"},
		{"future version", pack(`{"version": 99}`), "newer driver (state version 99"},
		{"no version", pack(`{}`), "missing or invalid version"},
		{"wrong type", pack(`{"version": 2, "spec": {"pools": "three"}}`), "decode state"},
		{"wrong type in version 1", pack(`{"version": 1, "spec": {"Pools": "three"}}`), "decode state version 1"},
		{"bad quantity", pack(`{"version": 2, "spec": {"template": {"memory": "lots"}}}`), "spec.template.memory"},
		{"bad disk size", pack(`{"version": 2, "spec": {"template": {"disks": [{"size": "lots"}]}}}`), "spec.template.disks[0].size"},
		{"bad static address", pack(`{"version": 2, "spec": {"template": {"staticAddresses": [{"start": "10.0.0.1", "end": "ten"}]}}}`), "spec.template.staticAddresses[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
