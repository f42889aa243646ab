//go:build linux && amd64

package rkeimages

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
	rkelog "github.com/rancher/rke/log"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestSmoke loads the images into a Docker host of its own and has RKE v1.8.6, as the driver runs
// it, build a one-node cluster, snapshot and restore its etcd and remove it: every command RKE runs
// in the images on one node. It then runs the two that only multi-node clusters reach: the
// nginx-proxy of worker-only nodes and a snapshot download from another etcd host.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("takes minutes: builds the images (cached), runs RKE on a Docker host of its own")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: network, mount and PID namespaces and a dockerd of its own")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	set, err := Build(ctx, Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	node := startNode(ctx, t, set.Dir)
	start := time.Now()
	if err := set.Load(ctx, node.run, set.Archive); err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %s into the node's dockerd in %s", strings.Join(set.Tags(), ", "), time.Since(start).Round(time.Millisecond))
	// The stand-in's seam: each fake host's kubelet gets its own cgroup root.
	if _, err := node.run(ctx, "sh", "-c", "mkdir -p /etc/rkeimages && echo --cgroup-root=/"+node.cgroup+"/kubelet >/etc/rkeimages/kubelet.flags"); err != nil {
		t.Fatal(err)
	}
	tunables := kernelTunables(t)

	cfg := rke.Config{
		Nodes:  []rke.Node{{Name: "n1", Address: node.ip, User: "root", Roles: []string{rke.RoleEtcd, rke.RoleControlPlane, rke.RoleWorker}}},
		SSHKey: sshKey(t),
		// As the driver's tests build clusters: no add-on, so no image beyond the four.
		Options: rke.Options{NetworkPlugin: "none", IngressProvider: "none", DNSProvider: "none", MonitoringProvider: "none"},
	}
	dialers := rke.Dialers{
		Docker: func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", node.dockerSocket())
		},
		Port: func(ctx context.Context, _, target string) (net.Conn, error) { return node.dial(ctx, target) },
	}
	ctx = rkelog.SetLogger(ctx, testLogger{t})

	start = time.Now()
	res, err := rke.Up(ctx, cfg, rke.Files{}, dialers)
	if err != nil {
		t.Fatalf("RKE up: %v\n%s", err, containerLogs(ctx, node))
	}
	t.Logf("RKE up took %s", time.Since(start).Round(time.Second))
	if out, err := node.run(ctx, "docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"); err == nil {
		t.Logf("memory of the node's containers:\n%s", out)
	}
	client := kubeClient(t, res)
	checkNode(ctx, t, client)
	kubepods := filepath.Join("/sys/fs/cgroup/memory", node.cgroup, "kubelet/kubepods")
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		kubepods = filepath.Join("/sys/fs/cgroup", node.cgroup, "kubelet/kubepods") // cgroup v2
	}
	if _, err := os.Stat(kubepods); err != nil {
		t.Errorf("kubelet did not use the cgroup root of /etc/rkeimages/kubelet.flags: %v", err)
	}
	if now := kernelTunables(t); now != tunables {
		t.Errorf("the kubelet changed the machine's kernel tunables:\n%s\nwas:\n%s", now, tunables)
	}
	checkNginxProxy(ctx, t, node)

	// Snapshot: a ConfigMap made before it must come back with the restore, one made after must not.
	mkConfigMap(ctx, t, client, "before-snapshot")
	if err := rke.SnapshotSave(ctx, cfg, res.Files, dialers, "smoke"); err != nil {
		t.Fatalf("snapshot save: %v\n%s", err, containerLogs(ctx, node))
	}
	if _, err := node.run(ctx, "test", "-s", "/opt/rke/etcd-snapshots/smoke.zip"); err != nil {
		t.Fatalf("snapshot save left no archive: %v", err)
	}
	checkSnapshotDownload(ctx, t, node, "smoke")
	mkConfigMap(ctx, t, client, "after-snapshot")
	start = time.Now()
	res, err = rke.SnapshotRestore(ctx, cfg, res.Files, dialers, "smoke")
	if err != nil {
		t.Fatalf("snapshot restore: %v\n%s", err, containerLogs(ctx, node))
	}
	t.Logf("RKE snapshot restore took %s", time.Since(start).Round(time.Second))
	client = kubeClient(t, res)
	checkNode(ctx, t, client)
	for name, want := range map[string]bool{"before-snapshot": true, "after-snapshot": false} {
		_, err := client.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{})
		if got := err == nil; got != want || (err != nil && !apierrors.IsNotFound(err)) {
			t.Errorf("ConfigMap %s after the restore: %v, want present: %v", name, err, want)
		}
	}
	if err := rke.SnapshotRemove(ctx, cfg, res.Files, dialers, "smoke"); err != nil {
		t.Fatalf("snapshot remove: %v", err)
	}
	if out, err := node.run(ctx, "ls", "/opt/rke/etcd-snapshots"); err != nil || strings.Contains(string(out), "smoke") {
		t.Errorf("snapshot remove left %q (%v)", out, err)
	}

	if err := rke.Remove(ctx, cfg, dialers); err != nil {
		t.Fatalf("RKE remove: %v", err)
	}
	if out, err := node.run(ctx, "docker", "ps", "--all", "--format", "{{.Names}}"); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("containers left after remove: %q (%v)", out, err)
	}
}

