/**
 * The create options of the harvesterrke cluster driver, as the form knows them.
 *
 * This list mirrors `Options()` in driver/options.go (printed by `<driver binary> schema`). The parity
 * test (test/parity.test.ts) runs the schema command and fails when the two disagree on names, types,
 * defaults, secrecy or mutability, so the form cannot silently drift from the driver.
 */

export const DRIVER_NAME = 'harvesterrke';

/** Rancher stores a kontainer-engine driver's options on the Norman cluster under `<driverName>EngineConfig`. */
export const ENGINE_CONFIG_FIELD = `${ DRIVER_NAME }EngineConfig`;

/** Lets the Dashboard's cluster edit page find this extension again (see resolveSubType in @rancher/shell). */
export const UI_PROVIDER_ANNOTATION = 'ui.rancher/provider';

/** Remembers which cloud credential the kubeconfig came from, so edit can show it and refresh it. */
export const CLOUD_CREDENTIAL_ANNOTATION = 'harvesterrke.io/cloud-credential-id';

export type OptionType = 'string' | 'int' | 'bool' | 'stringSlice';
export type OptionValue = string | number | boolean | string[];

/** The form's steps, in the order an admin fills them in. */
export const STEPS = ['access', 'vm', 'volumes', 'networks', 'pools', 'docker', 'kubernetes', 'advanced'] as const;
export type StepId = typeof STEPS[number];

export interface DriverOption {
  /** kebab-case, as the driver declares it */
  name: string;
  type: OptionType;
  /** as the driver declares it; an empty string or list means "unset" to the driver */
  default: OptionValue;
  secret?: boolean;
  /** may change after creation; everything else is locked on edit */
  mutable?: boolean;
  /** computed by the form, never shown as a field */
  computed?: boolean;
  step: StepId;
}

const opt = (name: string, type: OptionType, step: StepId, def: OptionValue, flags: { secret?: boolean, mutable?: boolean, computed?: boolean } = {}): DriverOption => ({
  name, type, step, default: def, ...flags
});

