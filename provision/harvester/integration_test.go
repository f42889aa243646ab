package harvester

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// The stand-in's image without Docker boots fastest; these tests only need VMs and addresses.
const (
	simImage   = "default/debian-12-nodocker"
	simNetwork = "default/vlan1"
	simNS      = "default"
)

// simCluster is a cluster on the stand-in with real (test-only) keys, so the fake hosts' sshd starts.
func simCluster(t testing.TB, name string, workers int) Cluster {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	_, seedPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewClusterID()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	hostKeys := map[string]HostKey{}
	pools := []Pool{{Name: "cp", Count: 1}}
	if workers > 0 {
		pools = append(pools, Pool{Name: "worker", Count: workers})
	}
	return Cluster{
		Owner: Owner{Name: name, ID: id},
		Template: VMTemplate{
			Namespace:  simNS,
			Image:      ObjectRef{Namespace: "default", Name: "debian-12-nodocker"},
			Network:    ObjectRef{Namespace: "default", Name: "vlan1"},
			CPUs:       2,
			Memory:     resource.MustParse("2Gi"),
			DiskSize:   resource.MustParse("10Gi"),
			DiskBus:    "virtio",
			NamePrefix: name,
			Labels:     map[string]string{"purpose": "integration-test"},
			UserData:   "#cloud-config\nwrite_files:\n- path: /etc/harvesterrke-test\n  content: merged\n",
		},
		Pools: pools,
		Login: Login{
			User:           "rke",
			AuthorizedKeys: []string{string(gossh.MarshalAuthorizedKey(sshPub))},
			HostKey: func(vm string) (HostKey, error) {
				mu.Lock()
				defer mu.Unlock()
				if hk, ok := hostKeys[vm]; ok {
					return hk, nil
				}
				// One key per VM derived from a test seed, as the ssh package does from the anchor's seed.
				k := ed25519.NewKeyFromSeed(ed25519.Sign(seedPriv, []byte(vm))[:ed25519.SeedSize])
				block, err := gossh.MarshalPrivateKey(k, vm)
				if err != nil {
					return HostKey{}, err
				}
				p, err := gossh.NewPublicKey(k.Public())
				if err != nil {
					return HostKey{}, err
				}
				hk := HostKey{PrivatePEM: string(pem.EncodeToMemory(block)), AuthorizedKey: strings.TrimSpace(string(gossh.MarshalAuthorizedKey(p)))}
				hostKeys[vm] = hk
				return hk, nil
			},
		},
	}
}

// requestCounter counts the requests a client sends.
type requestCounter struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// simClient is a client of the stand-in built the way the driver builds one, from a kubeconfig,
// with its requests counted.
func simClient(t testing.TB, s *harvestersim.Sim) (*Client, *requestCounter) {
	t.Helper()
	cfg, err := RESTConfig(Credentials{Kubeconfig: s.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	counter := &requestCounter{}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter }
	c, err := NewClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, counter
}

// provision runs the orchestrator's sequence: pre-flight, anchor (which keeps the cluster's id),
// list, plan, delete the surplus, create the missing, wait.
func provision(ctx context.Context, t testing.TB, c *Client, cl Cluster, timeout time.Duration) ([]VM, error) {
	t.Helper()
	env, err := c.Preflight(ctx, cl.Template)
	if err != nil {
		return nil, err
	}
	_, id, err := c.LoadOrCreateAnchor(ctx, cl.Template.Namespace, cl.Template.NamePrefix, cl.Owner, func() (map[string][]byte, error) {
		return map[string][]byte{"seed": []byte("test-only")}, nil
	})
	if err != nil {
		return nil, err
	}
	if id != cl.Owner.ID {
		t.Fatalf("anchor id %q, want the cluster's %q", id, cl.Owner.ID)
	}
	vms, err := converge(ctx, c, cl, env)
	if err != nil {
		return vms, err
	}
	return c.WaitForAddresses(ctx, cl.Template.Namespace, cl.Owner, vms, timeout)
}

// clusterObjects lists what exists on the API server with the cluster's id label, plus the PVCs
// named after its VMs: after Remove it must be empty.
func clusterObjects(ctx context.Context, t testing.TB, c *Client, cl Cluster) []string {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: cl.Owner.selector()}
	var out []string
	for _, gvr := range []struct {
		kind string
		list func() (*unstructured.UnstructuredList, error)
	}{
		{"VirtualMachine", func() (*unstructured.UnstructuredList, error) {
			return c.Dynamic.Resource(gvrVM).Namespace("").List(ctx, sel)
		}},
		{"VirtualMachineInstance", func() (*unstructured.UnstructuredList, error) {
			return c.Dynamic.Resource(gvrVMI).Namespace("").List(ctx, sel)
		}},
	} {
		l, err := gvr.list()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range l.Items {
			out = append(out, gvr.kind+" "+o.GetName())
		}
	}
	pvcs, err := c.Core.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pvcs.Items {
		if p.Labels[LabelClusterID] == cl.Owner.ID || strings.HasPrefix(p.Name, cl.Template.NamePrefix+"-") {
			out = append(out, "PersistentVolumeClaim "+p.Name)
		}
	}
	secrets, err := c.Core.CoreV1().Secrets("").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		out = append(out, "Secret "+s.Name)
	}
	sort.Strings(out)
	return out
}