// checkNode checks that the kubelet registered the node through the CRI runtime of the image.
func checkNode(ctx context.Context, t *testing.T, client kubernetes.Interface) {
	t.Helper()
	n, err := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("node n1: %v", err)
	}
	info := n.Status.NodeInfo
	if info.KubeletVersion != "v"+kubeVersion || !strings.HasPrefix(info.ContainerRuntimeVersion, "containerd://") {
		t.Errorf("node n1 runs kubelet %s on %s, want v%s on containerd", info.KubeletVersion, info.ContainerRuntimeVersion, kubeVersion)
	}
}

// checkNginxProxy runs the proxy as RKE does on worker-only nodes and asks the API server for its
// health through it, with the node's credentials.
func checkNginxProxy(ctx context.Context, t *testing.T, node *testNode) {
	t.Helper()
	if _, err := node.run(ctx, "docker", "run", "--detach", "--name", "smoke-nginx-proxy", "--env", "CP_HOSTS="+node.ip,
		"--entrypoint", "nginx-proxy", ToolsTag, "CP_HOSTS="+node.ip); err != nil {
		t.Fatal(err)
	}
	defer node.run(context.Background(), "docker", "rm", "--force", "smoke-nginx-proxy")
	ip := containerIP(ctx, t, node, "smoke-nginx-proxy")
	out, err := retry(ctx, 30*time.Second, func() ([]byte, error) {
		return node.run(ctx, "docker", "run", "--rm", "--volume", "/etc/kubernetes:/etc/kubernetes", KubeTag,
			"kubectl", "--kubeconfig", "/etc/kubernetes/ssl/kubecfg-kube-node.yaml", "--server", "https://"+ip+":6443",
			"--tls-server-name", "kubernetes", "get", "--raw", "/healthz")
	})
	if err != nil || string(out) != "ok" {
		logs, _ := node.run(ctx, "docker", "logs", "smoke-nginx-proxy")
		t.Errorf("API health through nginx-proxy: %q, %v\nproxy logs: %s", out, err, logs)
	}
}

