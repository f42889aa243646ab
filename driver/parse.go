package driver

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rancher/kontainer-engine/types"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/docker"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/harvester"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/ssh"
)

const (
	minMemory   = 512 << 20
	minDiskSize = 1 << 30
	maxTimeout  = 24 * 60 * 60
	// VM names are hostnames and label values: <prefix>-<pool>-<n> must fit in 63 characters.
	maxVMName = validation.DNS1123LabelMaxLength
)

var (
	linuxUser    = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	dockerMinor  = regexp.MustCompile(`^\d+\.\d+$`)
	registryHost = regexp.MustCompile(`^[A-Za-z0-9.-]+(:\d{1,5})?$`)
)

// ParseOptions reads and validates Rancher's options into a cluster spec. It reports every invalid
// option in one *OptionsError and contacts nothing.
func ParseOptions(opts *types.DriverOptions) (provision.Spec, error) {
	return parseOptions(opts, nil)
}

// parseOptions is ParseOptions for an existing cluster: secrets missing from opts keep their
// previous values, because Rancher strips password fields from the options it sends on Update.
func parseOptions(opts *types.DriverOptions, previous *provision.Spec) (provision.Spec, error) {
	r := newOptionReader(opts)
	var s provision.Spec

	s.Name = r.str(optName)
	if s.Name == "" {
		r.problem(optName, "required: the cluster name")
	}
	s.Access = parseAccess(r, previous)
	s.Template = parseTemplate(r, s.Name)
	s.SSH = parseSSH(r, s.Template.KeyPair != "", previous)
	s.Pools = parsePools(r, s.Template.NamePrefix)
	parseVMOptions(r, &s.Template, s.Pools, previous == nil)
	s.Docker = parseDocker(r)
	s.Registry = parseRegistry(r, previous)
	s.PrepullImages = r.boolean(optPrepull)
	s.Kubernetes = parseKubernetes(r)
	checkKubernetes(r, s.Kubernetes)
	s.CloudProvider = parseCloudProvider(r, s.Template.NamePrefix, previous)
	s.APIEndpoint = parseAPIEndpoint(r)
	checkFingerprint(r)
	s.Timeouts = provision.Timeouts{
		VMReady:  seconds(r, optVMTimeout),
		SSHReady: seconds(r, optSSHTimeout),
	}
	return s, r.err()
}

func parseAccess(r *optionReader, previous *provision.Spec) harvester.Credentials {
	c := harvester.Credentials{
		Kubeconfig: []byte(r.text(optKubeconfig, looksLikeKubeconfig)),
		Server:     r.str(optAPIURL),
		Token:      r.str(optToken),
		CAData:     pemOption(r, optCAData, "CERTIFICATE"),
		CertData:   pemOption(r, optCertData, "CERTIFICATE"),
		KeyData:    pemOption(r, optKeyData, "PRIVATE KEY"),
		Insecure:   r.boolean(optInsecureTLS),
	}
	if previous != nil {
		var moved bool
		if c, moved = withPreviousSecrets(c, previous.Access); moved && len(c.Kubeconfig) == 0 && c.Token == "" && len(c.KeyData) == 0 {
			r.problem(secretOption(previous.Access), "required again: api-url, certificate-authority-data or insecure-skip-tls-verify changed, and a stored credential is only ever sent to the server it was given for")
			return c
		}
	}
	const ways = "authenticate with exactly one of: kubeconfig-content; api-url + token; api-url + client-certificate-data + client-key-data"
	// What was given counts, valid or not: an invalid value has its own problem already, and must
	// not also make another option look missing.
	given := func(name string, parsed []byte) bool { return len(parsed) > 0 || r.str(name) != "" }
	hasKubeconfig := given(optKubeconfig, c.Kubeconfig)
	hasCertData, hasKeyData := given(optCertData, c.CertData), given(optKeyData, c.KeyData)
	hasCert := hasCertData || hasKeyData
	switch {
	case hasKubeconfig && (c.Server != "" || c.Token != "" || hasCert || len(c.CAData) > 0):
		r.problem(optKubeconfig, "cannot be combined with api-url, token or certificates; %s", ways)
	case hasKubeconfig:
		if len(c.Kubeconfig) == 0 {
			break // not plain nor base64: already reported
		}
		if _, err := clientcmd.Load(c.Kubeconfig); err != nil {
			// The parser's message can quote the file; it may hold credentials.
			r.problem(optKubeconfig, "is not a valid kubeconfig")
		}
	case c.Server == "":
		r.problem(optAPIURL, "required unless kubeconfig-content is given; %s", ways)
	default:
		if u, err := url.Parse(c.Server); err != nil || u.Scheme != "https" || u.Host == "" {
			r.problem(optAPIURL, "must be an https URL such as https://harvester.example.com:6443")
		}
		switch {
		case c.Token != "" && hasCert:
			r.problem(optToken, "cannot be combined with client-certificate-data/client-key-data; %s", ways)
		case hasCertData && !hasKeyData:
			r.problem(optKeyData, "required with client-certificate-data: the two go together")
		case hasKeyData && !hasCertData:
			r.problem(optCertData, "required with client-key-data: the two go together")
		case c.Token == "" && !hasCert:
			r.problem(optToken, "required with api-url unless client-certificate-data and client-key-data are given")
		}
	}
	return c
}