// removeAndCheck removes the cluster and checks that nothing of it is left, on the API server and in
// the stand-in (fake hosts, volumes).
func removeAndCheck(ctx context.Context, t testing.TB, s *harvestersim.Sim, c *Client, cl Cluster) {
	t.Helper()
	if err := c.Remove(ctx, cl.Template.Namespace, cl.Owner); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if left := clusterObjects(ctx, t, c, cl); len(left) > 0 {
		t.Errorf("after Remove: %v", left)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.WaitNoLeftovers(wctx, cl.Owner.selector()); err != nil {
		t.Errorf("after Remove: %v", err)
	}
	if err := c.Remove(ctx, cl.Template.Namespace, cl.Owner); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

// TestIntegrationProvision creates clusters of 1, 3 and 10 VMs on the stand-in, checks every VM as the
// API server holds it, waits for the addresses, and removes everything.
func TestIntegrationProvision(t *testing.T) {
	s := harvestersim.Start(t, harvestersim.Options{})
	c, _ := simClient(t, s)
	ctx := context.Background()
	for _, n := range []int{1, 3, 10} {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			cl := simCluster(t, fmt.Sprintf("it-n%d", n), n-1)
			nodes, err := provision(ctx, t, c, cl, 3*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) != n {
				t.Fatalf("nodes = %+v, want %d", nodes, n)
			}
			env := Environment{StorageClass: "longhorn-debian-12-nodocker"}
			for _, node := range nodes {
				if ip := net.ParseIP(node.Address); ip == nil || ip.To4() == nil {
					t.Errorf("%s: address %q is not IPv4", node.Name, node.Address)
				}
				checkVMOnServer(ctx, t, c, cl, env, node)
			}
			listed, err := c.List(ctx, simNS, cl.Owner)
			if err != nil || !reflect.DeepEqual(listed, nodes) {
				t.Errorf("List = %+v, %v; want %+v", listed, err, nodes)
			}
			// cloud-init reached the host: our host key and the user's merged file.
			first := simNS + "/" + nodes[0].Name
			hk, _ := cl.Login.HostKey(nodes[0].Name)
			if out, err := s.Exec(ctx, first, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"); err != nil || !strings.HasPrefix(string(out), hk.AuthorizedKey) {
				t.Errorf("host key of %s = %q (%v), want the injected one", first, out, err)
			}
			if out, err := s.Exec(ctx, first, "cat", "/etc/harvesterrke-test"); err != nil || string(out) != "merged" {
				t.Errorf("the user's write_files did not reach %s: %q (%v)", first, out, err)
			}
			removeAndCheck(ctx, t, s, c, cl)
		})
	}
}

