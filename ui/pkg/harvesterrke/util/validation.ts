/**
 * Client-side validation with the driver's rules (driver/parse.go, driver/validate.go), so an admin
 * sees a problem next to the field instead of in a failed provisioning log. The driver still checks
 * everything again; what needs the Harvester cluster (does the image exist?) is left to it.
 *
 * Each problem names the option it belongs to and a message key under harvesterrke.validation in
 * l10n/en-us.yaml.
 */
import jsyaml from 'js-yaml';
import { FormState } from './form';
import { CHOICES, ROLES, OPTIONS } from './options';
import { isFingerprint, FINGERPRINT_OPTION } from './fingerprint';
import { checkVMOptions } from './vmoptions';
import {
  isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isLabelValue, parseQuantity, parseIPv4, parseIPv4CIDR, cidrsOverlap,
  isURL, isRegistryHost, isIPv6CIDR, plainOrBase64, pemType
} from './syntax';

export interface Problem {
  /** a driver option (kebab-case), or `name` / `cloud-credential` for the form's own fields */
  option: string;
  key: string;
  args?: Record<string, string | number>;
}

export interface ValidationContext {
  isEdit: boolean;
  /** on edit: the access method the cluster was created or last saved with */
  originalAccessMethod?: string;
}

const MIN_MEMORY = 512 * 2 ** 20;
const MIN_DISK = 2 ** 30;
const MAX_TIMEOUT = 24 * 60 * 60;
const MAX_VM_NAME = 63;
const LINUX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const DOCKER_MINOR = /^\d+\.\d+$/;
const POOL_NAME = /^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/;
const RKE_VERSION = /^v\d+\.\d+\.\d+-rancher\d+-\d+$/;
// A registry as Docker's image names give it: dot-separated labels and an optional port.
const REGISTRY_URL = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:([0-9]{1,5}))?$/;
const MAX_HOST = 253;

const looksLikeKubeconfig = (s: string) => s.includes('clusters:') || s.includes('apiVersion:') || s.trim().startsWith('{');
const looksLikePEM = (s: string) => s.includes('-----BEGIN');
const looksLikePrivateKey = (s: string) => s.includes('PRIVATE KEY-----');
const looksLikeCloudConfig = (s: string) => s.startsWith('#cloud-config');

function parsesAsYAMLMap(s: string): boolean {
  try {
    const doc = jsyaml.load(s);

    return doc === null || doc === undefined || (typeof doc === 'object' && !Array.isArray(doc));
  } catch (e) {
    return false;
  }
}

class Collector {
  problems: Problem[] = [];

  add(option: string, key: string, args?: Record<string, string | number>) {
    this.problems.push({ option, key, args });
  }
}

const STRING_DEFAULTS: Record<string, string> = OPTIONS.reduce((acc, o) => (typeof o.default === 'string' ? { ...acc, [o.name]: o.default } : acc), {});

/** The trimmed value; blank is left out of what the form sends, so the driver uses its default. */
function str(form: FormState, name: string): string {
  const v = form.values[name];
  const s = typeof v === 'string' ? v.trim() : '';

  return s || STRING_DEFAULTS[name] || '';
}

function list(form: FormState, name: string): string[] {
  const v = form.values[name];

  return Array.isArray(v) ? v.map((s) => s.trim()).filter(Boolean) : [];
}

function int(form: FormState, name: string): number {
  return Number(form.values[name]);
}

function checkClusterName(c: Collector, form: FormState) {
  const name = form.clusterName.trim();

  if (!name) {
    c.add('name', 'required');
  } else if (!isDNS1123Label(name)) {
    c.add('name', 'clusterName');
  }
}

