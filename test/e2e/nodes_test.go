package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/ssh"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/driverproc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// The nodes the driver prepared are reached over its own SSH tunnel with strict host keys: Docker's
// API answers through it, a host with another key is refused, so is a wrong user or key; and a
// second bootstrap changes nothing.
func TestNodesOverTheDriversTunnel(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const name = "c-tunnel"
	opts := simOptions(sim, name)
	info, err := p.Client.Create(ctx, opts, nil)
	expectKubernetesStep(t, info, err)
	st := stateOf(t, info)

	signer, err := ssh.ParsePrivateKey(st.Cluster.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	dialer, err := ssh.NewDialer(ssh.Config{Signer: signer, AuthRetry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer dialer.Close()
	endpoint := func(node, address string, seed []byte) ssh.Endpoint {
		hk, err := ssh.DeriveHostKey(seed, node)
		if err != nil {
			t.Fatal(err)
		}
		return ssh.Endpoint{Name: node, Address: address, User: "ubuntu", HostKey: hk.Public}
	}

	for _, n := range st.Cluster.Nodes {
		ep := endpoint(n.Name, n.Address, st.Cluster.HostKeySeed)
		dial := dialer.DockerDialer(ctx, ep, "")
		client := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
			return dial("unix", ssh.DefaultDockerSocket)
		}}}
		resp, err := client.Get("http://docker/info")
		if err != nil {
			t.Fatalf("%s: docker info over the tunnel: %v", n.Name, err)
		}
		var dockerInfo struct{ ServerVersion, Name string }
		err = json.NewDecoder(resp.Body).Decode(&dockerInfo)
		resp.Body.Close()
		if err != nil || dockerInfo.ServerVersion == "" || dockerInfo.Name != n.Name {
			t.Errorf("%s: docker info %+v: %v", n.Name, dockerInfo, err)
		}
	}

	node := st.Cluster.Nodes[0]
	otherSeed := make([]byte, len(st.Cluster.HostKeySeed))
	if _, err := dialer.Dial(ctx, endpoint(node.Name, node.Address, otherSeed)); !errors.Is(err, ssh.ErrHostKeyMismatch) {
		t.Errorf("host with another key: %v", err)
	} else {
		t.Logf("other host key: %v", err)
	}
	wrongUser := endpoint(node.Name, node.Address, st.Cluster.HostKeySeed)
	wrongUser.User = "debian"
	if _, err := dialer.Dial(ctx, wrongUser); !errors.Is(err, ssh.ErrAuthRefused) {
		t.Errorf("wrong user: %v", err)
	}
	otherKey, _ := ssh.GenerateClientKey("other")
	otherSigner, _ := ssh.ParsePrivateKey(otherKey.PrivatePEM)
	otherDialer, _ := ssh.NewDialer(ssh.Config{Signer: otherSigner})
	defer otherDialer.Close()
	if _, err := otherDialer.Dial(ctx, endpoint(node.Name, node.Address, st.Cluster.HostKeySeed)); !errors.Is(err, ssh.ErrAuthRefused) {
		t.Errorf("wrong key: %v", err)
	}

	// The bootstrap is idempotent: a second Create leaves dockerd and daemon.json as they were.
	vm := "default/" + node.Name
	before, err := sim.Exec(ctx, vm, "sh", "-c", "pgrep -x dockerd; stat -c %Y /etc/docker/daemon.json 2>/dev/null; true")
	if err != nil {
		t.Fatal(err)
	}
	info.CreateError = ""
	again, err := p.Client.Create(ctx, opts, info)
	expectKubernetesStep(t, again, err)
	after, _ := sim.Exec(ctx, vm, "sh", "-c", "pgrep -x dockerd; stat -c %Y /etc/docker/daemon.json 2>/dev/null; true")
	if string(before) != string(after) || strings.TrimSpace(string(before)) == "" {
		t.Errorf("second bootstrap changed dockerd or daemon.json: %q -> %q", before, after)
	}

	if err := p.Client.Remove(ctx, again); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, sim, name)
}

// On an image without Docker, the driver installs it from the distribution's packages (through
// the stand-in's allow-listed proxy to the Debian mirror).
func TestDockerInstalledFromDistro(t *testing.T) {
	sim := harvestersim.Start(t, harvestersim.Options{})
	p := driverproc.Start(t, driverproc.Binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	const name = "c-distro"
	opts := simOptions(sim, name, "all=1:etcd+controlplane+worker")
	opts.StringOptions["image"] = "default/debian-12-nodocker"
	opts.StringOptions["docker-install-method"] = "distro"
	opts.IntOptions["ssh-ready-timeout"] = 60
	vm := "default/" + name + "-all-1"
	info, err := p.Client.Create(ctx, opts, nil)
	expectKubernetesStep(t, info, err)
	out, err := sim.Exec(ctx, vm, "sh", "-c", "dpkg -s docker.io | grep ^Status; docker version --format '{{.Server.Version}}'")
	if err != nil || !strings.Contains(string(out), "install ok installed") {
		t.Fatalf("docker.io not installed: %q %v", out, err)
	}
	t.Logf("installed: %s", out)
	if err := p.Client.Remove(ctx, info); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, sim, name)
}