// checkSnapshotDownload has one container serve the snapshot, as RKE's restore does on the first
// etcd host, and another download it, as on the others.
func checkSnapshotDownload(ctx context.Context, t *testing.T, node *testNode, name string) {
	t.Helper()
	certs := []string{"--cacert", "/etc/kubernetes/ssl/kube-ca.pem", "--cert", "/etc/kubernetes/ssl/kube-node.pem", "--key", "/etc/kubernetes/ssl/kube-node-key.pem"}
	serve := append([]string{"docker", "run", "--detach", "--name", "smoke-serve-backup", "--volume", "/opt/rke/etcd-snapshots:/backup",
		"--volume", "/etc/kubernetes:/etc/kubernetes", ToolsTag, "/opt/rke-tools/rke-etcd-backup", "etcd-backup", "serve", "--name", name}, certs...)
	if _, err := node.run(ctx, serve...); err != nil {
		t.Fatal(err)
	}
	defer node.run(context.Background(), "docker", "rm", "--force", "smoke-serve-backup")
	ip := containerIP(ctx, t, node, "smoke-serve-backup")
	download := append([]string{"docker", "run", "--rm", "--volume", "/opt/rke/smoke-download:/backup", "--volume", "/etc/kubernetes:/etc/kubernetes",
		ToolsTag, "/opt/rke-tools/rke-etcd-backup", "etcd-backup", "download", "--name", name, "--local-endpoint", ip}, certs...)
	if _, err := retry(ctx, 30*time.Second, func() ([]byte, error) { return node.run(ctx, download...) }); err != nil {
		logs, _ := node.run(ctx, "docker", "logs", "smoke-serve-backup")
		t.Fatalf("download snapshot: %v\nserver logs: %s", err, logs)
	}
	out, err := node.run(ctx, "sh", "-c", "md5sum < /opt/rke/etcd-snapshots/"+name+"; md5sum < /opt/rke/smoke-download/"+name)
	if sums := strings.Split(strings.TrimSpace(string(out)), "\n"); err != nil || len(sums) != 2 || sums[0] != sums[1] {
		t.Errorf("served and downloaded snapshots differ: %q, %v", out, err)
	}
}

func containerIP(ctx context.Context, t *testing.T, node *testNode, name string) string {
	t.Helper()
	out, err := node.run(ctx, "docker", "inspect", "--format", "{{.NetworkSettings.IPAddress}}", name)
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("address of container %s: %q, %v", name, out, err)
	}
	return string(bytes.TrimSpace(out))
}

// retry runs f until it succeeds or the time is up, for servers just started.
func retry(ctx context.Context, d time.Duration, f func() ([]byte, error)) ([]byte, error) {
	deadline := time.Now().Add(d)
	for {
		out, err := f()
		if err == nil || time.Now().After(deadline) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func mkConfigMap(ctx context.Context, t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ConfigMap %s: %v", name, err)
	}
}

func kubeClient(t *testing.T, res rke.Result) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(&rest.Config{Host: res.Endpoint, Timeout: 30 * time.Second, TLSClientConfig: rest.TLSClientConfig{
		CAData: []byte(res.CACert), CertData: []byte(res.ClientCert), KeyData: []byte(res.ClientKey),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// kernelTunables are the machine-wide sysctls a kubelet would change.
func kernelTunables(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, s := range strings.Fields("vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes") {
		v, err := os.ReadFile("/proc/sys/" + s)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%s", s, v)
	}
	return b.String()
}

func sshKey(t *testing.T) []byte {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// containerLogs is the end of every container's log on the node, for a failure's message.
func containerLogs(ctx context.Context, node *testNode) string {
	out, err := node.run(ctx, "docker", "ps", "--all", "--format", "{{.Names}}")
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, name := range strings.Fields(string(out)) {
		logs, _ := node.run(ctx, "sh", "-c", "docker logs --tail 15 "+name+" 2>&1")
		fmt.Fprintf(&b, "--- %s\n%s", name, logs)
	}
	return b.String()
}

// testLogger passes RKE's progress to the test log.
type testLogger struct{ t *testing.T }

func (l testLogger) Debugf(string, ...any)         {}
func (l testLogger) Infof(msg string, args ...any) { l.t.Logf(msg, args...) }
func (l testLogger) Warnf(msg string, args ...any) { l.t.Logf("WARNING: "+msg, args...) }