function checkAccess(c: Collector, form: FormState, ctx: ValidationContext) {
  // On edit Rancher does not return secrets; an empty secret keeps the stored one, as long as the
  // cluster keeps authenticating the same way.
  const keepsSecrets = ctx.isEdit && ctx.originalAccessMethod === form.accessMethod;

  switch (form.accessMethod) {
  case 'cloudCredential':
    if (!form.cloudCredentialId) {
      c.add('cloud-credential', 'required');
    }
    break;
  case 'kubeconfig': {
    const kubeconfig = str(form, 'kubeconfig-content');

    if (!kubeconfig) {
      if (!keepsSecrets) {
        c.add('kubeconfig-content', 'required');
      }
    } else {
      const plain = plainOrBase64(kubeconfig, looksLikeKubeconfig);

      if (plain === null) {
        c.add('kubeconfig-content', 'notPlainOrBase64');
      } else if (!parsesAsYAMLMap(plain) || !plain.includes('clusters')) {
        c.add('kubeconfig-content', 'kubeconfig');
      }
    }
    break;
  }
  default: {
    const url = str(form, 'api-url');

    if (!url) {
      c.add('api-url', 'required');
    } else if (!isURL(url, ['https'])) {
      c.add('api-url', 'httpsURL');
    }
    checkPEM(c, form, 'certificate-authority-data', 'CERTIFICATE');
    if (form.accessMethod === 'token') {
      if (!str(form, 'token') && !keepsSecrets) {
        c.add('token', 'required');
      }
    } else {
      if (!str(form, 'client-certificate-data')) {
        c.add('client-certificate-data', 'required');
      }
      if (!str(form, 'client-key-data') && !keepsSecrets) {
        c.add('client-key-data', 'required');
      }
      checkPEM(c, form, 'client-certificate-data', 'CERTIFICATE');
      checkPEM(c, form, 'client-key-data', 'PRIVATE KEY');
    }
  }
  }
}

// Computed by the form on save; what is checked here is a value read back from the cluster on edit.
function checkFingerprint(c: Collector, form: FormState) {
  const fp = str(form, FINGERPRINT_OPTION);

  if (fp && !isFingerprint(fp)) {
    c.add(FINGERPRINT_OPTION, 'fingerprint');
  }
}

function checkPEM(c: Collector, form: FormState, name: string, kind: string) {
  const v = str(form, name);

  if (!v) {
    return;
  }
  const plain = plainOrBase64(v, looksLikePEM);
  const type = plain === null ? null : pemType(plain);

  if (type === null || !type.includes(kind)) {
    c.add(name, kind === 'CERTIFICATE' ? 'pemCertificate' : 'pemPrivateKey');
  }
}

/** <namespace>/<name>, or a bare name in vm-namespace */
function checkObjectRef(c: Collector, form: FormState, name: string, required: boolean): { namespace: string, name: string } | null {
  const v = str(form, name);

  if (!v) {
    if (required) {
      c.add(name, 'requiredRef');
    }

    return null;
  }
  const [ns, n] = v.includes('/') ? [v.slice(0, v.indexOf('/')), v.slice(v.indexOf('/') + 1)] : [str(form, 'vm-namespace'), v];

  if (!isDNS1123Label(ns) || !isDNS1123Subdomain(n)) {
    c.add(name, 'objectRef', { value: v });

    return null;
  }

  return { namespace: ns, name: n };
}

function checkQuantity(c: Collector, form: FormState, name: string, min: number, minText: string): number | null {
  const v = str(form, name);
  const q = parseQuantity(v);

  if (q === null) {
    c.add(name, 'quantity', { value: v });

    return null;
  }
  if (q < min) {
    c.add(name, 'quantityMin', { min: minText });
  }

  return q;
}

function checkKeyValues(c: Collector, form: FormState, name: string, check: (k: string, v: string) => boolean, badEntryKey = 'label') {
  list(form, name).forEach((item) => {
    const i = item.indexOf('=');

    if (i <= 0) {
      c.add(name, 'keyValue', { value: item });
    } else if (!check(item.slice(0, i), item.slice(i + 1))) {
      c.add(name, badEntryKey, { value: item });
    }
  });
}