// checkVMOnServer compares the VM the API server holds (after strict field validation against the
// real CRD schema) with the spec we built: every field we set is there with our value.
func checkVMOnServer(ctx context.Context, t testing.TB, c *Client, cl Cluster, env Environment, node VM) {
	t.Helper()
	got, err := c.Dynamic.Resource(gvrVM).Namespace(cl.Template.Namespace).Get(ctx, node.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get vm %s: %v", node.Name, err)
	}
	want, err := VMSpec(cl, env, node)
	if err != nil {
		t.Fatal(err)
	}
	wantU, err := toUnstructured(want)
	if err != nil {
		t.Fatal(err)
	}
	if path, ok := subset(wantU.Object["spec"], got.Object["spec"], "spec"); !ok {
		t.Errorf("vm %s on the server differs from our spec at %s", node.Name, path)
	}
	for k, v := range want.Labels {
		if got.GetLabels()[k] != v {
			t.Errorf("vm %s label %s = %q, want %q", node.Name, k, got.GetLabels()[k], v)
		}
	}
	if got.GetAnnotations()[annotationVolumeClaims] != want.Annotations[annotationVolumeClaims] {
		t.Errorf("vm %s volumeClaimTemplates = %s", node.Name, got.GetAnnotations()[annotationVolumeClaims])
	}
	var vm kubevirtv1.VirtualMachine
	if err := toTyped(got.Object, &vm); err != nil {
		t.Fatal(err)
	}
	s, err := c.Core.CoreV1().Secrets(vm.Namespace).Get(ctx, CloudInitSecretName(vm.Name), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("cloud-init secret of %s: %v", vm.Name, err)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != vm.UID {
		t.Errorf("secret of %s owned by %+v, want VM UID %s", vm.Name, s.OwnerReferences, vm.UID)
	}
	pvc, err := c.Core.CoreV1().PersistentVolumeClaims(vm.Namespace).Get(ctx, RootDiskPVCName(vm.Name), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("root disk of %s: %v", vm.Name, err)
	}
	if vm.UID != types.UID(node.UID) {
		t.Errorf("vm %s has uid %s, the driver saw %s", vm.Name, vm.UID, node.UID)
	}
	if pvc.Annotations[annotationImageID] != simImage || pvc.Labels[LabelCluster] != cl.Owner.Name || pvc.Labels[LabelClusterID] != cl.Owner.ID {
		t.Errorf("root disk of %s: imageId %q labels %v", vm.Name, pvc.Annotations[annotationImageID], pvc.Labels)
	}
}

// subset reports whether every value in want is in got (maps key by key, lists item by item).
func subset(want, got interface{}, path string) (string, bool) {
	switch w := want.(type) {
	case map[string]interface{}:
		g, ok := got.(map[string]interface{})
		if !ok {
			return path, false
		}
		for k, v := range w {
			if p, ok := subset(v, g[k], path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []interface{}:
		g, ok := got.([]interface{})
		if !ok || len(g) != len(w) {
			return path, false
		}
		for i := range w {
			if p, ok := subset(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	case nil:
		return "", true
	default:
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(got)
		return path, string(wb) == string(gb)
	}
}

// TestIntegrationResumeAfterKill kills a converging call part way through creating VMs (as a killed
// driver process would stop) and checks that the next one completes without duplicates.
func TestIntegrationResumeAfterKill(t *testing.T) {
	s := harvestersim.Start(t, harvestersim.Options{})
	ctx := context.Background()
	cl := simCluster(t, "it-kill", 9)

	cfg, err := RESTConfig(Credentials{Kubeconfig: s.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	killCtx, kill := context.WithCancel(ctx)
	var vmPosts atomic.Int64
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/virtualmachines") && vmPosts.Add(1) == 4 {
				kill()
			}
			return rt.RoundTrip(r)
		})
	}
	killed, err := NewClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	killed.Concurrency = 2
	env, err := killed.Preflight(ctx, cl.Template)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := converge(killCtx, killed, cl, env); err == nil {
		t.Fatal("the killed call reported success")
	}
	c, _ := simClient(t, s)
	nodes, err := converge(ctx, c, cl, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 10 {
		t.Errorf("nodes after resume = %v", vmNames(nodes))
	}
	vms, err := c.Dynamic.Resource(gvrVM).Namespace(simNS).List(ctx, metav1.ListOptions{LabelSelector: cl.Owner.selector()})
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := c.Core.CoreV1().Secrets(simNS).List(ctx, metav1.ListOptions{LabelSelector: cl.Owner.selector()})
	if err != nil {
		t.Fatal(err)
	}
	if len(vms.Items) != 10 || len(secrets.Items) != 10 {
		t.Errorf("after resume: %d VMs and %d secrets, want 10 each", len(vms.Items), len(secrets.Items))
	}
	if _, err := c.WaitForAddresses(ctx, simNS, cl.Owner, nodes, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	removeAndCheck(ctx, t, s, c, cl)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestIntegrationPreflight checks that missing objects are reported before anything is created.
func TestIntegrationPreflight(t *testing.T) {
	s := harvestersim.Start(t, harvestersim.Options{NoHosts: true})
	c, _ := simClient(t, s)
	ctx := context.Background()
	cl := simCluster(t, "it-pre", 0)

	opsKey := strings.TrimSpace(cl.Login.AuthorizedKeys[0]) + " ops"
	keyPair := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "harvesterhci.io/v1beta1", "kind": "KeyPair",
		"metadata": map[string]interface{}{"namespace": simNS, "name": "ops"},
		"spec":     map[string]interface{}{"publicKey": opsKey},
	}}
	if _, err := c.Dynamic.Resource(gvrKeyPair).Namespace(simNS).Create(ctx, keyPair, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
		t.Fatalf("create key pair: %v", err)
	}
	cl.Template.KeyPair = "ops"
	env, err := c.Preflight(ctx, cl.Template)
	if err != nil {
		t.Fatalf("pre-flight against a complete Harvester: %v", err)
	}
	if env.StorageClass != "longhorn-debian-12-nodocker" || env.KeyPairKey != opsKey {
		t.Errorf("environment = %+v", env)
	}

	for _, tc := range []struct {
		name   string
		modify func(*VMTemplate)
		want   []string
	}{
		{"missing image, network and key pair", func(tm *VMTemplate) {
			tm.Image.Name, tm.Network.Name, tm.KeyPair = "nope", "nope", "nope"
		}, []string{"image: VirtualMachineImage default/nope: not found", "network: NetworkAttachmentDefinition default/nope: not found", "keypair: KeyPair default/nope: not found"}},
		{"missing namespace", func(tm *VMTemplate) { tm.Namespace = "nope" }, []string{`vm-namespace: namespace "nope" does not exist`, "keypair: KeyPair nope/ops: not found"}},
		{"disk smaller than the image", func(tm *VMTemplate) { tm.DiskSize = resource.MustParse("1Gi") }, []string{"disk-size: 1Gi is smaller than image default/debian-12-nodocker (2Gi)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm := cl.Template
			tc.modify(&tm)
			_, err := c.Preflight(ctx, tm)
			wantAll(t, err, tc.want...)
			t.Logf("Preflight: %v", err)
			if left := clusterObjects(ctx, t, c, cl); len(left) > 0 {
				t.Errorf("pre-flight created %v", left)
			}
		})
	}
	t.Run("credentials rejected", func(t *testing.T) {
		bad, err := NewClient(Credentials{Server: s.Server, Token: "not-a-valid-token", CAData: s.CACert})
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.Preflight(ctx, cl.Template)
		wantAll(t, err, "token: Harvester at "+s.Server+" rejected the credentials")
		if strings.Contains(err.Error(), "not-a-valid-token") {
			t.Error("the error quotes the token")
		}
	})
	t.Run("unknown CA", func(t *testing.T) {
		bad, err := NewClient(Credentials{Server: s.Server, CertData: s.ClientCert, KeyData: s.ClientKey})
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.Preflight(ctx, cl.Template)
		wantAll(t, err, "client-certificate-data: TLS verification of Harvester at")
	})
}

// TestIntegrationFaults: a VM that never gets an address and a VM whose creation is rejected are
// named in the errors, and Remove still cleans up everything.
func TestIntegrationFaults(t *testing.T) {
	s := harvestersim.Start(t, harvestersim.Options{})
	c, _ := simClient(t, s)
	ctx := context.Background()
	cl := simCluster(t, "it-fault", 3)
	if err := s.InjectFault(ctx, simNS+"/it-fault-worker-1", harvestersim.Fault{NoAddress: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.InjectFault(ctx, simNS+"/it-fault-worker-3", harvestersim.Fault{RejectCreate: "quota exceeded (test)"}); err != nil {
		t.Fatal(err)
	}
	env, err := c.Preflight(ctx, cl.Template)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := converge(ctx, c, cl, env)
	wantAll(t, err, "create vm default/it-fault-worker-3", "quota exceeded (test)")
	t.Logf("CreateNodes: %v", err)
	if got := vmNames(nodes); !reflect.DeepEqual(got, []string{"it-fault-cp-1", "it-fault-worker-1", "it-fault-worker-2"}) {
		t.Errorf("nodes = %v", got)
	}
	nodes, err = c.WaitForAddresses(ctx, simNS, cl.Owner, nodes, 10*time.Second)
	wantAll(t, err, "it-fault-worker-1: running, no address on the first interface yet")
	t.Logf("WaitForAddresses: %v", err)
	if strings.Contains(err.Error(), "it-fault-cp-1") || nodes[0].Address == "" {
		t.Errorf("the healthy node is reported or has no address: %v / %+v", err, nodes)
	}
	removeAndCheck(ctx, t, s, c, cl)
}

// TestIntegrationWaitSurvivesAPIRestart restarts Harvester's API server while the driver waits for
// addresses; the wait reconnects and completes.
func TestIntegrationWaitSurvivesAPIRestart(t *testing.T) {
	s := harvestersim.Start(t, harvestersim.Options{BootDelay: 8 * time.Second})
	c, _ := simClient(t, s)
	ctx := context.Background()
	cl := simCluster(t, "it-restart", 2)
	env, err := c.Preflight(ctx, cl.Template)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := converge(ctx, c, cl, env)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		nodes []VM
		err   error
	}
	done := make(chan result, 1)
	go func() {
		n, err := c.WaitForAddresses(ctx, simNS, cl.Owner, nodes, 3*time.Minute)
		done <- result{n, err}
	}()
	if err := s.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("wait across an API server restart: %v", r.err)
	}
	for _, n := range r.nodes {
		if n.Address == "" {
			t.Errorf("%s has no address", n.Name)
		}
	}
	removeAndCheck(ctx, t, s, c, cl)
}
