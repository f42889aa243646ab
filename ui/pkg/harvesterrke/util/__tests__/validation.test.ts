import fs from 'fs';
import path from 'path';
import jsyaml from 'js-yaml';
import { newForm, FormState } from '../form';
import { validate, Problem } from '../validation';
import { OPTIONS } from '../options';

const KUBECONFIG = 'apiVersion: v1\nkind: Config\nclusters:\n- name: h\n  cluster:\n    server: https://h:6443\n';
const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
const KEY = '-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----';

function validForm(): FormState {
  const form = newForm();

  form.clusterName = 'prod';
  form.accessMethod = 'kubeconfig';
  form.values['kubeconfig-content'] = KUBECONFIG;
  form.values.image = 'default/ubuntu';

  return form;
}

function problems(change: (f: FormState) => void, isEdit = false): Problem[] {
  const form = validForm();

  change(form);

  return validate(form, { isEdit, originalAccessMethod: 'kubeconfig' });
}

const keys = (ps: Problem[]) => ps.map((p) => `${ p.option }:${ p.key }`);

describe('validate', () => {
  it('accepts the defaults with a name, access and an image', () => {
    expect(problems(() => {})).toEqual([]);
  });

  it.each([
    ['cluster name', (f: FormState) => (f.clusterName = 'Prod'), 'name:clusterName'],
    ['missing cluster name', (f: FormState) => (f.clusterName = ''), 'name:required'],
    ['missing credential', (f: FormState) => (f.accessMethod = 'cloudCredential'), 'cloud-credential:required'],
    ['missing kubeconfig', (f: FormState) => (f.values['kubeconfig-content'] = ''), 'kubeconfig-content:required'],
    ['garbage kubeconfig', (f: FormState) => (f.values['kubeconfig-content'] = 'hello'), 'kubeconfig-content:notPlainOrBase64'],
    ['broken kubeconfig YAML', (f: FormState) => (f.values['kubeconfig-content'] = 'clusters: [oops'), 'kubeconfig-content:kubeconfig'],
    ['http API URL', (f: FormState) => Object.assign(f, { accessMethod: 'token' }) && Object.assign(f.values, { 'api-url': 'http://h', token: 't' }), 'api-url:httpsURL'],
    ['token missing', (f: FormState) => Object.assign(f, { accessMethod: 'token' }) && Object.assign(f.values, { 'api-url': 'https://h' }), 'token:required'],
    ['key that is a certificate', (f: FormState) => Object.assign(f, { accessMethod: 'certificate' }) && Object.assign(f.values, { 'api-url': 'https://h', 'client-certificate-data': CERT, 'client-key-data': CERT }), 'client-key-data:pemPrivateKey'],
    ['namespace', (f: FormState) => (f.values['vm-namespace'] = 'Default'), 'vm-namespace:namespace'],
    ['image missing', (f: FormState) => (f.values.image = ''), 'image:requiredRef'],
    ['image reference', (f: FormState) => (f.values.image = 'default/Ubuntu'), 'image:objectRef'],
    ['key pair elsewhere', (f: FormState) => Object.assign(f.values, { keypair: 'other/k', 'ssh-private-key': KEY }), 'keypair:keypairNamespace'],
    ['key pair without key', (f: FormState) => (f.values.keypair = 'k'), 'keypair:keypairNeedsKey'],
    ['cpus', (f: FormState) => (f.values.cpus = 0), 'cpus:range'],
    ['memory unit', (f: FormState) => (f.values.memory = '4GB'), 'memory:quantity'],
    ['memory too small', (f: FormState) => (f.values.memory = '256Mi'), 'memory:quantityMin'],
    ['reserved memory', (f: FormState) => (f.values['reserved-memory'] = '4Gi'), 'reserved-memory:reservedMemory'],
    ['disk too small', (f: FormState) => (f.values['disk-size'] = '512Mi'), 'disk-size:quantityMin'],
    ['disk bus', (f: FormState) => (f.values['disk-bus'] = 'ide'), 'disk-bus:oneOf'],
    ['VM label', (f: FormState) => (f.values['vm-labels'] = ['team=a b']), 'vm-labels:label'],
    ['VM label without =', (f: FormState) => (f.values['vm-labels'] = ['team']), 'vm-labels:keyValue'],
    ['ssh user', (f: FormState) => (f.values['ssh-user'] = 'Root'), 'ssh-user:linuxUser'],
    ['ssh key', (f: FormState) => (f.values['ssh-private-key'] = CERT), 'ssh-private-key:sshKey'],
    ['encrypted ssh key', (f: FormState) => (f.values['ssh-private-key'] = '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n-----END RSA PRIVATE KEY-----'), 'ssh-private-key:sshKeyEncrypted'],
    ['zero workers', (f: FormState) => (f.values['worker-count'] = 0), 'worker-count:count'],
    ['pool name', (f: FormState) => Object.assign(f, { poolMode: 'custom', pools: [{ name: 'All', count: 1, roles: ['etcd', 'controlplane', 'worker'] }] }), 'node-pools:poolName'],
    ['pool twice', (f: FormState) => Object.assign(f, { poolMode: 'custom', pools: [{ name: 'a', count: 1, roles: ['etcd', 'controlplane'] }, { name: 'a', count: 1, roles: ['worker'] }] }), 'node-pools:poolTwice'],
    ['pool without roles', (f: FormState) => Object.assign(f, { poolMode: 'custom', pools: [{ name: 'a', count: 1, roles: ['etcd', 'controlplane', 'worker'] }, { name: 'b', count: 1, roles: [] }] }), 'node-pools:poolRoles'],
    ['role missing', (f: FormState) => Object.assign(f, { poolMode: 'custom', pools: [{ name: 'a', count: 3, roles: ['etcd', 'controlplane'] }] }), 'node-pools:roleMissing'],
    ['pool count', (f: FormState) => Object.assign(f, { poolMode: 'custom', pools: [{ name: 'a', count: 0, roles: ['etcd', 'controlplane', 'worker'] }] }), 'node-pools:poolCount'],
    ['VM names too long', (f: FormState) => (f.values['vm-name-prefix'] = 'x'.repeat(50)), 'vm-name-prefix:vmNameLength'],
    ['prefix', (f: FormState) => (f.values['vm-name-prefix'] = 'a_b'), 'vm-name-prefix:namePrefix'],
    ['docker version', (f: FormState) => (f.values['docker-version'] = '28'), 'docker-version:dockerVersion'],
    ['install URL', (f: FormState) => (f.values['docker-install-url'] = 'ftp://x/y.sh'), 'docker-install-url:httpURL'],
    ['mirror', (f: FormState) => (f.values['registry-mirrors'] = ['mirror.example.com']), 'registry-mirrors:mirror'],
    ['insecure registry', (f: FormState) => (f.values['insecure-registries'] = ['https://r']), 'insecure-registries:registryHost'],
    ['engine option JSON', (f: FormState) => (f.values['engine-options'] = ['log-opts={"max-size":']), 'engine-options:engineOptionJSON'],
    ['kubernetes version', (f: FormState) => (f.values['kubernetes-version'] = '1.32.7'), 'kubernetes-version:kubernetesVersion'],
    ['network plugin', (f: FormState) => (f.values['network-plugin'] = 'cilium'), 'network-plugin:oneOf'],
    ['cluster domain', (f: FormState) => (f.values['cluster-domain'] = 'Cluster.Local'), 'cluster-domain:clusterDomain'],
    ['CIDR', (f: FormState) => (f.values['cluster-cidr'] = '10.42.0.0'), 'cluster-cidr:cidr'],
    ['CIDR too small', (f: FormState) => (f.values['service-cidr'] = '10.43.0.0/25'), 'service-cidr:cidrTooSmall'],
    ['overlapping CIDRs', (f: FormState) => (f.values['service-cidr'] = '10.42.128.0/17'), 'service-cidr:cidrOverlap'],
    ['user data header', (f: FormState) => (f.values['user-data'] = 'packages: [jq]'), 'user-data:cloudConfigHeader'],
    ['user data YAML', (f: FormState) => (f.values['user-data'] = '#cloud-config\npackages: [jq'), 'user-data:cloudConfigYAML'],
    ['timeout', (f: FormState) => (f.values['vm-ready-timeout'] = 90000), 'vm-ready-timeout:range'],
  ])('reports %s', (_, change, expected) => {
    expect(keys(problems(change))).toContain(expected);
  });

  it('takes base64 content', () => {
    expect(problems((f) => (f.values['kubeconfig-content'] = Buffer.from(KUBECONFIG).toString('base64')))).toEqual([]);
    expect(problems((f) => (f.values['user-data'] = Buffer.from('#cloud-config\npackages: [jq]\n').toString('base64')))).toEqual([]);
  });

  it('lets an edit keep the stored secrets of the same access method', () => {
    expect(problems((f) => (f.values['kubeconfig-content'] = ''), true)).toEqual([]);
    expect(keys(problems((f) => Object.assign(f, { accessMethod: 'token' }) && (f.values['api-url'] = 'https://h'), true))).toContain('token:required');
  });

  it.each([
    ['a scheme', 'https://registry.example.com', 'registryURL'],
    ['a path', 'registry.example.com/rancher', 'registryURL'],
    ['a port out of range', 'registry.example.com:0', 'registryPort'],
    ['a name Docker reads as a Docker Hub account', 'registry', 'registryURLDotless'],
  ])('reports a private registry with %s', (_, url, key) => {
    expect(keys(problems((f) => (f.values['private-registry-url'] = url)))).toEqual([`private-registry-url:${ key }`]);
  });

  it('checks the private registry\'s credentials and CA', () => {
    const registry = (values: Record<string, string>) => (f: FormState) => Object.assign(f.values, { 'private-registry-url': 'registry.example.com:5000', ...values });

    expect(problems(registry({ 'private-registry-username': 'u', 'private-registry-password': 'p', 'private-registry-ca-cert': CERT + '\n' + CERT }))).toEqual([]);
    expect(keys(problems(registry({ 'private-registry-username': 'u' })))).toEqual(['private-registry-password:registryPassword']);
    expect(keys(problems(registry({ 'private-registry-password': 'p' })))).toEqual(['private-registry-username:registryUserRequired']);
    expect(keys(problems(registry({ 'private-registry-ca-cert': `${ CERT }\n${ KEY }` })))).toEqual(['private-registry-ca-cert:pemCertificates']);
    expect(keys(problems((f) => (f.values['private-registry-ca-cert'] = CERT)))).toEqual(['private-registry-ca-cert:registryURLRequired']);
    // Rancher does not return the password on edit: an empty one keeps the stored one.
    expect(problems(registry({ 'private-registry-username': 'u' }), true)).toEqual([]);
  });
});

describe('messages', () => {
  const l10n: any = jsyaml.load(fs.readFileSync(path.join(__dirname, '../../l10n/en-us.yaml'), 'utf8'));

  it('exist for every problem the validation can report', () => {
    const source = fs.readFileSync(path.join(__dirname, '../validation.ts'), 'utf8');
    const used = new Set([...source.matchAll(/c\.add\([^,]+, '(\w+)'/g)].map((m) => m[1]).concat(['engineOptionJSON', 'label', 'summary', 'credentialUnreadable', 'registryURL', 'registryPort', 'registryURLDotless']));

    expect(used.size).toBeGreaterThan(30);
    used.forEach((key) => expect([key, typeof l10n.harvesterrke.validation[key]]).toEqual([key, 'string']));
  });

  it('label every option', () => {
    OPTIONS.forEach((o) => expect([o.name, typeof l10n.harvesterrke.option[o.name]?.label]).toEqual([o.name, 'string']));
  });
});