// withPreviousSecrets fills the secrets Rancher strips from Update requests from the stored
// credentials of the same authentication method, but only while the server stays the same: the
// URL, the CA that verifies it and whether it is verified at all. Otherwise whoever may edit the
// cluster could send the stored token to a server of their choosing; moved reports that case.
// With no access option at all the stored credentials are kept as they are.
func withPreviousSecrets(c, prev harvester.Credentials) (_ harvester.Credentials, moved bool) {
	if len(c.Kubeconfig) > 0 {
		return c, false
	}
	if c.Server == "" && c.Token == "" && len(c.CertData) == 0 && len(c.KeyData) == 0 && len(c.CAData) == 0 {
		if c.Insecure != prev.Insecure {
			// Only verification changed: the stored credential stays out of it.
			prev.Kubeconfig, prev.Token, prev.KeyData = nil, "", nil
			prev.Insecure = c.Insecure
			return prev, true
		}
		return prev, false
	}
	if c.Server != prev.Server || !bytes.Equal(c.CAData, prev.CAData) || c.Insecure != prev.Insecure {
		return c, true
	}
	switch {
	case len(c.CertData) > 0 && len(c.KeyData) == 0:
		c.KeyData = prev.KeyData
	case len(c.CertData) == 0 && c.Token == "":
		c.Token = prev.Token
	}
	return c, false
}

// secretOption is the option that holds the secret of credentials.
func secretOption(c harvester.Credentials) string {
	switch {
	case len(c.Kubeconfig) > 0:
		return optKubeconfig
	case len(c.KeyData) > 0:
		return optKeyData
	default:
		return optToken
	}
}

func looksLikeKubeconfig(s string) bool {
	return strings.Contains(s, "clusters:") || strings.Contains(s, "apiVersion:") || strings.HasPrefix(strings.TrimSpace(s), "{")
}

// pemOption decodes a base64-encoded PEM option (plain PEM is accepted too) and checks its type.
func pemOption(r *optionReader, name, kind string) []byte {
	data := []byte(r.text(name, func(s string) bool { return strings.Contains(s, "-----BEGIN") }))
	if len(data) == 0 {
		return nil
	}
	block, _ := pem.Decode(data)
	if block == nil || !strings.Contains(block.Type, kind) {
		r.problem(name, "must be a base64-encoded PEM %s", strings.ToLower(kind))
		return nil
	}
	if kind == "CERTIFICATE" {
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			r.problem(name, "holds a certificate that does not parse")
			return nil
		}
	}
	return data
}

