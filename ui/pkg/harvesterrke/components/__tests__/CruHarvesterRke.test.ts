import { mountForm, settle } from '../../../../test/unit/helpers';
import { fixtures, CREDENTIAL_ID, CREDENTIAL_KUBECONFIG } from '../../../../test/support/fixtures';
import { OPTIONS, camelCase } from '../../util/options';
import { credentialFingerprint } from '../../util/fingerprint';

const field = (wrapper: any, name: string) => wrapper.find(`[data-testid="hrke-field-${ name }"]`);

async function type(wrapper: any, name: string, value: string) {
  await field(wrapper, name).find('input, textarea').setValue(value);
  await settle();
}

async function create(wrapper: any) {
  await wrapper.find('[data-testid="form-save"]').trigger('click');
  await settle();
}

describe('CruHarvesterRke in create mode', () => {
  it('asks the host for nothing it does not model', async() => {
    const { host } = await mountForm();

    expect([...host.unknown.getters]).toEqual([]);
    expect([...host.unknown.actions]).toEqual([]);
  });

  it('saves a Norman cluster with the engine config, the annotations and the credential kubeconfig', async() => {
    const { wrapper, host } = await mountForm();

    await type(wrapper, 'name', 'prod');
    (wrapper.vm as any).form.values.image = 'default/image-ubuntu2204';
    await type(wrapper, 'memory', '8Gi');
    await create(wrapper);

    expect(host.recorded.saves).toHaveLength(1);
    const saved = host.recorded.saves[0];

    expect(saved.name).toBe('prod');
    expect(saved.annotations).toEqual({ 'ui.rancher/provider': 'harvesterrke', 'harvesterrke.io/cloud-credential-id': CREDENTIAL_ID });
    expect(saved.harvesterrkeEngineConfig).toMatchObject({
      kubeconfigContent: CREDENTIAL_KUBECONFIG.trim(), image: 'default/image-ubuntu2204', memory: '8Gi', cpus: 2
    });
    expect(host.recorded.conditions).toEqual(['InitialRolesPopulated']);
    expect(host.recorded.routes).toEqual([{ name: 'c-cluster-product-resource', params: { cluster: '_', product: 'manager', resource: 'provisioning.cattle.io.cluster' } }]);
  });

  it('shows a problem under the field once it is changed', async() => {
    const { wrapper } = await mountForm();

    expect(field(wrapper, 'memory').find('[data-testid="hrke-error-memory"]').exists()).toBe(false);
    await type(wrapper, 'memory', '4GB');
    expect(field(wrapper, 'memory').find('[data-testid="hrke-error-memory"]').text()).toBe('"4GB" is not a quantity such as 4Gi or 512Mi.');
    expect(wrapper.find('[data-testid="btn-vm"] .conditions-alert-icon, [data-testid="vm"] .icon-error').exists()).toBe(true);
  });

  it('refuses to save with problems and shows every one of them', async() => {
    const { wrapper, host } = await mountForm();

    await create(wrapper);

    expect(host.recorded.saves).toEqual([]);
    expect(wrapper.find('[data-testid="error-banner0"]').text()).toContain('2 problems need fixing');
    expect(field(wrapper, 'name').text()).toContain('Required.');
    expect(field(wrapper, 'image').text()).toContain('Required, as namespace/name.');
  });

  it('offers the managed Harvester cluster\'s objects as choices', async() => {
    const { wrapper } = await mountForm();
    const vm = wrapper.vm as any;

    expect(vm.choices.namespaces).toEqual(['default', 'rke-nodes']);
    expect(vm.choices.images.map((c: any) => c.value)).toEqual(['rke-nodes/image-sles15', 'default/image-ubuntu2204']);
    expect(field(wrapper, 'image').find('.labeled-select').exists()).toBe(true);
    expect(field(wrapper, 'network').find('.labeled-select').exists()).toBe(true);
  });

  // A credential an admin pasted for a Harvester cluster Rancher does not manage ("external").
  const EXTERNAL_KUBECONFIG = 'apiVersion: v1\nkind: Config\nclusters:\n- name: h\n  cluster: {server: "https://harvester.example.com:6443"}\nusers:\n- name: u\n  user: {token: "not-a-real-token"}\ncontexts:\n- name: c\n  context: {cluster: h, user: u}\ncurrent-context: c\n';
  const external = (proxy: Record<string, any> = {}) => ({
    ...fixtures,
    cloudCredentials: [{ ...fixtures.cloudCredentials[0], harvestercredentialConfig: { clusterType: 'external' } }],
    secrets:          { 'cattle-global-data/cc-hvst1': { id: 'cattle-global-data/cc-hvst1', data: { 'harvestercredentialConfig-kubeconfigContent': Buffer.from(EXTERNAL_KUBECONFIG).toString('base64') } } },
    proxy,
  });
  const META = '/meta/proxy/harvester.example.com:6443';

  it('reads choices with the kubeconfig of a credential for a Harvester cluster Rancher does not manage', async() => {
    const item = (namespace: string, name: string, extra = {}) => ({ metadata: { namespace, name }, ...extra });
    const { wrapper, host } = await mountForm({
      fixtures: external({
        [`${ META }/api/v1/namespaces`]:                                      { items: [{ metadata: { name: 'default' } }, { metadata: { name: 'kube-system' } }] },
        [`${ META }/apis/harvesterhci.io/v1beta1/virtualmachineimages`]:      { items: [item('default', 'image-x', { spec: { displayName: 'jammy' }, status: { progress: 100 } })] },
        [`${ META }/apis/k8s.cni.cncf.io/v1/network-attachment-definitions`]: { items: [item('default', 'vlan1')] },
        [`${ META }/apis/harvesterhci.io/v1beta1/keypairs`]:                  { items: [item('default', 'ops')] },
      })
    });
    const vm = wrapper.vm as any;

    expect(host.recorded.requests.map((u: string) => u.split('?')[0]).sort()).toEqual([
      `${ META }/api/v1/namespaces`, `${ META }/apis/harvesterhci.io/v1beta1/keypairs`, `${ META }/apis/harvesterhci.io/v1beta1/virtualmachineimages`, `${ META }/apis/k8s.cni.cncf.io/v1/network-attachment-definitions`
    ]);
    expect(vm.choices).toEqual({
      namespaces: ['default'], images: [{ value: 'default/image-x', label: 'jammy (default/image-x)' }], networks: [{ value: 'default/vlan1', label: 'default/vlan1' }], keypairs: [{ value: 'default/ops', label: 'default/ops' }]
    });
    expect(wrapper.find('[data-testid="hrke-choices-error"]').exists()).toBe(false);
  });

  it('says why it offers no choices when Rancher\'s proxy cannot reach that Harvester, and takes free text', async() => {
    const { wrapper } = await mountForm({ fixtures: external() });

    expect(wrapper.find('[data-testid="hrke-choices-error"]').text()).toMatch(/^Rancher's proxy could not read from https:\/\/harvester\.example\.com:6443 \(404 .*\)\. It reaches only hosts listed in the cluster driver's Whitelist Domains/);
    expect(field(wrapper, 'image').find('.labeled-select').exists()).toBe(false);
    await type(wrapper, 'image', 'default/my-image');
    expect((wrapper.vm as any).form.values.image).toBe('default/my-image');
  });

  it('shows only the chosen access method\'s fields', async() => {
    const { wrapper } = await mountForm();
    const vm = wrapper.vm as any;
    const shown = () => ['cloud-credential', 'kubeconfig-content', 'api-url', 'token', 'client-certificate-data', 'client-key-data'].filter((n) => field(wrapper, n).exists());

    expect(shown()).toEqual(['cloud-credential']);
    vm.form.accessMethod = 'kubeconfig';
    await settle();
    expect(shown()).toEqual(['kubeconfig-content']);
    vm.form.accessMethod = 'token';
    await settle();
    expect(shown()).toEqual(['api-url', 'token']);
    vm.form.accessMethod = 'certificate';
    await settle();
    expect(shown()).toEqual(['api-url', 'client-certificate-data', 'client-key-data']);
  });
});

