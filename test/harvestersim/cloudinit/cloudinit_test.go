package cloudinit

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestParseUserData(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    string
		check   func(t *testing.T, ud UserData)
		problem string
	}{
		{name: "empty", data: "", check: func(t *testing.T, ud UserData) {
			if !reflect.DeepEqual(ud, UserData{}) {
				t.Errorf("got %+v", ud)
			}
		}},
		{name: "script", data: "#!/bin/sh\necho hi\n", check: func(t *testing.T, ud UserData) {
			if string(ud.script) != "#!/bin/sh\necho hi\n" {
				t.Errorf("script %q", ud.script)
			}
		}},
		{name: "not cloud-config", data: "users: []\n", problem: "unhandled user-data format"},
		{name: "invalid yaml", data: "#cloud-config\nusers: [\n", problem: "invalid #cloud-config"},
		{name: "users in all shapes", data: `#cloud-config
users:
- default
- name: a
  groups: "x, y"
  sudo: false
- name: b
  groups: [z]
  sudo: ["ALL=(ALL) NOPASSWD:ALL", "ALL=(root) /bin/true"]
  lock_passwd: false
`, check: func(t *testing.T, ud UserData) {
			u := ud.config.Users
			if len(u) != 3 || !u[0].Default || u[1].Name != "a" || !reflect.DeepEqual(u[1].Groups, stringList{"x", "y"}) ||
				u[1].Sudo != nil || len(u[2].Sudo) != 2 || u[2].LockPasswd == nil || *u[2].LockPasswd {
				t.Errorf("users %+v", u)
			}
		}},
		{name: "runcmd shapes", data: "#cloud-config\nruncmd:\n- echo a\n- [sh, -c, \"echo 'b'\"]\n- [touch, 1]\n- false\n", check: func(t *testing.T, ud UserData) {
			r := ud.config.RunCmd
			if len(r) != 4 || r[0].shell() != "echo a" || r[1].shell() != `'sh' '-c' 'echo '\''b'\'''` ||
				r[2].shell() != "'touch' '1'" || r[3].Invalid != "false" {
				t.Errorf("runcmd %+v", r)
			}
		}},
		{name: "permissions", data: "#cloud-config\nwrite_files:\n- {path: /a, permissions: '0640'}\n- {path: /b, permissions: 0755}\n", check: func(t *testing.T, ud UserData) {
			w := ud.config.WriteFiles
			if w[0].Permissions.mode != 0o640 || w[1].Permissions.mode != 0o755 {
				t.Errorf("modes %o %o", w[0].Permissions.mode, w[1].Permissions.mode)
			}
		}},
		{name: "ignored keys", data: "#cloud-config\npackage_update: true\nbootcmd: [x]\nruncmd: [y]\n", check: func(t *testing.T, ud UserData) {
			if !reflect.DeepEqual(ud.ignored, []string{"bootcmd", "package_update"}) {
				t.Errorf("ignored %v", ud.ignored)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ud := Parse([]byte(tc.data))
			if tc.problem != "" {
				if !strings.Contains(ud.problem, tc.problem) {
					t.Errorf("problem %q, want %q", ud.problem, tc.problem)
				}
				return
			}
			if ud.problem != "" {
				t.Fatalf("problem %q", ud.problem)
			}
			tc.check(t, ud)
		})
	}
}

func TestWriteFileDecode(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("zipped"))
	zw.Close()
	b64 := base64.StdEncoding.EncodeToString
	for _, tc := range []struct {
		enc, content, want string
		fails              bool
	}{
		{"", "plain", "plain", false},
		{"text/plain", "plain", "plain", false},
		{"b64", b64([]byte("x")), "x", false},
		{"base64", b64([]byte("y")), "y", false},
		{"gz", gz.String(), "zipped", false},
		{"gzip+base64", b64(gz.Bytes()), "zipped", false},
		{"gz+b64", b64(gz.Bytes()), "zipped", false},
		{"b64", "not base64!", "", true},
		{"rot13", "x", "", true},
	} {
		got, err := writeFile{Content: tc.content, Encoding: tc.enc}.decode()
		if (err != nil) != tc.fails || string(got) != tc.want {
			t.Errorf("%s: %q, %v", tc.enc, got, err)
		}
	}
}