func parseTemplate(r *optionReader, cluster string) harvester.VMTemplate {
	t := harvester.VMTemplate{
		Namespace:   r.str(optNamespace),
		CPUs:        int(r.integer(optCPUs)),
		DiskBus:     r.str(optDiskBus),
		NamePrefix:  strings.ToLower(r.str(optPrefix)),
		Description: r.str(optDescription),
		UserData:    r.text(optUserData, func(s string) bool { return strings.HasPrefix(s, "#cloud-config") }),
	}
	if errs := validation.IsDNS1123Label(t.Namespace); len(errs) > 0 {
		r.problem(optNamespace, "must be a Kubernetes namespace name (%s)", strings.Join(errs, "; "))
	}
	t.Image = objectRef(r, optImage, t.Namespace, true)
	t.Network = objectRef(r, optNetwork, t.Namespace, false)
	if kp := objectRef(r, optKeyPair, t.Namespace, false); !kp.IsZero() {
		if kp.Namespace != t.Namespace {
			r.problem(optKeyPair, "must be in vm-namespace %q", t.Namespace)
		}
		t.KeyPair = kp.Name
	}
	if t.CPUs < 1 || t.CPUs > 256 {
		r.problem(optCPUs, "must be between 1 and 256, got %d", t.CPUs)
	}
	t.Memory = quantity(r, optMemory, minMemory, "512Mi")
	t.DiskSize = quantity(r, optDiskSize, minDiskSize, "1Gi")
	if r.str(optReservedMem) != "" {
		t.ReservedMemory = quantity(r, optReservedMem, 1, "1Mi")
		if !t.Memory.IsZero() && t.ReservedMemory.Cmp(t.Memory) >= 0 {
			r.problem(optReservedMem, "must be less than memory (%s)", t.Memory.String())
		}
	}
	switch t.DiskBus {
	case "virtio", "scsi", "sata":
	default:
		r.problem(optDiskBus, "must be virtio, scsi or sata, got %q", t.DiskBus)
	}
	if t.NamePrefix == "" {
		t.NamePrefix = strings.ToLower(cluster)
	}
	if errs := validation.IsDNS1123Label(t.NamePrefix); t.NamePrefix != "" && len(errs) > 0 {
		r.problem(optPrefix, "must be lowercase letters, digits and '-', starting and ending with a letter or digit (it defaults to the cluster name)")
	}
	if t.UserData != "" {
		var doc map[string]interface{}
		if err := yaml.Unmarshal([]byte(t.UserData), &doc); err != nil {
			r.problem(optUserData, "is not valid #cloud-config YAML: %s", harvester.YAMLProblem(err))
		}
	}
	t.Labels = keyValues(r, optVMLabels, func(k, v string) []string {
		return append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...)
	})
	return t
}

// objectRef parses <namespace>/<name> or a bare name in the default namespace.
func objectRef(r *optionReader, name, defaultNamespace string, required bool) harvester.ObjectRef {
	v := r.str(name)
	if v == "" {
		if required {
			r.problem(name, "required, as <namespace>/<name>")
		}
		return harvester.ObjectRef{}
	}
	ref := harvester.ObjectRef{Namespace: defaultNamespace, Name: v}
	if ns, n, ok := strings.Cut(v, "/"); ok {
		ref = harvester.ObjectRef{Namespace: ns, Name: n}
	}
	if len(validation.IsDNS1123Label(ref.Namespace)) > 0 || len(validation.IsDNS1123Subdomain(ref.Name)) > 0 {
		r.problem(name, "must be <namespace>/<name> with Kubernetes object names, got %q", v)
	}
	return ref
}

func quantity(r *optionReader, name string, min int64, minText string) resource.Quantity {
	v := r.str(name)
	q, err := resource.ParseQuantity(v)
	if err != nil {
		r.problem(name, "must be a quantity such as 4Gi or 512Mi, got %q", v)
		return resource.Quantity{}
	}
	if q.Value() < min {
		r.problem(name, "must be at least %s, got %q (quantities without a unit are bytes)", minText, v)
	}
	return q
}