function checkRange(c: Collector, form: FormState, name: string, min: number, max: number) {
  const n = int(form, name);

  if (!Number.isInteger(n) || n < min || n > max) {
    c.add(name, 'range', { min, max });
  }
}

function checkTemplate(c: Collector, form: FormState, ctx: ValidationContext) {
  if (!isDNS1123Label(str(form, 'vm-namespace'))) {
    c.add('vm-namespace', 'namespace');
  }
  checkObjectRef(c, form, 'image', true);
  checkObjectRef(c, form, 'network', false);
  const keypair = checkObjectRef(c, form, 'keypair', false);

  if (keypair) {
    if (keypair.namespace !== str(form, 'vm-namespace')) {
      c.add('keypair', 'keypairNamespace', { namespace: str(form, 'vm-namespace') });
    }
    // The key pair holds only the public half; the driver must log in with the private one. On edit
    // both are fixed and Rancher does not return the key, so there is nothing to check.
    if (!str(form, 'ssh-private-key') && !ctx.isEdit) {
      c.add('keypair', 'keypairNeedsKey');
    }
  }
  checkRange(c, form, 'cpus', 1, 256);
  const memory = checkQuantity(c, form, 'memory', MIN_MEMORY, '512Mi');

  if (str(form, 'reserved-memory')) {
    const reserved = checkQuantity(c, form, 'reserved-memory', 2 ** 20, '1Mi');

    if (reserved !== null && memory !== null && reserved >= memory) {
      c.add('reserved-memory', 'reservedMemory', { memory: str(form, 'memory') });
    }
  }
  checkQuantity(c, form, 'disk-size', MIN_DISK, '1Gi');
  if (!CHOICES.diskBus.includes(str(form, 'disk-bus'))) {
    c.add('disk-bus', 'oneOf', { choices: CHOICES.diskBus.join(', ') });
  }
  const prefix = str(form, 'vm-name-prefix').toLowerCase();

  if (prefix && !isDNS1123Label(prefix)) {
    c.add('vm-name-prefix', 'namePrefix');
  }
  checkKeyValues(c, form, 'vm-labels', (k, v) => isQualifiedName(k) && isLabelValue(v));
}

function checkSSH(c: Collector, form: FormState) {
  const user = str(form, 'ssh-user');

  if (!LINUX_USER.test(user)) {
    c.add('ssh-user', 'linuxUser');
  }
  const key = str(form, 'ssh-private-key');

  if (key) {
    const plain = plainOrBase64(key, looksLikePrivateKey);

    if (plain === null || !pemType(plain)?.includes('PRIVATE KEY')) {
      c.add('ssh-private-key', 'sshKey');
    } else if (plain.includes('ENCRYPTED') || isEncryptedOpenSSHKey(plain)) {
      c.add('ssh-private-key', 'sshKeyEncrypted');
    }
  }
}

/**
 * OpenSSH's own key format names its cipher inside the base64 body ("none" when unencrypted), where
 * PEM keys say ENCRYPTED in their headers.
 */
function isEncryptedOpenSSHKey(pem: string): boolean {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(pem);

  if (!m) {
    return false;
  }
  let bytes: string;

  try {
    bytes = atob(m[1].replace(/\s+/g, ''));
  } catch (e) {
    return false;
  }
  const magic = 'openssh-key-v1\0';

  if (!bytes.startsWith(magic)) {
    return false;
  }
  // A uint32 length, then the cipher name.
  const at = magic.length;
  const len = ((bytes.charCodeAt(at) << 24) | (bytes.charCodeAt(at + 1) << 16) | (bytes.charCodeAt(at + 2) << 8) | bytes.charCodeAt(at + 3)) >>> 0;

  return bytes.slice(at + 4, at + 4 + len) !== 'none';
}

