/**
 * What the fake Rancher holds in the tests: one Harvester cloud credential for a Harvester cluster
 * this Rancher manages (c-hvst1), that credential's Secret, and the Harvester objects Rancher's
 * proxy returns for it.
 */

export const HARVESTER_CLUSTER = 'c-hvst1';
export const CREDENTIAL_ID = 'cattle-global-data:cc-hvst1';

// A kubeconfig as Rancher generates for a managed Harvester cluster (the token is made up).
export const CREDENTIAL_KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: harvester
  cluster:
    server: https://rancher.example.com/k8s/clusters/c-hvst1
contexts:
- name: harvester
  context:
    cluster: harvester
    user: harvester
current-context: harvester
users:
- name: harvester
  user:
    token: kubeconfig-u-fake:notarealtoken
`;

function base64(s) {
  return typeof Buffer !== 'undefined' ? Buffer.from(s, 'utf8').toString('base64') : btoa(s);
}

function obj(namespace, name, extra = {}) {
  return {
    id: `${ namespace }/${ name }`, metadata: { namespace, name }, ...extra
  };
}

export const fixtures = {
  cloudCredentials: [{
    id:                        CREDENTIAL_ID,
    name:                      'harvester-lab',
    harvestercredentialConfig: { clusterId: HARVESTER_CLUSTER, clusterType: 'imported' },
  }],
  secrets: {
    'cattle-global-data/cc-hvst1': {
      id:   'cattle-global-data/cc-hvst1',
      data: { 'harvestercredentialConfig-kubeconfigContent': base64(CREDENTIAL_KUBECONFIG) },
    },
  },
  proxy: {
    [`/k8s/clusters/${ HARVESTER_CLUSTER }/v1/namespaces`]: {
      data: ['default', 'rke-nodes', 'kube-system', 'cattle-system', 'harvester-system', 'longhorn-system'].map((name) => ({ id: name, metadata: { name } })),
    },
    [`/k8s/clusters/${ HARVESTER_CLUSTER }/v1/harvesterhci.io.virtualmachineimages`]: {
      data: [
        obj('default', 'image-ubuntu2204', { spec: { displayName: 'ubuntu-22.04-server-cloudimg' }, status: { progress: 100 } }),
        obj('rke-nodes', 'image-sles15', { spec: { displayName: 'sles-15-sp6' }, status: { progress: 100 } }),
        obj('default', 'image-downloading', { spec: { displayName: 'still-downloading' }, status: { progress: 40 } }),
      ],
    },
    [`/k8s/clusters/${ HARVESTER_CLUSTER }/v1/k8s.cni.cncf.io.network-attachment-definitions`]: {
      data: [obj('default', 'vlan10'), obj('rke-nodes', 'vlan20')],
    },
    [`/k8s/clusters/${ HARVESTER_CLUSTER }/v1/harvesterhci.io.keypairs`]: {
      data: [obj('rke-nodes', 'ops-key'), obj('default', 'other-key')],
    },
  },
};