func keyValues(r *optionReader, name string, check func(k, v string) []string) map[string]string {
	items := r.slice(name)
	if len(items) == 0 {
		return nil
	}
	out := make(map[string]string, len(items))
	for _, item := range items {
		k, v, ok := strings.Cut(item, "=")
		if !ok || k == "" {
			r.problem(name, "entries must be key=value, got %q", item)
			continue
		}
		if errs := check(k, v); len(errs) > 0 {
			r.problem(name, "%q: %s", item, strings.Join(errs, "; "))
			continue
		}
		out[k] = v
	}
	return out
}

func parseSSH(r *optionReader, hasKeyPair bool, previous *provision.Spec) provision.SSH {
	s := provision.SSH{User: r.str(optSSHUser), TrustOnFirstUse: r.boolean(optTOFU)}
	if !linuxUser.MatchString(s.User) {
		r.problem(optSSHUser, "must be a Linux user name (lowercase letters, digits, '_' and '-', at most 32 characters), got %q", s.User)
	}
	key := r.str(optSSHKey)
	if key != "" {
		if _, err := ssh.ParsePrivateKey([]byte(key)); err != nil {
			r.problem(optSSHKey, "%v", err) // its messages never quote key material
		} else {
			s.PrivateKey = []byte(key)
		}
	}
	if key == "" && previous != nil {
		s.PrivateKey = previous.SSH.PrivateKey
		key = string(s.PrivateKey)
	}
	if hasKeyPair && key == "" {
		r.problem(optKeyPair, "needs ssh-private-key: a KeyPair holds only the public key")
	}
	return s
}

func parsePools(r *optionReader, prefix string) []provision.Pool {
	var pools []provision.Pool
	if specs := r.slice(optNodePools); len(specs) > 0 {
		seen := map[string]bool{}
		for _, spec := range specs {
			p, err := parsePool(spec)
			if err != nil {
				r.problem(optNodePools, "%q: %v", spec, err)
				continue
			}
			if seen[p.Name] {
				r.problem(optNodePools, "pool %q is listed twice", p.Name)
			}
			seen[p.Name] = true
			pools = append(pools, p)
		}
	} else {
		for _, c := range []struct{ opt, pool, role string }{
			{optEtcdCount, "etcd", rke.RoleEtcd},
			{optCPCount, "control-plane", rke.RoleControlPlane},
			{optWorkerCount, "worker", rke.RoleWorker},
		} {
			n := r.integer(c.opt)
			if n < 1 {
				r.problem(c.opt, "must be at least 1, got %d (use node-pools to combine roles on fewer nodes)", n)
				continue
			}
			pools = append(pools, provision.Pool{Name: c.pool, Count: int(n), Roles: []string{c.role}})
		}
		if len(pools) < 3 {
			return pools
		}
	}
	if len(pools) > 0 {
		checkRoles(r, pools)
	}
	for _, p := range pools {
		longest := fmt.Sprintf("%s-%s-%d", prefix, p.Name, p.Count)
		if prefix != "" && len(longest) > maxVMName {
			r.problem(optPrefix, "VM names like %q exceed %d characters; shorten vm-name-prefix or the pool name", longest, maxVMName)
		}
	}
	return pools
}