function checkPools(c: Collector, form: FormState) {
  const prefix = (str(form, 'vm-name-prefix') || form.clusterName.trim()).toLowerCase();
  let pools: { name: string, count: number }[] = [];

  if (form.poolMode === 'roles') {
    [['etcd-count', 'etcd'], ['control-plane-count', 'control-plane'], ['worker-count', 'worker']].forEach(([option, pool]) => {
      const n = int(form, option);

      if (!Number.isInteger(n) || n < 1) {
        c.add(option, 'count');
      } else {
        pools.push({ name: pool, count: n });
      }
    });
  } else {
    const seen = new Set<string>();

    if (!form.pools.length) {
      c.add('node-pools', 'poolsEmpty');
    }
    form.pools.forEach((p, i) => {
      if (!POOL_NAME.test(p.name)) {
        c.add('node-pools', 'poolName', { pool: i + 1 });
      } else if (seen.has(p.name)) {
        c.add('node-pools', 'poolTwice', { pool: p.name });
      }
      seen.add(p.name);
      if (!Number.isInteger(Number(p.count)) || Number(p.count) < 1) {
        c.add('node-pools', 'poolCount', { pool: p.name || i + 1 });
      }
      if (!p.roles.length) {
        c.add('node-pools', 'poolRoles', { pool: p.name || i + 1 });
      }
      pools.push({ name: p.name, count: Number(p.count) });
    });
    ROLES.forEach((role) => {
      if (form.pools.length && !form.pools.some((p) => p.roles.includes(role))) {
        c.add('node-pools', 'roleMissing', { role });
      }
    });
  }

  pools = pools.filter((p) => p.count >= 1);
  for (const p of pools) {
    const longest = `${ prefix }-${ p.name }-${ p.count }`;

    if (prefix && longest.length > MAX_VM_NAME) {
      c.add('vm-name-prefix', 'vmNameLength', { example: longest, max: MAX_VM_NAME });
      break;
    }
  }
}

function checkDocker(c: Collector, form: FormState) {
  const method = str(form, 'docker-install-method');

  if (method === 'script') {
    const url = str(form, 'docker-install-url');

    if (!url) {
      if (!DOCKER_MINOR.test(str(form, 'docker-version'))) {
        c.add('docker-version', 'dockerVersion');
      }
    } else if (!isURL(url, ['http', 'https'])) {
      c.add('docker-install-url', 'httpURL');
    } else if (!isURL(url, ['https']) && !form.values['docker-install-url-allow-http']) {
      c.add('docker-install-url', 'installURLNotHTTPS');
    }
  } else if (!CHOICES.dockerInstallMethod.includes(method)) {
    c.add('docker-install-method', 'oneOf', { choices: CHOICES.dockerInstallMethod.join(', ') });
  }
  list(form, 'registry-mirrors').forEach((m) => {
    if (!isURL(m, ['http', 'https'])) {
      c.add('registry-mirrors', 'mirror', { value: m });
    }
  });
  list(form, 'insecure-registries').forEach((h) => {
    if (!parseIPv4CIDR(h) && !isIPv6CIDR(h) && !isRegistryHost(h)) {
      c.add('insecure-registries', 'registryHost', { value: h });
    }
  });
  checkKeyValues(c, form, 'engine-labels', () => true);
  checkKeyValues(c, form, 'engine-options', (k, v) => {
    const value = v.trim();

    if (!value.startsWith('{') && !value.startsWith('[')) {
      return true;
    }
    try {
      JSON.parse(value);

      return true;
    } catch (e) {
      return false;
    }
  }, 'engineOptionJSON');
}

/** The driver's checkRegistryURL: a message key, or null. */
function registryURLProblem(url: string): string | null {
  const m = REGISTRY_URL.exec(url);

  if (!m || url.length - (m[4] || '').length > MAX_HOST) {
    return 'registryURL';
  }
  if (m[5] && (Number(m[5]) < 1 || Number(m[5]) > 65535)) {
    return 'registryPort';
  }
  // Docker reads the first part of an image name as a registry only with a dot or a port, or as localhost.
  if (!/[.:]/.test(url) && url !== 'localhost') {
    return 'registryURLDotless';
  }

  return null;
}

