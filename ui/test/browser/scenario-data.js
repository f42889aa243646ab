/**
 * Inputs and expected results of the browser scenarios (run.mjs), and the existing cluster the
 * harness edits. Shared by the page and the test runner.
 */
import { CREDENTIAL_KUBECONFIG, CREDENTIAL_ID } from '../support/fixtures.js';

// The shape of an unencrypted OpenSSH key; the form checks the format, only the driver parses keys.
export const SSH_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBmYWtlZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFrZQAAAJAAAAAAAAAA
-----END OPENSSH PRIVATE KEY-----`;

export const USER_DATA = '#cloud-config\npackages:\n  - jq';

/**
 * The driver's credential-fingerprint of the credential's kubeconfig (16 hex digits of SHA-256 over
 * "kubeconfig-content=<kubeconfig>\ntoken=\nclient-key-data=\n"); run.mjs checks it with Node's crypto.
 */
export const CREDENTIAL_FINGERPRINT = '55a0f04fead4d480';

/** A private registry's CA as the form takes it (it checks the PEM block types; the driver parses). */
export const REGISTRY_CA = '-----BEGIN CERTIFICATE-----\nMIIBfakefakefake\n-----END CERTIFICATE-----';

/** The exact harvesterrkeEngineConfig the create scenario must produce. */
export const EXPECTED_CREATE_CONFIG = {
  kubeconfigContent:         CREDENTIAL_KUBECONFIG.trim(),
  insecureSkipTlsVerify:     true,
  credentialFingerprint:     CREDENTIAL_FINGERPRINT,
  vmNamespace:               'rke-nodes',
  image:                     'rke-nodes/image-sles15',
  network:                   'rke-nodes/vlan20',
  cpus:                      4,
  memory:                    '8Gi',
  reservedMemory:            '256Mi',
  diskSize:                  '60Gi',
  diskBus:                   'scsi',
  sshUser:                   'rancher',
  keypair:                   'rke-nodes/ops-key',
  sshPrivateKey:             SSH_KEY,
  sshTrustHostKeyOnFirstUse: true,
  vmNamePrefix:              'prod',
  description:               'Apps cluster of the prod team',
  vmLabels:                  ['team=apps'],
  // The VM options' defaults (the VM options scenario sets them).
  cpuPinning:                false,
  isolateEmulatorThread:     false,
  efi:                       false,
  secureBoot:                false,
  tpm:                       false,
  antiAffinity:              'soft',
  nodePools:                 ['master=3:etcd+controlplane', 'worker=2:worker', 'gpu=2:worker'],
  dockerInstallMethod:       'script',
  dockerVersion:             '27.5',
  dockerInstallUrl:          'https://get.example.com/docker.sh',
  dockerInstallUrlAllowHttp: false,
  registryMirrors:           ['https://mirror.example.com'],
  insecureRegistries:        ['registry.example.com:5000'],
  engineStorageDriver:       'overlay2',
  engineLabels:              ['zone=a'],
  engineOptions:             ['log-driver=journald'],
  ignoreDockerVersion:       true,
  prepullImages:             false,
  privateRegistryUrl:        'registry.example.com:5000',
  privateRegistryUsername:   'puller',
  privateRegistryPassword:   'pull-secret',
  privateRegistryCaCert:     REGISTRY_CA,
  harvesterCloudProvider:    true,
  kubernetesVersion:         'v1.32.7-rancher1-1',
  networkPlugin:             'calico',
  clusterCidr:               '10.100.0.0/16',
  serviceCidr:               '10.101.0.0/16',
  clusterDomain:             'prod.local',
  ingressProvider:           'none',
  dnsProvider:               'kube-dns',
  monitoringProvider:        'none',
  userData:                  USER_DATA,
  vmReadyTimeout:            900,
  sshReadyTimeout:           450,
};

export const VM_AFFINITY = '{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["zone-a"]}]}]}}}';

export const NETWORK_DATA = 'version: 2\nethernets:\n  nic-0:\n    mtu: 9000';

/** The exact harvesterrkeEngineConfig of the VM options scenario: the defaults and every VM option. */
export const EXPECTED_VM_OPTIONS_CONFIG = {
  kubeconfigContent:         CREDENTIAL_KUBECONFIG.trim(),
  insecureSkipTlsVerify:     false,
  credentialFingerprint:     CREDENTIAL_FINGERPRINT,
  vmNamespace:               'default',
  image:                     'rke-nodes/image-sles15',
  cpus:                      2,
  memory:                    '4Gi',
  diskSize:                  '40Gi',
  diskBus:                   'virtio',
  sshUser:                   'ubuntu',
  sshTrustHostKeyOnFirstUse: false,
  cpuModel:                  'host-passthrough',
  extraDisks:                ['100Gi,storage-class=harvester-longhorn,bus=scsi,pools=worker', '20Gi,image=rke-nodes/image-sles15,boot-order=2'],
  networks:                  ['rke-nodes/vlan20', 'default/vlan10,model=e1000,mac=02:00:00:00:0a:01,pools=worker'],
  staticAddresses:           ['10.0.20.10-10.0.20.19/24,gateway=10.0.20.1,dns=10.0.20.2,pools=worker'],
  addressNetwork:            'rke-nodes/vlan20',
  networkData:               NETWORK_DATA,
  cpuPinning:                true,
  isolateEmulatorThread:     true,
  efi:                       false,
  secureBoot:                true,
  tpm:                       true,
  vmAffinity:                VM_AFFINITY,
  antiAffinity:              'hard',
  etcdCount:                 1,
  controlPlaneCount:         1,
  workerCount:               1,
  dockerInstallMethod:       'script',
  dockerInstallUrlAllowHttp: false,
  dockerVersion:             '28.1',
  ignoreDockerVersion:       false,
  prepullImages:             true,
  harvesterCloudProvider:    true,
  networkPlugin:             'canal',
  clusterCidr:               '10.42.0.0/16',
  serviceCidr:               '10.43.0.0/16',
  clusterDomain:             'cluster.local',
  ingressProvider:           'nginx',
  dnsProvider:               'coredns',
  monitoringProvider:        'metrics-server',
  vmReadyTimeout:            600,
  sshReadyTimeout:           300,
};

/** A cluster made with the create scenario, as Rancher returns it: without the secrets. */
export const EXISTING_CLUSTER = (() => {
  const config = { ...EXPECTED_CREATE_CONFIG };

  delete config.kubeconfigContent;
  delete config.sshPrivateKey;

  return {
    id:                       'c-m8x2k',
    type:                     'cluster',
    name:                     'prod-apps',
    description:              'Apps cluster of the prod team',
    annotations:              { 'ui.rancher/provider': 'harvesterrke', 'harvesterrke.io/cloud-credential-id': CREDENTIAL_ID },
    harvesterrkeEngineConfig: config,
  };
})();
