/**
 * The form's state and its translation to and from the Norman engine config.
 *
 * Kept free of Vue and of the store so the payload the form sends can be tested on its own.
 */
import {
  OPTIONS, OptionValue, Role, ROLES, camelCase, CLOUD_CREDENTIAL_ANNOTATION
} from './options';

export type AccessMethod = 'cloudCredential' | 'kubeconfig' | 'token' | 'certificate';
export const ACCESS_METHODS: AccessMethod[] = ['cloudCredential', 'kubeconfig', 'token', 'certificate'];

/** The driver accepts exactly one way to authenticate; these are the options each way sends. */
export const ACCESS_OPTIONS: Record<AccessMethod, string[]> = {
  cloudCredential: ['kubeconfig-content', 'insecure-skip-tls-verify'],
  kubeconfig:      ['kubeconfig-content', 'insecure-skip-tls-verify'],
  token:           ['api-url', 'token', 'certificate-authority-data', 'insecure-skip-tls-verify'],
  certificate:     ['api-url', 'certificate-authority-data', 'client-certificate-data', 'client-key-data', 'insecure-skip-tls-verify'],
};

const ALL_ACCESS_OPTIONS = new Set(Object.values(ACCESS_OPTIONS).flat());

/** `roles`: one pool per role with a count each; `custom`: the node-pools list. */
export type PoolMode = 'roles' | 'custom';
export const COUNT_OPTIONS = ['etcd-count', 'control-plane-count', 'worker-count'];

export interface PoolRow {
  name: string;
  count: number;
  roles: Role[];
  /** exists on the cluster already: its name and roles can no longer change */
  existing?: boolean;
}

export interface FormState {
  clusterName: string;
  clusterDescription: string;
  accessMethod: AccessMethod;
  /** Rancher cloud credential id (cattle-global-data:cc-xxxxx) when accessMethod is cloudCredential */
  cloudCredentialId: string;
  poolMode: PoolMode;
  pools: PoolRow[];
  /** every driver option except node-pools (kept as `pools`), keyed by its kebab-case name */
  values: Record<string, OptionValue>;
}

function copyValue(v: OptionValue): OptionValue {
  return Array.isArray(v) ? [...v] : v;
}

export function newForm(): FormState {
  const values: Record<string, OptionValue> = {};

  OPTIONS.forEach((o) => {
    values[o.name] = copyValue(o.default);
  });

  return {
    clusterName:        '',
    clusterDescription: '',
    accessMethod:       'cloudCredential',
    cloudCredentialId:  '',
    poolMode:           'roles',
    pools:              [
      { name: 'master', count: 1, roles: ['etcd', 'controlplane'] },
      { name: 'worker', count: 1, roles: ['worker'] },
    ],
    values,
  };
}

/** Reads `name=count:role+role` (the driver also accepts ',' between roles and `control-plane`). */
export function parsePoolSpec(spec: string): PoolRow | null {
  const m = /^\s*([^=]+)=\s*(\d+)\s*:(.*)$/.exec(spec);

  if (!m) {
    return null;
  }
  const roles = m[3].split(/[+, ]/).filter(Boolean).map((r) => (r === 'control-plane' ? 'controlplane' : r));

  return {
    name: m[1].trim(), count: parseInt(m[2], 10), roles: ROLES.filter((r) => roles.includes(r))
  };
}

export function poolSpec(p: PoolRow): string {
  // Keep the driver's role order so an unchanged pool reads the same after a round trip.
  return `${ p.name }=${ p.count }:${ ROLES.filter((r) => p.roles.includes(r)).join('+') }`;
}

/** Builds the form from an existing cluster's engine config (edit). Secrets are not returned by Rancher. */
/**
 * Options some clusters were made without: such a cluster has what it had before the option, not
 * the option's default for new clusters, and an edit must not switch it on.
 */
const BEFORE_OPTION: Record<string, OptionValue> = { 'harvester-cloud-provider': false };

/**
 * The form for a cluster's engine config. existing: the config is a cluster's that exists (an edit),
 * so an option it lacks has its value from before the option (BEFORE_OPTION); otherwise its default.
 */
export function formFromEngineConfig(config: Record<string, any> = {}, annotations: Record<string, string> = {}, existing = true): FormState {
  const form = newForm();

  OPTIONS.forEach((o) => {
    const v = config[camelCase(o.name)];

    if (v !== undefined && v !== null && o.name !== 'node-pools') {
      form.values[o.name] = o.type === 'int' ? Number(v) : copyValue(v);
    } else if (existing && o.name in BEFORE_OPTION) {
      form.values[o.name] = BEFORE_OPTION[o.name];
    }
  });

  const specs: string[] = config.nodePools || [];

  if (specs.length) {
    form.poolMode = 'custom';
    form.pools = specs.map(parsePoolSpec).filter((p): p is PoolRow => !!p).map((p) => ({ ...p, existing: true }));
  } else {
    form.poolMode = 'roles';
  }

  const credential = annotations[CLOUD_CREDENTIAL_ANNOTATION];

  if (credential) {
    form.accessMethod = 'cloudCredential';
    form.cloudCredentialId = credential;
  } else if (config.clientCertificateData || config.clientKeyData) {
    form.accessMethod = 'certificate';
  } else if (config.apiUrl) {
    form.accessMethod = 'token';
  } else {
    form.accessMethod = 'kubeconfig';
  }

  return form;
}

function isEmpty(v: OptionValue | undefined): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '') || (Array.isArray(v) && v.length === 0);
}

function cleaned(v: OptionValue): OptionValue {
  if (typeof v === 'string') {
    return v.trim();
  }
  if (Array.isArray(v)) {
    return v.map((s) => s.trim()).filter(Boolean);
  }

  return v;
}

/**
 * The `harvesterrkeEngineConfig` the form sends.
 *
 * Only the chosen access method's options go out (the driver rejects mixed methods), only one of
 * the two pool layouts, and empty values are left out: the driver treats them as unset, and on edit
 * an absent secret keeps the one the cluster already has.
 *
 * @param credentialKubeconfig the kubeconfig read from the cloud credential, when that is the method
 */
export function toEngineConfig(form: FormState, credentialKubeconfig = ''): Record<string, OptionValue> {
  const out: Record<string, OptionValue> = {};
  const access = new Set(ACCESS_OPTIONS[form.accessMethod]);
  const values = { ...form.values };

  if (form.accessMethod === 'cloudCredential') {
    values['kubeconfig-content'] = credentialKubeconfig;
  }

  OPTIONS.forEach((o) => {
    if (ALL_ACCESS_OPTIONS.has(o.name) && !access.has(o.name)) {
      return;
    }
    if (o.name === 'node-pools') {
      if (form.poolMode === 'custom') {
        out[camelCase(o.name)] = form.pools.map(poolSpec);
      }

      return;
    }
    if (form.poolMode === 'custom' && COUNT_OPTIONS.includes(o.name)) {
      return;
    }

    const v = cleaned(values[o.name]);

    if (o.type === 'int') {
      out[camelCase(o.name)] = Number(v);
    } else if (!isEmpty(v)) {
      out[camelCase(o.name)] = v;
    }
  });

  return out;
}