/** PEM with certificates only, at least one (the driver also parses each). */
function onlyCertificates(pem: string): boolean {
  const block = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
  const types: string[] = [];

  for (let m = block.exec(pem); m; m = block.exec(pem)) {
    types.push(m[1]);
  }

  return types.length > 0 && types.every((t) => t === 'CERTIFICATE');
}

function checkRegistry(c: Collector, form: FormState, ctx: ValidationContext) {
  const url = str(form, 'private-registry-url');
  const user = str(form, 'private-registry-username');
  const password = str(form, 'private-registry-password');
  const ca = str(form, 'private-registry-ca-cert');

  if (!url) {
    [['private-registry-username', user], ['private-registry-password', password], ['private-registry-ca-cert', ca]].forEach(([name, v]) => {
      if (v) {
        c.add(name, 'registryURLRequired');
      }
    });

    return;
  }
  const urlProblem = registryURLProblem(url);

  if (urlProblem) {
    c.add('private-registry-url', urlProblem, { value: url });
  }
  if (/[:\s]/.test(user)) {
    c.add('private-registry-username', 'registryUser');
  }
  // On edit Rancher does not return the password: an empty one keeps the stored one.
  if (user && !password && !ctx.isEdit) {
    c.add('private-registry-password', 'registryPassword');
  } else if (password && !user) {
    c.add('private-registry-username', 'registryUserRequired');
  }
  if (ca) {
    const plain = plainOrBase64(ca, looksLikePEM);

    if (plain === null) {
      c.add('private-registry-ca-cert', 'notPlainOrBase64');
    } else if (!onlyCertificates(plain)) {
      c.add('private-registry-ca-cert', 'pemCertificates');
    }
  }
}

// The components whose images harvester-addon-images may replace (the driver's provision/addons).
const ADDON_COMPONENTS = ['cloud-provider', 'kube-vip', 'csi-driver', 'csi-node-driver-registrar', 'csi-resizer', 'csi-provisioner', 'csi-attacher'];
// The cluster's volumes on Harvester are named <vm-name-prefix>-pv-<uuid>, within 63 characters.
const MAX_PREFIX_WITH_CLOUD_PROVIDER = 23;

function checkCloudProvider(c: Collector, form: FormState) {
  const url = str(form, 'harvester-cloud-provider-api-url');

  if (url && !isURL(url, ['https'])) {
    c.add('harvester-cloud-provider-api-url', 'cloudProviderURL');
  }
  checkKeyValues(c, form, 'harvester-addon-images', (k, v) => ADDON_COMPONENTS.includes(k) && v !== '' && !/\s/.test(v), 'addonImage');
  const prefix = (str(form, 'vm-name-prefix') || form.clusterName.trim()).toLowerCase();

  if (form.values['harvester-cloud-provider'] !== false && prefix.length > MAX_PREFIX_WITH_CLOUD_PROVIDER) {
    c.add('vm-name-prefix', 'prefixWithCloudProvider', { max: MAX_PREFIX_WITH_CLOUD_PROVIDER });
  }
}

// The cluster's one API address: the driver's load balancer, or the IPv4 address or DNS name of the user's.
function checkAPIEndpoint(c: Collector, form: FormState) {
  const address = str(form, 'control-plane-address');
  const numeric = /^[\d.]*$/.test(address);
  const ok = address === '' || address === 'load-balancer' || parseIPv4(address) !== null ||
    (!numeric && address.includes('.') && isDNS1123Subdomain(address.toLowerCase()));

  if (!ok) {
    c.add('control-plane-address', 'controlPlaneAddress');
  }
  const pool = str(form, 'control-plane-ip-pool');

  if (pool && address !== 'load-balancer') {
    c.add('control-plane-ip-pool', 'ipPoolWithoutLoadBalancer');
  } else if (pool && !isDNS1123Subdomain(pool)) {
    c.add('control-plane-ip-pool', 'ipPoolName');
  }
}