export const OPTIONS: DriverOption[] = [
  opt('kubeconfig-content', 'string', 'access', '', { secret: true, mutable: true }),
  opt('api-url', 'string', 'access', '', { mutable: true }),
  opt('token', 'string', 'access', '', { secret: true, mutable: true }),
  opt('certificate-authority-data', 'string', 'access', '', { mutable: true }),
  opt('client-certificate-data', 'string', 'access', '', { mutable: true }),
  opt('client-key-data', 'string', 'access', '', { secret: true, mutable: true }),
  opt('insecure-skip-tls-verify', 'bool', 'access', false, { mutable: true }),
  // A digest of the secrets sent (util/fingerprint.ts), so Rancher passes a changed credential on.
  opt('credential-fingerprint', 'string', 'access', '', { mutable: true, computed: true }),

  opt('vm-namespace', 'string', 'vm', 'default'),
  opt('image', 'string', 'vm', ''),
  opt('cpus', 'int', 'vm', 2),
  opt('memory', 'string', 'vm', '4Gi'),
  opt('reserved-memory', 'string', 'vm', ''),
  opt('disk-size', 'string', 'vm', '40Gi'),
  opt('disk-bus', 'string', 'vm', 'virtio'),
  opt('network', 'string', 'vm', ''),
  opt('ssh-user', 'string', 'vm', 'ubuntu'),
  opt('keypair', 'string', 'vm', ''),
  opt('ssh-private-key', 'string', 'vm', '', { secret: true }),
  opt('ssh-trust-host-key-on-first-use', 'bool', 'vm', false),
  opt('vm-name-prefix', 'string', 'vm', ''),
  opt('description', 'string', 'vm', ''),
  opt('vm-labels', 'stringSlice', 'vm', []),

  // Grouped as Rancher's Harvester machine form groups them: the CPU model with the VM's size, then
  // volumes, networks, and under Advanced the firmware, network data and scheduling.
  opt('networks', 'stringSlice', 'networks', []),
  opt('static-addresses', 'stringSlice', 'networks', [], { mutable: true }),
  opt('address-network', 'string', 'networks', ''),
  opt('network-data', 'string', 'advanced', ''),
  opt('extra-disks', 'stringSlice', 'volumes', []),
  opt('cpu-model', 'string', 'vm', ''),
  opt('cpu-pinning', 'bool', 'advanced', false),
  opt('isolate-emulator-thread', 'bool', 'advanced', false),
  opt('efi', 'bool', 'advanced', false),
  opt('secure-boot', 'bool', 'advanced', false),
  opt('tpm', 'bool', 'advanced', false),
  opt('vm-affinity', 'string', 'advanced', ''),
  opt('anti-affinity', 'string', 'advanced', 'soft'),

  opt('etcd-count', 'int', 'pools', 1, { mutable: true }),
  opt('control-plane-count', 'int', 'pools', 1, { mutable: true }),
  opt('worker-count', 'int', 'pools', 1, { mutable: true }),
  opt('node-pools', 'stringSlice', 'pools', [], { mutable: true }),

  opt('docker-install-method', 'string', 'docker', 'script'),
  opt('docker-install-url', 'string', 'docker', ''),
  opt('docker-install-url-allow-http', 'bool', 'docker', false, { mutable: true }),
  opt('docker-version', 'string', 'docker', '28.1'),
  opt('registry-mirrors', 'stringSlice', 'docker', []),
  opt('insecure-registries', 'stringSlice', 'docker', []),
  opt('engine-storage-driver', 'string', 'docker', ''),
  opt('engine-labels', 'stringSlice', 'docker', []),
  opt('engine-options', 'stringSlice', 'docker', []),
  opt('ignore-docker-version', 'bool', 'docker', false, { mutable: true }),
  opt('prepull-images', 'bool', 'docker', true, { mutable: true }),
  // The driver's "Private registry" group; the form shows it with Docker, whose pulls it serves.
  opt('private-registry-url', 'string', 'docker', ''),
  opt('private-registry-username', 'string', 'docker', ''),
  opt('private-registry-password', 'string', 'docker', '', { secret: true }),
  opt('private-registry-ca-cert', 'string', 'docker', ''),

  opt('kubernetes-version', 'string', 'kubernetes', '', { mutable: true }),
  opt('network-plugin', 'string', 'kubernetes', 'canal'),
  opt('cluster-cidr', 'string', 'kubernetes', '10.42.0.0/16'),
  opt('service-cidr', 'string', 'kubernetes', '10.43.0.0/16'),
  opt('cluster-domain', 'string', 'kubernetes', 'cluster.local'),
  opt('ingress-provider', 'string', 'kubernetes', 'nginx', { mutable: true }),
  opt('dns-provider', 'string', 'kubernetes', 'coredns', { mutable: true }),
  opt('monitoring-provider', 'string', 'kubernetes', 'metrics-server', { mutable: true }),
  opt('control-plane-address', 'string', 'kubernetes', ''),
  opt('control-plane-ip-pool', 'string', 'kubernetes', ''),
  opt('harvester-cloud-provider', 'bool', 'kubernetes', true, { mutable: true }),
  opt('harvester-cloud-provider-api-url', 'string', 'kubernetes', '', { mutable: true }),
  opt('harvester-addon-images', 'stringSlice', 'kubernetes', [], { mutable: true }),

  // user-data is a VM option to the driver; the form shows it with the other rarely needed settings.
  opt('user-data', 'string', 'advanced', ''),
  opt('vm-ready-timeout', 'int', 'advanced', 600, { mutable: true }),
  opt('ssh-ready-timeout', 'int', 'advanced', 300, { mutable: true }),
];

/** The key Rancher uses for an option inside the engine config: disk-size -> diskSize (as the driver's camelCase()). */
export function camelCase(name: string): string {
  return name.split('-').map((part, i) => (i === 0 || !part ? part : part[0].toUpperCase() + part.slice(1))).join('');
}

export function optionByName(name: string): DriverOption {
  const found = OPTIONS.find((o) => o.name === name);

  if (!found) {
    throw new Error(`unknown harvesterrke option ${ name }`);
  }

  return found;
}

export function isMutable(name: string): boolean {
  return !!optionByName(name).mutable;
}

/** Choices the driver accepts for its enumerated options (see driver/parse.go and validate.go). */
export const CHOICES = {
  diskBus:             ['virtio', 'scsi', 'sata'],
  dockerInstallMethod: ['script', 'distro', 'none'],
  networkPlugin:       ['canal', 'calico', 'flannel', 'none'],
  ingressProvider:     ['nginx', 'none'],
  dnsProvider:         ['coredns', 'kube-dns', 'none'],
  monitoringProvider:  ['metrics-server', 'none'],
  antiAffinity:        ['soft', 'hard'],
  nicModel:            ['virtio', 'e1000', 'e1000e', 'igb', 'ne2k_pci', 'pcnet', 'rtl8139'],
};

export const ROLES = ['etcd', 'controlplane', 'worker'] as const;
export type Role = typeof ROLES[number];
