// Package cloudinit does in a fake host what cloud-init does in a VM: it parses a VM's user data
// (#cloud-config or a script) and renders the seed, the files and scripts that apply it in
// cloud-init's stages and order when the host boots.
package cloudinit

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// cloudConfig is the part of cloud-init's #cloud-config that fake hosts apply, with cloud-init's
// field names and its tolerance for alternative shapes (a string or a list, "default" in users).
type cloudConfig struct {
	Hostname          string            `json:"hostname,omitempty"`
	Users             []cloudUser       `json:"users,omitempty"`
	SSHAuthorizedKeys []string          `json:"ssh_authorized_keys,omitempty"`
	SSHKeys           map[string]string `json:"ssh_keys,omitempty"`
	SSHGenKeyTypes    []string          `json:"ssh_genkeytypes,omitempty"`
	DisableRoot       *bool             `json:"disable_root,omitempty"`
	WriteFiles        []writeFile       `json:"write_files,omitempty"`
	RunCmd            []shellCommand    `json:"runcmd,omitempty"`
	Packages          []packageSpec     `json:"packages,omitempty"`
}

// supportedKeys are the top-level keys applied; others are logged in the host as ignored.
var supportedKeys = map[string]bool{
	"hostname": true, "users": true, "ssh_authorized_keys": true, "ssh_keys": true, "ssh_genkeytypes": true,
	"disable_root": true, "write_files": true, "runcmd": true, "packages": true,
}

type cloudUser struct {
	Default           bool       `json:"-"` // the "default" entry: the image's default user
	Name              string     `json:"name"`
	Gecos             string     `json:"gecos,omitempty"`
	Groups            stringList `json:"groups,omitempty"`
	PrimaryGroup      string     `json:"primary_group,omitempty"`
	Sudo              stringList `json:"sudo,omitempty"` // false, a rule or a list of rules
	Shell             string     `json:"shell,omitempty"`
	Homedir           string     `json:"homedir,omitempty"`
	LockPasswd        *bool      `json:"lock_passwd,omitempty"`
	SSHAuthorizedKeys []string   `json:"ssh_authorized_keys,omitempty"`
}

func (u *cloudUser) UnmarshalJSON(b []byte) error {
	var name string
	if json.Unmarshal(b, &name) == nil {
		*u = cloudUser{Name: name, Default: name == "default"}
		return nil
	}
	type plain cloudUser
	return json.Unmarshal(b, (*plain)(u))
}

// stringList accepts cloud-init's "a, b" string, a list, or false/null (empty).
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = nil
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				*l = append(*l, p)
			}
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		*l = list
		return nil
	}
	var flag *bool
	if err := json.Unmarshal(b, &flag); err == nil && (flag == nil || !*flag) {
		*l = nil
		return nil
	}
	return fmt.Errorf("want a string or a list of strings, got %s", b)
}

// shellCommand is a runcmd item: a string runs through the shell as written, a list is an argv that
// cloud-init quotes word by word. Anything else (an unquoted false) makes cloud-init's runcmd module
// fail as a whole, so it is kept to fail it at boot.
type shellCommand struct {
	Line    string
	Argv    []string
	Invalid string
}

func (c *shellCommand) UnmarshalJSON(b []byte) error {
	if json.Unmarshal(b, &c.Line) == nil {
		return nil
	}
	var argv []any
	if err := json.Unmarshal(b, &argv); err != nil {
		c.Invalid = string(b)
		return nil
	}
	for _, a := range argv {
		c.Argv = append(c.Argv, fmt.Sprint(a))
	}
	return nil
}

// shell renders the command as cloud-init's runcmd script line.
func (c shellCommand) shell() string {
	if c.Argv == nil {
		return c.Line
	}
	q := make([]string, len(c.Argv))
	for i, a := range c.Argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// packageSpec is a packages item: a name or [name, version].
type packageSpec string

func (p *packageSpec) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*p = packageSpec(s)
		return nil
	}
	var nv []any // a version may read as a number
	if err := json.Unmarshal(b, &nv); err != nil || len(nv) == 0 {
		return fmt.Errorf("packages item: want a name or [name, version], got %s", b)
	}
	parts := make([]string, len(nv))
	for i, v := range nv {
		parts[i] = fmt.Sprint(v)
	}
	*p = packageSpec(strings.Join(parts, "="))
	return nil
}

type writeFile struct {
	Path        string   `json:"path"`
	Content     string   `json:"content,omitempty"`
	Encoding    string   `json:"encoding,omitempty"`
	Owner       string   `json:"owner,omitempty"`
	Permissions fileMode `json:"permissions,omitempty"`
	Append      bool     `json:"append,omitempty"`
	Defer       bool     `json:"defer,omitempty"`
}

// fileMode accepts "0644" (a string, octal) or 0644 (YAML 1.1 reads it as an octal number).
type fileMode struct {
	set  bool
	mode uint32
}

func (m *fileMode) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
		if err != nil {
			return fmt.Errorf("permissions %q: %w", s, err)
		}
		*m = fileMode{set: true, mode: uint32(v)}
		return nil
	}
	var n uint32
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("permissions: want an octal string or number, got %s", b)
	}
	*m = fileMode{set: true, mode: n}
	return nil
}

// decode returns the file's bytes according to its encoding, as cloud-init's write_files does.
func (f writeFile) decode() ([]byte, error) {
	switch strings.ToLower(f.Encoding) {
	case "", "text/plain":
		return []byte(f.Content), nil
	case "b64", "base64":
		return base64.StdEncoding.DecodeString(strings.TrimSpace(f.Content))
	case "gz", "gzip":
		return gunzip([]byte(f.Content))
	case "gz+base64", "gzip+base64", "gz+b64", "gzip+b64":
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(f.Content))
		if err != nil {
			return nil, err
		}
		return gunzip(raw)
	}
	return nil, fmt.Errorf("unknown encoding %q", f.Encoding)
}

func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// UserData is a VM's cloud-init user data as a fake host applies it.
type UserData struct {
	config  cloudConfig
	script  []byte   // user data that is a script ("#!"): cloud-init runs it in its final stage
	ignored []string // top-level keys the stand-in does not apply
	// problem is why the user data could not be applied; cloud-init logs it and boots without it, so
	// nobody can log in - which a driver test should notice.
	problem string
}

// Parse reads user data as cloud-init does; what it cannot apply is in the result, to be logged in
// the host at boot as cloud-init would.
func Parse(data []byte) UserData {
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return UserData{}
	case bytes.HasPrefix(data, []byte("#!")):
		return UserData{script: data}
	case !bytes.HasPrefix(data, []byte("#cloud-config")):
		return UserData{problem: "unhandled user-data format (want #cloud-config or a #! script)"}
	}
	var ud UserData
	if err := yaml.Unmarshal(data, &ud.config); err != nil {
		return UserData{problem: fmt.Sprintf("invalid #cloud-config: %v", err)}
	}
	var keys map[string]json.RawMessage
	if err := yaml.Unmarshal(data, &keys); err == nil {
		for k := range keys {
			if !supportedKeys[k] {
				ud.ignored = append(ud.ignored, k)
			}
		}
		sort.Strings(ud.ignored)
	}
	return ud
}

// shellQuote quotes s for POSIX sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