func TestRenderSeed(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q test"
	for _, tc := range []struct {
		name     string
		userData string
		want     []string // in init.sh
		wantNot  []string
		final    []string // in final.sh
	}{
		{
			name:     "default user gets the keys, root the hint",
			userData: "#cloud-config\nssh_authorized_keys: [\"" + key + "\"]\n",
			want: []string{
				"useradd -m -c 'Debian' -s '/bin/bash' -G 'adm,audio,cdrom,dialout,dip,floppy,netdev,plugdev,sudo,video' 'debian'",
				"add_keys 'debian' '' '" + key + "'",
				`Please login as the user \"debian\" rather than the user \"root\".`,
				"ssh-keygen -q -t 'ed25519'",
			},
		},
		{
			name:     "no default user: root's hint names NONE",
			userData: "#cloud-config\nusers: [{name: rke}]\nssh_authorized_keys: [\"" + key + "\"]\n",
			want:     []string{"'rke'", `Please login as the user \"NONE\"`},
			wantNot:  []string{"'debian'"},
		},
		{
			name:     "disable_root false",
			userData: "#cloud-config\ndisable_root: false\nssh_authorized_keys: [\"" + key + "\"]\n",
			want:     []string{"add_keys root '' '" + key + "'"},
			wantNot:  []string{"Please login"},
		},
		{
			name:     "host keys given: exactly those",
			userData: "#cloud-config\nssh_keys:\n  ed25519_private: PRIVATE\n  rsa_private: RSA\n  rsa_public: RSAPUB\n  dsa_private: X\n",
			want:     []string{"/etc/ssh/ssh_host_ed25519_key", "ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key.pub", "ssh_keys entries ignored: dsa_private"},
			wantNot:  []string{"ssh-keygen -q"},
		},
		{
			name:     "deferred files and runcmd in the final stage",
			userData: "#cloud-config\nwrite_files:\n- {path: /now, content: a}\n- {path: /later, content: b, defer: true, owner: 'x:y', append: true}\nruncmd: [\"true\"]\npackages: [jq, [curl, 7.88]]\n",
			want:     []string{"> '/now'"},
			wantNot:  []string{"'/later'"},
			final:    []string{">> '/later'", "chown 'x:y' '/later'", "scripts/runcmd", "not installed in fake hosts: jq curl=7.88"},
		},
		{
			name:     "invalid runcmd fails the module only",
			userData: "#cloud-config\nruncmd: [false]\n",
			final:    []string{"module runcmd 1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Boot{VMName: "vm", DefaultUser: "debian", AptProxy: "10.200.0.1:3142", UserData: []byte(tc.userData)}
			ud := Parse(b.UserData)
			if ud.problem != "" {
				t.Fatalf("parse: %s", ud.problem)
			}
			s := Render(b, ud)
			initSh, finalSh := string(s[StateDir+"/init.sh"].Data), string(s[StateDir+"/final.sh"].Data)
			for _, w := range tc.want {
				if !strings.Contains(initSh, w) {
					t.Errorf("init.sh lacks %q:\n%s", w, initSh)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(initSh, w) {
					t.Errorf("init.sh has %q:\n%s", w, initSh)
				}
			}
			for _, w := range tc.final {
				if !strings.Contains(finalSh, w) {
					t.Errorf("final.sh lacks %q:\n%s", w, finalSh)
				}
			}
			for name, script := range map[string]string{"init.sh": initSh, "final.sh": finalSh} {
				if out, err := exec.Command("sh", "-n", "-c", script).CombinedOutput(); err != nil {
					t.Errorf("%s is not valid shell: %v: %s", name, err, out)
				}
			}
		})
	}
}
