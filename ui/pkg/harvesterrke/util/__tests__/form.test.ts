import {
  newForm, toEngineConfig, formFromEngineConfig, parsePoolSpec, poolSpec, ACCESS_METHODS
} from '../form';
import { applyForm } from '../cluster';
import { OPTIONS, camelCase } from '../options';

describe('newForm', () => {
  it('starts from the driver defaults', () => {
    const form = newForm();

    OPTIONS.forEach((o) => expect(form.values[o.name]).toEqual(o.default));
  });
});

describe('toEngineConfig', () => {
  it('sends the defaults, typed, without empty values', () => {
    const form = newForm();

    form.accessMethod = 'kubeconfig';
    form.values['kubeconfig-content'] = 'apiVersion: v1\nclusters: []\n';
    form.values.image = 'default/ubuntu';

    expect(toEngineConfig(form)).toEqual({
      kubeconfigContent:          'apiVersion: v1\nclusters: []', // trimmed, as the driver reads it
      insecureSkipTlsVerify:      false,
      vmNamespace:                'default',
      image:                      'default/ubuntu',
      cpus:                       2,
      memory:                     '4Gi',
      diskSize:                   '40Gi',
      diskBus:                    'virtio',
      sshUser:                    'ubuntu',
      sshTrustHostKeyOnFirstUse:  false,
      cpuPinning:                 false,
      isolateEmulatorThread:      false,
      efi:                        false,
      secureBoot:                 false,
      tpm:                        false,
      antiAffinity:               'soft',
      etcdCount:                  1,
      controlPlaneCount:          1,
      workerCount:                1,
      dockerInstallMethod:        'script',
      dockerInstallUrlAllowHttp:  false,
      dockerVersion:              '28.1',
      ignoreDockerVersion:        false,
      prepullImages:              true,
      networkPlugin:              'canal',
      clusterCidr:                '10.42.0.0/16',
      serviceCidr:                '10.43.0.0/16',
      clusterDomain:              'cluster.local',
      ingressProvider:            'nginx',
      dnsProvider:                'coredns',
      monitoringProvider:         'metrics-server',
      harvesterCloudProvider:     true,
      vmReadyTimeout:             600,
      sshReadyTimeout:            300,
    });
  });

  it('sends only the chosen access method', () => {
    const form = newForm();

    ['kubeconfig-content', 'api-url', 'token', 'certificate-authority-data', 'client-certificate-data', 'client-key-data'].forEach((name) => {
      form.values[name] = `${ name }-value`;
    });
    const accessKeys = (method: typeof ACCESS_METHODS[number]) => {
      form.accessMethod = method;

      return Object.keys(toEngineConfig(form, 'from-credential')).filter((k) => /kubeconfig|apiUrl|token|Data$|insecure/.test(k)).sort();
    };

    expect(accessKeys('cloudCredential')).toEqual(['insecureSkipTlsVerify', 'kubeconfigContent']);
    expect(accessKeys('kubeconfig')).toEqual(['insecureSkipTlsVerify', 'kubeconfigContent']);
    expect(accessKeys('token')).toEqual(['apiUrl', 'certificateAuthorityData', 'insecureSkipTlsVerify', 'token']);
    expect(accessKeys('certificate')).toEqual(['apiUrl', 'certificateAuthorityData', 'clientCertificateData', 'clientKeyData', 'insecureSkipTlsVerify']);
  });

  it('sends the credential kubeconfig, not a typed one, for a cloud credential', () => {
    const form = newForm();

    form.values['kubeconfig-content'] = 'typed before switching';
    expect(toEngineConfig(form, 'from-credential').kubeconfigContent).toBe('from-credential');
  });

  it('sends either the counts or the pool list', () => {
    const form = newForm();

    expect(toEngineConfig(form)).toMatchObject({ etcdCount: 1, controlPlaneCount: 1, workerCount: 1 });
    expect(toEngineConfig(form)).not.toHaveProperty('nodePools');

    form.poolMode = 'custom';
    const config = toEngineConfig(form);

    expect(config.nodePools).toEqual(['master=1:etcd+controlplane', 'worker=1:worker']);
    expect(config).not.toHaveProperty('etcdCount');
  });

  it('trims strings and drops empty list entries', () => {
    const form = newForm();

    form.values.memory = ' 8Gi ';
    form.values['vm-labels'] = [' team=a ', '', '  '];
    const config = toEngineConfig(form);

    expect(config.memory).toBe('8Gi');
    expect(config.vmLabels).toEqual(['team=a']);
  });
});