var poolName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$`)

// parsePool reads name=count:role+role (',' also separates roles).
func parsePool(spec string) (provision.Pool, error) {
	name, rest, ok := strings.Cut(spec, "=")
	count, roles, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 {
		return provision.Pool{}, fmt.Errorf("must be name=count:roles, e.g. master=3:etcd+controlplane")
	}
	p := provision.Pool{Name: strings.TrimSpace(name)}
	if !poolName.MatchString(p.Name) {
		return p, fmt.Errorf("pool name must be 1-20 lowercase letters, digits or '-'")
	}
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n < 1 {
		return p, fmt.Errorf("count must be a whole number of at least 1")
	}
	p.Count = n
	seen := map[string]bool{}
	for _, role := range strings.FieldsFunc(roles, func(c rune) bool { return c == '+' || c == ',' || c == ' ' }) {
		switch role {
		case "control-plane", "controlplane":
			role = rke.RoleControlPlane
		case rke.RoleEtcd, rke.RoleWorker:
		default:
			return p, fmt.Errorf("unknown role %q; roles are etcd, controlplane and worker", role)
		}
		if !seen[role] {
			seen[role] = true
			p.Roles = append(p.Roles, role)
		}
	}
	if len(p.Roles) == 0 {
		return p, fmt.Errorf("needs at least one role of etcd, controlplane, worker")
	}
	return p, nil
}

func checkRoles(r *optionReader, pools []provision.Pool) {
	for _, role := range []string{rke.RoleEtcd, rke.RoleControlPlane, rke.RoleWorker} {
		found := false
		for _, p := range pools {
			for _, pr := range p.Roles {
				found = found || pr == role
			}
		}
		if !found {
			r.problem(optNodePools, "no pool has the %s role; a cluster needs at least one etcd, one controlplane and one worker node", role)
		}
	}
}

func parseDocker(r *optionReader) docker.Config {
	c := docker.Config{
		InstallMethod:      r.str(optDockerMethod),
		InstallURL:         r.str(optDockerURL),
		RegistryMirrors:    r.slice(optMirrors),
		InsecureRegistries: r.slice(optInsecureRegs),
		StorageDriver:      r.str(optStorageDriver),
		Labels:             r.slice(optEngineLabels),
	}
	switch c.InstallMethod {
	case docker.InstallScript:
		version := r.str(optDockerVersion)
		if c.InstallURL == "" {
			if !dockerMinor.MatchString(version) {
				r.problem(optDockerVersion, "must be major.minor such as 28.1, got %q", version)
			}
			c.InstallURL = "https://releases.rancher.com/install-docker/" + version + ".sh"
		}
		u, err := url.Parse(c.InstallURL)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			r.problem(optDockerURL, "must be an https URL of an install script, got %q", c.InstallURL)
		case u.Scheme == "http" && !r.boolean(optDockerURLHTTP):
			r.problem(optDockerURL, "must be https: the script runs as root on every node, and plain http lets anyone on the way change it (set %s for a mirror inside a trusted network)", optDockerURLHTTP)
		}
	case docker.InstallDistro, docker.InstallNone:
	default:
		r.problem(optDockerMethod, "must be script, distro or none, got %q", c.InstallMethod)
	}
	for _, m := range c.RegistryMirrors {
		if u, err := url.Parse(m); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			r.problem(optMirrors, "%q is not an http(s) URL", m)
		}
	}
	for _, h := range c.InsecureRegistries {
		if _, _, err := net.ParseCIDR(h); err != nil && !registryHost.MatchString(h) {
			r.problem(optInsecureRegs, "%q is not host[:port] or a CIDR", h)
		}
	}
	for _, l := range c.Labels {
		if k, _, ok := strings.Cut(l, "="); !ok || k == "" {
			r.problem(optEngineLabels, "entries must be key=value, got %q", l)
		}
	}
	if opts := keyValues(r, optEngineOptions, func(k, v string) []string { return nil }); len(opts) > 0 {
		c.Options = opts
		for k, v := range opts {
			if strings.HasPrefix(strings.TrimSpace(v), "{") || strings.HasPrefix(strings.TrimSpace(v), "[") {
				if !json.Valid([]byte(v)) {
					r.problem(optEngineOptions, "%s: value looks like JSON but does not parse", k)
				}
			}
		}
	}
	return c
}

func parseKubernetes(r *optionReader) rke.Options {
	return rke.Options{
		KubernetesVersion:   r.str(optK8sVersion),
		NetworkPlugin:       r.str(optNetPlugin),
		ClusterCIDR:         r.str(optClusterCIDR),
		ServiceCIDR:         r.str(optServiceCIDR),
		ClusterDomain:       r.str(optClusterDomain),
		IngressProvider:     r.str(optIngress),
		DNSProvider:         r.str(optDNS),
		MonitoringProvider:  r.str(optMonitoring),
		IgnoreDockerVersion: r.boolean(optIgnoreDocker),
	}
}

func seconds(r *optionReader, name string) time.Duration {
	n := r.integer(name)
	if n < 1 || n > maxTimeout {
		r.problem(name, "must be between 1 and %d seconds, got %d", maxTimeout, n)
	}
	return time.Duration(n) * time.Second
}