function checkKubernetes(c: Collector, form: FormState) {
  checkCloudProvider(c, form);
  checkAPIEndpoint(c, form);
  const version = str(form, 'kubernetes-version');

  if (version && !RKE_VERSION.test(version)) {
    c.add('kubernetes-version', 'kubernetesVersion');
  }
  (['network-plugin', 'ingress-provider', 'dns-provider', 'monitoring-provider'] as const).forEach((name) => {
    const choices = CHOICES[name.replace(/-(\w)/g, (_, l) => l.toUpperCase()) as keyof typeof CHOICES];

    if (!choices.includes(str(form, name))) {
      c.add(name, 'oneOf', { choices: choices.join(', ') });
    }
  });
  if (!isDNS1123Subdomain(str(form, 'cluster-domain'))) {
    c.add('cluster-domain', 'clusterDomain');
  }
  const cidr = (name: string) => {
    const n = parseIPv4CIDR(str(form, name));

    if (!n) {
      c.add(name, 'cidr');
    } else if (n.prefix > 24) {
      c.add(name, 'cidrTooSmall');
    }

    return n;
  };
  const pods = cidr('cluster-cidr');
  let services = cidr('service-cidr');

  // kube-apiserver refuses service ranges wider than /12.
  if (services && services.prefix < 12) {
    c.add('service-cidr', 'serviceCidrSize');
    services = null;
  }

  if (pods && services && cidrsOverlap(pods, services)) {
    c.add('service-cidr', 'cidrOverlap', { other: str(form, 'cluster-cidr') });
  }
}

function checkAdvanced(c: Collector, form: FormState) {
  const userData = str(form, 'user-data');

  if (userData) {
    const plain = plainOrBase64(userData, looksLikeCloudConfig);

    if (plain === null) {
      c.add('user-data', 'cloudConfigHeader');
    } else if (!parsesAsYAMLMap(plain)) {
      c.add('user-data', 'cloudConfigYAML');
    }
  }
  checkRange(c, form, 'vm-ready-timeout', 1, MAX_TIMEOUT);
  checkRange(c, form, 'ssh-ready-timeout', 1, MAX_TIMEOUT);
}

/** The pools the driver makes of the form: the three role pools, or the custom pools that parse. */
function driverPools(form: FormState): { name: string, count: number }[] {
  if (form.poolMode === 'roles') {
    return [['etcd-count', 'etcd'], ['control-plane-count', 'control-plane'], ['worker-count', 'worker']]
      .map(([option, name]) => ({ name, count: int(form, option) }))
      .filter((p) => Number.isInteger(p.count) && p.count >= 1);
  }

  return form.pools
    .filter((p) => POOL_NAME.test(p.name) && Number.isInteger(Number(p.count)) && Number(p.count) >= 1 && p.roles.length)
    .map((p) => ({ name: p.name, count: Number(p.count) }));
}

/** Every problem of the form at once, like the driver's OptionsError. */
export function validate(form: FormState, ctx: ValidationContext): Problem[] {
  const c = new Collector();

  checkClusterName(c, form);
  checkAccess(c, form, ctx);
  checkFingerprint(c, form);
  checkTemplate(c, form, ctx);
  checkSSH(c, form);
  checkPools(c, form);
  checkDocker(c, form);
  checkRegistry(c, form, ctx);
  checkKubernetes(c, form);
  checkAdvanced(c, form);
  checkVMOptions({
    str:      (name) => str(form, name),
    list:     (name) => list(form, name),
    bool:     (name) => !!form.values[name],
    pools:    driverPools(form),
    creating: !ctx.isEdit,
  }, (option, key, args) => c.add(option, key, args));

  return c.problems;
}

/** Problems grouped by option, for the fields to show. */
export function problemsByOption(problems: Problem[]): Record<string, Problem[]> {
  return problems.reduce((acc, p) => {
    (acc[p.option] = acc[p.option] || []).push(p);

    return acc;
  }, {} as Record<string, Problem[]>);
}