describe('pool specs', () => {
  it('round-trip in the driver order of roles', () => {
    expect(poolSpec({ name: 'm', count: 3, roles: ['worker', 'etcd'] })).toBe('m=3:etcd+worker');
    expect(parsePoolSpec('m=3:etcd+controlplane')).toEqual({ name: 'm', count: 3, roles: ['etcd', 'controlplane'] });
    expect(parsePoolSpec('m = 2 : control-plane,worker')).toEqual({ name: 'm', count: 2, roles: ['controlplane', 'worker'] });
    expect(parsePoolSpec('nonsense')).toBeNull();
  });
});

describe('formFromEngineConfig', () => {
  it('reads back what toEngineConfig wrote', () => {
    const form = newForm();

    form.accessMethod = 'token';
    form.values['api-url'] = 'https://h:6443';
    form.values.token = 'secret';
    form.values.image = 'default/ubuntu';
    form.poolMode = 'custom';
    const config = toEngineConfig(form);

    delete config.token; // Rancher does not return secrets
    const back = formFromEngineConfig(config);

    expect(back.accessMethod).toBe('token');
    expect(back.values.image).toBe('default/ubuntu');
    expect(back.pools.map(poolSpec)).toEqual(form.pools.map(poolSpec));
    expect(back.pools.every((p) => p.existing)).toBe(true);
    expect(back.values.token).toBe('');
  });

  it('keeps the cloud provider off for a cluster made before the option', () => {
    expect(formFromEngineConfig({ image: 'default/ubuntu' }).values['harvester-cloud-provider']).toBe(false);
    expect(toEngineConfig(formFromEngineConfig({ image: 'default/ubuntu' })).harvesterCloudProvider).toBe(false);
    expect(formFromEngineConfig({ harvesterCloudProvider: true }).values['harvester-cloud-provider']).toBe(true);
  });

  it('recognises each access method', () => {
    expect(formFromEngineConfig({}, { 'harvesterrke.io/cloud-credential-id': 'cattle-global-data:cc-1' })).toMatchObject({ accessMethod: 'cloudCredential', cloudCredentialId: 'cattle-global-data:cc-1' });
    expect(formFromEngineConfig({ apiUrl: 'https://h', clientCertificateData: 'x' }).accessMethod).toBe('certificate');
    expect(formFromEngineConfig({ apiUrl: 'https://h' }).accessMethod).toBe('token');
    expect(formFromEngineConfig({}).accessMethod).toBe('kubeconfig');
  });
});

describe('applyForm', () => {
  it('sets the name, the engine config and the annotations on the Norman cluster', async() => {
    const form = newForm();
    const cluster: Record<string, any> = { annotations: { keep: 'me' } };

    form.clusterName = ' prod ';
    form.cloudCredentialId = 'cattle-global-data:cc-1';
    await applyForm(cluster, form, 'kubeconfig');

    expect(cluster.name).toBe('prod');
    expect(cluster.harvesterrkeEngineConfig.kubeconfigContent).toBe('kubeconfig');
    expect(cluster.annotations).toEqual({
      keep: 'me', 'ui.rancher/provider': 'harvesterrke', 'harvesterrke.io/cloud-credential-id': 'cattle-global-data:cc-1'
    });

    form.accessMethod = 'kubeconfig';
    await applyForm(cluster, form);
    expect(cluster.annotations).not.toHaveProperty('harvesterrke.io/cloud-credential-id');
  });

  it('uses the driver option names in camelCase', () => {
    expect(camelCase('ssh-trust-host-key-on-first-use')).toBe('sshTrustHostKeyOnFirstUse');
    expect(camelCase('cpus')).toBe('cpus');
  });
});
