package harvester

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestMergeCloudConfig(t *testing.T) {
	for _, tc := range []struct {
		name        string
		base, extra string
		want        string
	}{
		{"no extra", "a: 1", "", "a: 1"},
		{"new keys are added", "a: 1", "b: 2", "{a: 1, b: 2}"},
		{"lists are appended, driver first", "runcmd: [[systemctl, enable, qga]]\npackages: [qemu-guest-agent]",
			"runcmd: [echo hi]\npackages: [htop]\nwrite_files: [{path: /etc/x, content: y}]",
			"{runcmd: [[systemctl, enable, qga], echo hi], packages: [qemu-guest-agent, htop], write_files: [{path: /etc/x, content: y}]}"},
		{"maps are merged deeply", "ssh_keys: {ed25519_public: K}", "ssh_keys: {rsa_public: R}", "ssh_keys: {ed25519_public: K, rsa_public: R}"},
		{"the driver's scalars win", "package_update: true\nusers: [{name: ubuntu}]", "package_update: false\nusers: [default]",
			"{package_update: true, users: [{name: ubuntu}, default]}"},
		{"a type clash keeps the driver's value", "packages: [a]", "packages: b", "packages: [a]"},
		{"null in extra keeps the driver's list", "runcmd: [a]", "runcmd:", "runcmd: [a]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, err := parseCloudConfig(tc.base)
			if err != nil {
				t.Fatal(err)
			}
			extra, err := parseCloudConfig(tc.extra)
			if err != nil {
				t.Fatal(err)
			}
			want, err := parseCloudConfig(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if got := mergeCloudConfig(base, extra); !reflect.DeepEqual(got, want) {
				t.Errorf("merge = %v, want %v", got, want)
			}
		})
	}
}

func TestUserDataGolden(t *testing.T) {
	cl := testCluster()
	cl.Template.UserData = "#cloud-config\nruncmd:\n- echo user-step\npackages: [htop]\nwrite_files:\n- path: /etc/motd\n  content: hello\ntimezone: Europe/Paris\n"
	ud, err := UserData(cl, testEnv, "demo-worker-1")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "userdata.golden.yaml", []byte(ud))
}

func TestUserDataContent(t *testing.T) {
	cl := testCluster()
	cl.Template.UserData = "#cloud-config\nruncmd: [echo user-step]\npackages: [htop]\nssh_authorized_keys: [ssh-ed25519 AAAAextra]\n"
	ud, err := UserData(cl, testEnv, "demo-cp-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ud, "#cloud-config\n") {
		t.Fatalf("user data must start with #cloud-config, got %q", strings.SplitN(ud, "\n", 2)[0])
	}
	var cfg struct {
		Users []struct {
			Name              string   `json:"name"`
			Sudo              string   `json:"sudo"`
			SSHAuthorizedKeys []string `json:"ssh_authorized_keys"`
		} `json:"users"`
		SSHKeys        map[string]string `json:"ssh_keys"`
		SSHDeleteKeys  bool              `json:"ssh_deletekeys"`
		Packages       []string          `json:"packages"`
		Runcmd         []interface{}     `json:"runcmd"`
		AuthorizedKeys []string          `json:"ssh_authorized_keys"`
	}
	if err := yaml.Unmarshal([]byte(ud), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Users) != 1 || cfg.Users[0].Name != "ubuntu" || cfg.Users[0].Sudo != "ALL=(ALL) NOPASSWD:ALL" {
		t.Errorf("users = %+v, want ubuntu with passwordless sudo", cfg.Users)
	}
	if want := []string{"ssh-ed25519 AAAAdriverkey driver", "ssh-ed25519 AAAAkeypair ops@example"}; !reflect.DeepEqual(cfg.Users[0].SSHAuthorizedKeys, want) {
		t.Errorf("authorized keys = %v, want the driver's and the key pair's %v", cfg.Users[0].SSHAuthorizedKeys, want)
	}
	if cfg.SSHKeys["ed25519_public"] != "ssh-ed25519 AAAAhostkey-demo-cp-1" || !strings.Contains(cfg.SSHKeys["ed25519_private"], "PLACEHOLDER-FOR-demo-cp-1") || !cfg.SSHDeleteKeys {
		t.Errorf("ssh_keys/ssh_deletekeys do not install the VM's own host key: %v %v", cfg.SSHKeys["ed25519_public"], cfg.SSHDeleteKeys)
	}
	if !reflect.DeepEqual(cfg.Packages, []string{"qemu-guest-agent", "htop"}) {
		t.Errorf("packages = %v, want the guest agent, then the user's", cfg.Packages)
	}
	if len(cfg.Runcmd) != 2 || cfg.Runcmd[1] != "echo user-step" {
		t.Errorf("runcmd = %v, want the driver's step, then the user's", cfg.Runcmd)
	}
	if !reflect.DeepEqual(cfg.AuthorizedKeys, []string{"ssh-ed25519 AAAAextra"}) {
		t.Errorf("the user's top-level ssh_authorized_keys were lost: %v", cfg.AuthorizedKeys)
	}
}

func TestUserDataErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Cluster, *Environment)
		want   string
	}{
		{"no user", func(c *Cluster, _ *Environment) { c.Login.User = "" }, "no login user"},
		{"no key at all", func(c *Cluster, e *Environment) { c.Login.AuthorizedKeys = nil; e.KeyPairKey = "" }, "no authorized key"},
		{"user data is not a map", func(c *Cluster, _ *Environment) { c.Template.UserData = "#!/bin/sh\necho hi" }, "user-data"},
		{"host key fails", func(c *Cluster, _ *Environment) {
			c.Login.HostKey = func(string) (HostKey, error) { return HostKey{}, errors.New("seed missing") }
		}, "seed missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, env := testCluster(), testEnv
			tc.modify(&cl, &env)
			_, err := UserData(cl, env, "demo-cp-1")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestUserDataWithoutHostKey(t *testing.T) {
	cl := testCluster()
	cl.Login.HostKey = nil
	ud, err := UserData(cl, Environment{}, "demo-cp-1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ud, "ssh_keys") || strings.Contains(ud, "ssh_deletekeys") {
		t.Errorf("without a host key the image's own keys must stay:\n%s", ud)
	}
}
