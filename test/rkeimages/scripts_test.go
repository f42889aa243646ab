package rkeimages

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// script writes an embedded rke-tools script to a temporary file and returns its path.
func script(t *testing.T, name string) string {
	t.Helper()
	data, err := imageFiles.ReadFile("imagefiles/rke-tools/" + name)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), filepath.Base(name))
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// bash runs code after sourcing file (the scripts only run main when executed), with env only.
func bash(t *testing.T, file string, env []string, code string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"-c", `source "$1"; shift; ` + code, "bash", file}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Logf("stderr: %s", stderr.String())
	}
	return string(out), err
}

func splitNUL(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\x00"), "\x00")
}

func TestEntrypointKeepFlags(t *testing.T) {
	ep := script(t, "opt/rke-tools/entrypoint.sh")
	tests := []struct {
		component string
		args      []string
		want      []string
	}{
		{"kube-apiserver", []string{"--cloud-provider=", "--secure-port=6443", "--cloud-config=/etc/kubernetes/cloud-config.json", "--etcd-prefix=/registry"},
			[]string{"--secure-port=6443", "--etcd-prefix=/registry"}},
		{"kube-apiserver", []string{"--cloud-provider-gce-lb-src-cidrs=1.2.3.0/24", "--v=2"},
			[]string{"--cloud-provider-gce-lb-src-cidrs=1.2.3.0/24", "--v=2"}},
		{"kubelet", []string{"--cloud-provider=", "--hostname-override=n1", "--resolv-conf=/etc/resolv.conf"},
			[]string{"--cloud-provider=", "--hostname-override=n1", "--resolv-conf=/etc/resolv.conf"}},
		{"kube-controller-manager", []string{"--cloud-provider=", "--use-service-account-credentials=true"},
			[]string{"--cloud-provider=", "--use-service-account-credentials=true"}},
		{"kube-scheduler", nil, nil},
		{"kube-proxy", []string{"--arg with space=a b"}, []string{"--arg with space=a b"}},
	}
	for _, tc := range tests {
		t.Run(tc.component, func(t *testing.T) {
			out, err := bash(t, ep, nil, `keep_flags "$@"; (( ${#ARGS[@]} )) && printf '%s\0' "${ARGS[@]}"; true`, append([]string{tc.component}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if got := splitNUL(out); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEntrypointFlagHelpers(t *testing.T) {
	ep := script(t, "opt/rke-tools/entrypoint.sh")
	extra := filepath.Join(t.TempDir(), "kubelet.flags")
	if err := os.WriteFile(extra, []byte("# per-host cgroup root\n--cgroup-root=/hs-vm1\n\n--kubelet-cgroups=/hs-vm1/kubelet"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, code string
		want       string
		wantErr    bool
	}{
		{name: "value", code: `flag_value container-runtime-endpoint`, want: "unix:///var/run/cri-dockerd.sock\n"},
		{name: "value with =", code: `flag_value register-with-taints`, want: "node-role.kubernetes.io/controlplane=true:NoSchedule\n"},
		{name: "no value", code: `flag_value cgroup-driver`, wantErr: true},
		{name: "has", code: `has_flag fail-swap-on && echo yes`, want: "yes\n"},
		{name: "prefix is not the flag", code: `has_flag container-runtime || echo no`, want: "no\n"},
		{name: "from file", code: `add_flags_from ` + extra + `; printf '%s\n' "${ARGS[@]:3}"`, want: "--cgroup-root=/hs-vm1\n--kubelet-cgroups=/hs-vm1/kubelet\n"},
		{name: "no file", code: `add_flags_from /nonexistent; echo ${#ARGS[@]}`, want: "3\n"},
	}
	args := []string{"kubelet", "--container-runtime-endpoint=unix:///var/run/cri-dockerd.sock", "--fail-swap-on=false", "--register-with-taints=node-role.kubernetes.io/controlplane=true:NoSchedule"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := bash(t, ep, nil, `keep_flags "$@"; `+tc.code, args...)
			if tc.wantErr != (err != nil) {
				t.Fatalf("error %v, want error: %v", err, tc.wantErr)
			}
			if out != tc.want {
				t.Errorf("got %q, want %q", out, tc.want)
			}
		})
	}
}

func TestContainerdConfig(t *testing.T) {
	ep := script(t, "opt/rke-tools/entrypoint.sh")
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{name: "defaults", want: []string{
			`root = "/var/lib/docker/rkeimages-cri"`,
			`state = "/run/rkeimages-cri"`,
			`address = "/var/run/cri-dockerd.sock"`,
			`sandbox_image = "rancher/mirrored-pause:3.7"`,
			`stream_server_address = "127.0.0.1"`,
			`stream_server_port = "10010"`,
			`snapshotter = "overlayfs"`,
			`runtime_type = "io.containerd.runc.v2"`,
			`bin_dir = "/opt/cni/bin"`,
			`conf_dir = "/etc/cni/net.d"`,
		}},
		{name: "RKE's stream server settings", env: []string{"CRIDOCKERD_STREAM_SERVER_ADDRESS=10.0.0.1", "CRIDOCKERD_STREAM_SERVER_PORT=10011"}, want: []string{
			`stream_server_address = "10.0.0.1"`,
			`stream_server_port = "10011"`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := bash(t, ep, tc.env, `containerd_config "$@"`, "/var/lib/docker/rkeimages-cri", "/run/rkeimages-cri", "/var/run/cri-dockerd.sock", "rancher/mirrored-pause:3.7")
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("config lacks %s:\n%s", w, out)
				}
			}
		})
	}
}

// The node's pod network is installed at each kubelet start, also after RKE's cleanup removed it.
func TestInstallPodNetwork(t *testing.T) {
	ep := script(t, "opt/rke-tools/entrypoint.sh")
	tests := []struct {
		name      string
		nodeFiles []string // below POD_NETWORK_DIR; none: the node has no pod network
		want      []string // below the CNI root afterwards
	}{
		{"the node has one", []string{"net.d/10-pods.conflist", "bin/bridge", "bin/loopback"},
			[]string{"etc/cni/net.d/10-pods.conflist", "opt/cni/bin/bridge", "opt/cni/bin/loopback"}},
		{"the node has none", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			node, root := filepath.Join(t.TempDir(), "cni"), t.TempDir()
			for _, f := range tc.nodeFiles {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(node, f)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(node, f), []byte(f), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			code := `POD_NETWORK_DIR=$1 CNI_CONF_DIR=$2/etc/cni/net.d CNI_BIN_DIR=$2/opt/cni/bin; install_pod_network`
			if _, err := bash(t, ep, nil, code, node, root); err != nil {
				t.Fatal(err)
			}
			var got []string
			_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(root, p)
					got = append(got, rel)
				}
				return nil
			})
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("installed %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCertDeployer(t *testing.T) {
	deployer := script(t, "usr/bin/cert-deployer")
	dir := filepath.Join(t.TempDir(), "ssl")
	run := func(env ...string) {
		t.Helper()
		cmd := exec.Command(deployer)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "CRTS_DEPLOY_PATH=" + dir, "HOME=/root"}, env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cert-deployer: %v\n%s", err, out)
		}
	}
	pem := func(s string) string { return "-----BEGIN CERTIFICATE-----\n" + s + "\n-----END CERTIFICATE-----\n" }
	kubecfg := "apiVersion: v1\nkind: Config\n"
	// As RKE passes them (pki.CertificatePKI.ToEnv): PEM with a trailing newline.
	run("KUBE_CA="+pem("ca1"), "KUBE_CA_KEY=key1\n", "KUBE_ETCD_10_0_0_1="+pem("etcd1"), "KUBECFG_KUBE_NODE="+kubecfg, "OTHER=x")
	want := map[string]string{
		"kube-ca.pem":            pem("ca1"),
		"kube-ca-key.pem":        "key1\n",
		"kube-etcd-10-0-0-1.pem": pem("etcd1"),
		"kubecfg-kube-node.yaml": kubecfg,
	}
	check := func(want map[string]string) {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(want) {
			t.Errorf("files %v, want %d", entries, len(want))
		}
		for name, content := range want {
			p := filepath.Join(dir, name)
			got, err := os.ReadFile(p)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if string(got) != content {
				t.Errorf("%s: got %q, want %q", name, got, content)
			}
			if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", name, fi.Mode())
			}
		}
	}
	check(want)

	// Existing files are kept...
	run("KUBE_CA="+pem("ca2"), "KUBECFG_KUBE_NODE=changed\n")
	check(want)
	// ...unless RKE forces a redeploy (rotated or re-issued certificates); kubeconfigs still stay.
	run("KUBE_CA="+pem("ca2"), "KUBECFG_KUBE_NODE=changed\n", "FORCE_DEPLOY=true")
	want["kube-ca.pem"] = pem("ca2")
	check(want)
}

func TestNginxProxyConfig(t *testing.T) {
	proxy := script(t, "usr/bin/nginx-proxy")
	out, err := bash(t, proxy, nil, `nginx_config "$1"`, "10.0.0.1,fd00::2")
	if err != nil {
		t.Fatal(err)
	}
	want := `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
error_log stderr notice;
pid /run/nginx.pid;

events {
  worker_connections 1024;
}

stream {
  upstream kube_apiserver {
    server 10.0.0.1:6443;
    server [fd00::2]:6443;
  }
  server {
    listen 6443;
    proxy_pass kube_apiserver;
    proxy_timeout 10m;
    proxy_connect_timeout 2s;
  }
}
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	if _, err := bash(t, proxy, nil, `main "$@"`); err == nil {
		t.Error("nginx-proxy without control plane hosts succeeded")
	}
}