describe('CruHarvesterRke in edit mode', () => {
  const existing = {
    id:                       'c-abc12',
    name:                     'prod',
    annotations:              { 'ui.rancher/provider': 'harvesterrke' },
    harvesterrkeEngineConfig: {
      apiUrl: 'https://harvester.example.com:6443', image: 'default/image-ubuntu2204', nodePools: ['master=3:etcd+controlplane', 'worker=2:worker'], memory: '8Gi'
    },
  };
  const value = {
    id: 'fleet-default/prod', type: 'provisioning.cattle.io.cluster', findNormanCluster: async() => existing
  };

  it('locks what the driver cannot change', async() => {
    const { wrapper } = await mountForm({ mode: 'edit', value, fixtures: { ...fixtures, normanClusters: { 'c-abc12': existing } } });
    const locked = OPTIONS.filter((o) => field(wrapper, o.name).exists()).map((o) => [o.name, field(wrapper, o.name).classes('hrke-locked')]);

    expect(locked.length).toBeGreaterThan(30);
    locked.forEach(([name, isLocked]) => expect([name, isLocked]).toEqual([name, !OPTIONS.find((o) => o.name === name)!.mutable]));
    expect(field(wrapper, 'name').find('input').attributes('disabled')).toBeDefined();
    expect(wrapper.find('[data-testid="hrke-edit-banner"]').exists()).toBe(true);
    // Existing pools keep their names and roles; their counts can change.
    const pool = wrapper.find('[data-testid="hrke-pool-0"]');

    expect(pool.find('[data-testid="hrke-pool-name"] input').attributes('disabled')).toBeDefined();
    expect(pool.find('[data-testid="hrke-pool-count"] input').attributes('disabled')).toBeUndefined();
  });

  it('saves the changes without the secrets Rancher did not return', async() => {
    const { wrapper, host } = await mountForm({ mode: 'edit', value });
    const vm = wrapper.vm as any;

    expect(vm.form.accessMethod).toBe('token');
    expect(field(wrapper, 'token').find('input').attributes('placeholder')).toBe('Stored; leave empty to keep it');
    vm.form.pools[1].count = 4;
    vm.form.values['kubernetes-version'] = 'v1.32.7-rancher1-1';
    await settle();
    await create(wrapper);

    expect(host.recorded.saves).toHaveLength(1);
    const config = host.recorded.saves[0].harvesterrkeEngineConfig;

    expect(config.nodePools).toEqual(['master=3:etcd+controlplane', 'worker=4:worker']);
    expect(config.kubernetesVersion).toBe('v1.32.7-rancher1-1');
    expect(config).not.toHaveProperty('token');
    expect(config.memory).toBe('8Gi');
  });

  // Rancher compares the old and new config with password fields left out and passes the edit on
  // to the driver only when that differs (rancher#51473): a new token alone must change something
  // Rancher compares.
  it('changes what Rancher compares when only the token is new', async() => {
    const PASSWORDS = OPTIONS.filter((o) => o.secret).map((o) => camelCase(o.name));
    const compared = (config: Record<string, any>) => Object.fromEntries(Object.entries(config).filter(([k]) => !PASSWORDS.includes(k)));
    const stored = { ...existing.harvesterrkeEngineConfig, credentialFingerprint: await credentialFingerprint({ token: 'old-token' }) };
    const withStored = { ...value, findNormanCluster: async() => ({ ...existing, harvesterrkeEngineConfig: stored }) };

    const untouched = await mountForm({ mode: 'edit', value: withStored });

    await create(untouched.wrapper);
    const before = untouched.host.recorded.saves[0].harvesterrkeEngineConfig;

    // Without a new secret the stored fingerprint goes back unchanged: nothing new for Rancher.
    expect(before).not.toHaveProperty('token');
    expect(compared(before)).toMatchObject(compared(stored));

    const edited = await mountForm({ mode: 'edit', value: withStored });

    await type(edited.wrapper, 'token', 'new-token');
    await create(edited.wrapper);
    const after = edited.host.recorded.saves[0].harvesterrkeEngineConfig;

    expect(after.token).toBe('new-token');
    expect(compared(after)).not.toEqual(compared(before));
    expect(compared(after)).toEqual({ ...compared(before), credentialFingerprint: await credentialFingerprint({ token: 'new-token' }) });
  });
});
