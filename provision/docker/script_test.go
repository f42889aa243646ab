package docker

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestScriptGolden(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		user string
	}{
		{
			name: "script-defaults",
			cfg:  Config{InstallMethod: InstallScript, InstallURL: "https://releases.rancher.com/install-docker/28.1.sh"},
			user: "ubuntu",
		},
		{
			name: "distro-daemon-json",
			cfg: Config{
				InstallMethod:      InstallDistro,
				RegistryMirrors:    []string{"https://mirror.example.com"},
				InsecureRegistries: []string{"10.0.0.0/8", "registry.local:5000"},
				StorageDriver:      "overlay2",
				Labels:             []string{"zone=a", "owner=o'brien"},
				Options:            map[string]string{"log-opts": `{"max-size": "10m"}`, "log-driver": "json-file", "debug": "true"},
			},
			user: "rancher",
		},
		{
			name: "registry-ca",
			cfg:  Config{InstallMethod: InstallNone, RegistryCA: RegistryCA{Host: "registry.example.com:5000", PEM: []byte(testCA)}},
			user: "ubuntu",
		},
		{
			name: "none-root",
			cfg:  Config{InstallMethod: InstallNone, StorageDriver: "overlay2"},
			user: "root",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Script(tt.cfg, tt.user)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.name+".sh")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("script differs from %s (go test -update rewrites it; review the diff)", golden)
			}
		})
	}
}

func TestScriptErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		user string
		want string
	}{
		{name: "unknown method", cfg: Config{InstallMethod: "snap"}, user: "u", want: `unknown docker install method "snap"`},
		{name: "script without url", cfg: Config{InstallMethod: InstallScript}, user: "u", want: "needs an install URL"},
		{name: "no user", cfg: Config{InstallMethod: InstallNone}, want: "no ssh user"},
		{name: "bad label", cfg: Config{InstallMethod: InstallNone, Labels: []string{"novalue"}}, user: "u", want: `label "novalue" is not key=value`},
		{name: "registry CA outside certs.d", cfg: Config{InstallMethod: InstallNone, RegistryCA: RegistryCA{Host: "../..", PEM: []byte(testCA)}}, user: "u", want: `registry CA: "../.." is not host[:port]`},
		{name: "registry CA with a path", cfg: Config{InstallMethod: InstallNone, RegistryCA: RegistryCA{Host: "registry.example.com/x", PEM: []byte(testCA)}}, user: "u", want: "is not host[:port]"},
		{name: "option twice", cfg: Config{InstallMethod: InstallNone, StorageDriver: "overlay2", Options: map[string]string{"storage-driver": "btrfs"}}, user: "u", want: "storage-driver is already set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Script(tt.cfg, tt.user); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Script error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDaemonJSON(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "nothing set", cfg: Config{}, want: ""},
		{name: "mirrors", cfg: Config{RegistryMirrors: []string{"https://m1", "https://m2"}}, want: `{
  "registry-mirrors": [
    "https://m1",
    "https://m2"
  ]
}`},
		{name: "options as JSON or strings", cfg: Config{Options: map[string]string{
			"max-concurrent-downloads": "3", "live-restore": "true", "log-driver": "local",
			"default-ulimits": `{"nofile":{"Name":"nofile","Hard":64000,"Soft":64000}}`, "bip": "172.17.0.1/16",
		}}, want: `{
  "bip": "172.17.0.1/16",
  "default-ulimits": {
    "nofile": {
      "Name": "nofile",
      "Hard": 64000,
      "Soft": 64000
    }
  },
  "live-restore": true,
  "log-driver": "local",
  "max-concurrent-downloads": 3
}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := daemonJSON(tt.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("daemonJSON =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// The node's own daemon.json settings survive; the driver's win where both set a key.
func TestDaemonJSONMergesTheNodesFile(t *testing.T) {
	cfg := Config{RegistryMirrors: []string{"https://m1"}}
	existing := []byte(`{"default-runtime": "nosysres", "registry-mirrors": ["https://old"], "runtimes": {"nosysres": {"path": "/usr/local/sbin/w"}}}`)
	got, err := daemonJSON(cfg, existing)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "default-runtime": "nosysres",
  "registry-mirrors": [
    "https://m1"
  ],
  "runtimes": {
    "nosysres": {
      "path": "/usr/local/sbin/w"
    }
  }
}`
	if got != want {
		t.Errorf("merged daemon.json =\n%s\nwant\n%s", got, want)
	}
	if _, err := daemonJSON(cfg, []byte("not json")); err == nil {
		t.Error("a broken daemon.json on the node was overwritten silently")
	}
	if got, _ := daemonJSON(Config{}, existing); got != "" {
		t.Errorf("without settings the file must be left alone, got %s", got)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"": "''", "a b": "'a b'", "o'brien": `'o'\''brien'`, "$(x)`y`": "'$(x)`y`'"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestVersionMatches(t *testing.T) {
	tests := []struct {
		pattern, version string
		want             bool
	}{
		{"28.1.x", "28.1.1", true},
		{"28.1.x", "28.1.0-rc.1", true},
		{"28.1.x", "28.10.1", false},
		{"28.1.x", "28.0.4", false},
		{"20.10.x", "20.10.24+dfsg1", true},
		{"20.10.x", "20.10", false},
		{"27.x", "27.5.1", true},
		{"28.1", "28.1.1", true},
		{"*.*.*", "1.2.3", true},
		{"28.1.x", "v28.1.1", true},
		{"28.1.x", "", false},
	}
	for _, tt := range tests {
		if got := versionMatches(tt.pattern, tt.version); got != tt.want {
			t.Errorf("versionMatches(%q, %q) = %v, want %v", tt.pattern, tt.version, got, tt.want)
		}
	}
	cfg := Config{SupportedVersions: []string{"26.1.x", "28.1.x"}}
	if !cfg.supported("28.1.1") || cfg.supported("29.0.0") {
		t.Error("supported ignores the patterns")
	}
	cfg.IgnoreUnsupportedVersion = true
	if !cfg.supported("29.0.0") {
		t.Error("IgnoreUnsupportedVersion is not honoured")
	}
	if !(Config{}).supported("1.0.0") {
		t.Error("no patterns must mean no check")
	}
}

func TestMasker(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		in      []string
		want    []string
	}{
		{name: "plain", in: []string{"Setting up docker.io"}, want: []string{"Setting up docker.io"}},
		{
			name: "key block over lines",
			in:   []string{"before", "-----BEGIN OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAA", "-----END OPENSSH PRIVATE KEY----- after", "next"},
			want: []string{"before", maskedKey, maskedKey, maskedKey + " after", "next"},
		},
		{
			name: "key on one line",
			in:   []string{`{"key":"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----","x":1}`},
			want: []string{`{"key":"` + maskedKey + `","x":1}`},
		},
		{name: "base64 key", in: []string{"key=LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0K end"}, want: []string{"key=" + maskedKey + " end"}},
		{name: "secrets, longest first", secrets: []string{"", "hunter2", "hunter2-extended"}, in: []string{"login hunter2-extended then hunter2"}, want: []string{"login *** then ***"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMasker(tt.secrets)
			for i, l := range tt.in {
				if got := m.line(l); got != tt.want[i] {
					t.Errorf("line %d = %q, want %q", i, got, tt.want[i])
				}
			}
		})
	}
}
