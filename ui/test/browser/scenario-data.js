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

/** The exact harvesterrkeEngineConfig the create scenario must produce. */
export const EXPECTED_CREATE_CONFIG = {
  kubeconfigContent:         CREDENTIAL_KUBECONFIG.trim(),
  insecureSkipTlsVerify:     true,
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
  nodePools:                 ['master=3:etcd+controlplane', 'worker=2:worker', 'gpu=2:worker'],
  dockerInstallMethod:       'script',
  dockerVersion:             '27.5',
  dockerInstallUrl:          'https://get.example.com/docker.sh',
  registryMirrors:           ['https://mirror.example.com'],
  insecureRegistries:        ['registry.example.com:5000'],
  engineStorageDriver:       'overlay2',
  engineLabels:              ['zone=a'],
  engineOptions:             ['log-driver=journald'],
  ignoreDockerVersion:       true,
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
