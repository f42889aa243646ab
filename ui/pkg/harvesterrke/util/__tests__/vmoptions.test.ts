import fs from 'fs';
import path from 'path';
import jsyaml from 'js-yaml';
import { newForm, FormState } from '../form';
import { validate, Problem } from '../validation';

function validForm(): FormState {
  const form = newForm();

  form.clusterName = 'prod';
  form.accessMethod = 'kubeconfig';
  form.values['kubeconfig-content'] = 'apiVersion: v1\nclusters:\n- name: h\n';
  form.values.image = 'default/ubuntu';
  form.poolMode = 'custom';
  form.pools = [{ name: 'master', count: 1, roles: ['etcd', 'controlplane'] }, { name: 'worker', count: 3, roles: ['worker'] }];

  return form;
}

function problems(values: Record<string, unknown>, isEdit = false): string[] {
  const form = validForm();

  Object.assign(form.values, values);

  return validate(form, { isEdit, originalAccessMethod: 'kubeconfig' }).map((p: Problem) => `${ p.option }:${ p.key }`);
}

const affinity = (a: unknown) => ({ 'vm-affinity': JSON.stringify(a) });

describe('the VM options', () => {
  it('accept every option set well', () => {
    expect(problems({
      networks:                  ['default/vlan1', 'pod,model=e1000', 'storage,mac=02:00:00:00:00:10,pools=worker'],
      'static-addresses':        ['10.0.0.20-10.0.0.29/24,gateway=10.0.0.1,dns=10.0.0.2+10.0.0.3,pools=master', '10.0.1.0/29,network=default/storage,pools=worker'],
      'address-network':         'vlan1',
      'network-data':            Buffer.from('version: 2\nethernets: {nic-0: {mtu: 9000}}\n').toString('base64'),
      'extra-disks':             ['100Gi,storage-class=harvester-longhorn,bus=scsi,pools=worker', '20Gi,image=data,boot-order=2'],
      'cpu-model':               'host-passthrough',
      'cpu-pinning':             true,
      'isolate-emulator-thread': true,
      'secure-boot':             true,
      tpm:                       true,
      ...affinity({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } }),
      'anti-affinity':           'hard',
    })).toEqual([]);
  });

  const ONE_NIC = { network: 'vlan1' };

  it.each([
    ['network and networks', { network: 'default/vlan1', networks: ['default/vlan2'] }, 'networks:networkAndNetworks'],
    ['an unknown NIC setting', { networks: ['default/vlan1,speed=10G'] }, 'networks:entrySetting'],
    ['a setting twice', { networks: ['default/vlan1,model=e1000,model=igb'] }, 'networks:entryTwice'],
    ['a NIC model', { networks: ['default/vlan1,model=virtio2'] }, 'networks:nicModel'],
    ['a MAC', { networks: ['default/vlan1,mac=02:00:00,pools=worker'] }, 'networks:mac'],
    ['a MAC for every pool', { networks: ['default/vlan1,mac=02:00:00:00:00:01'] }, 'networks:macOnePool'],
    ['a multicast MAC', { networks: ['default/vlan1,mac=01:00:00:00:00:01,pools=worker'] }, 'networks:macUnicast'],
    ['MACs that meet', { networks: ['default/vlan1,mac=02:00:00:00:00:01,pools=worker', 'pod,mac=02:00:00:00:00:03,pools=worker'] }, 'networks:macOverlap'],
    ['a pool without a NIC', { networks: ['default/vlan1,pools=worker'] }, 'networks:poolWithoutNIC'],
    ['two NICs on a network', { networks: ['default/vlan1', 'vlan1'] }, 'networks:poolTwoNICs'],
    ['an unknown pool', { networks: ['default/vlan1', 'pod,pools=workers'] }, 'networks:unknownPool'],
    ['a network name', { networks: ['Default/VLAN'] }, 'networks:networkRef'],
    ['an address network no pool has', { 'address-network': 'default/vlan9' }, 'address-network:addressNetwork'],
    ['a range without prefix', { ...ONE_NIC, 'static-addresses': ['10.0.0.1-10.0.0.9'] }, 'static-addresses:addressRange'],
    ['IPv6', { ...ONE_NIC, 'static-addresses': ['fd00::/64'] }, 'static-addresses:addressRange'],
    ['a /31', { ...ONE_NIC, 'static-addresses': ['10.0.0.0/31'] }, 'static-addresses:addressPrefix'],
    ['a range backwards', { ...ONE_NIC, 'static-addresses': ['10.0.0.9-10.0.0.1/24'] }, 'static-addresses:addressOrder'],
    ['a range over two subnets', { ...ONE_NIC, 'static-addresses': ['10.0.0.200-10.0.1.9/24'] }, 'static-addresses:addressSubnet'],
    ['a range too small', { ...ONE_NIC, 'static-addresses': ['10.0.0.1-10.0.0.3/24,gateway=10.0.0.2'] }, 'static-addresses:rangeTooSmall'],
    ['a gateway off the subnet', { ...ONE_NIC, 'static-addresses': ['10.0.0.0/24,gateway=10.1.0.1'] }, 'static-addresses:gateway'],
    ['a DNS server', { ...ONE_NIC, 'static-addresses': ['10.0.0.0/24,dns=dns.example'] }, 'static-addresses:dns'],
    ['on the pod network', { ...ONE_NIC, 'static-addresses': ['10.0.0.0/24,network=pod'] }, 'static-addresses:staticOnPod'],
    ['the first NIC on the pod network', { 'static-addresses': ['10.0.0.0/24'] }, 'static-addresses:staticFirstNICPod'],
    ['a NIC the pool lacks', { ...ONE_NIC, 'static-addresses': ['10.0.0.0/24,network=default/vlan2'] }, 'static-addresses:staticNoNIC'],
    ['a pool in two entries', { ...ONE_NIC, 'static-addresses': ['10.0.0.0/24', '10.0.1.0/24,pools=worker'] }, 'static-addresses:poolTwoRanges'],
    ['overlapping ranges', { ...ONE_NIC, 'static-addresses': ['10.0.0.0/24,pools=master', '10.0.0.100-10.0.0.110/24,pools=worker'] }, 'static-addresses:rangesOverlap'],
    ['network data not YAML', { 'network-data': 'version: [2' }, 'network-data:networkData'],
    ['network data version 3', { 'network-data': 'version: 3' }, 'network-data:networkData'],
    ['network data v1 with static addresses', { ...ONE_NIC, 'static-addresses': ['10.0.0.0/24'], 'network-data': 'version: 1\nconfig: []\n' }, 'network-data:networkDataV2'],
    ['network data fixing an address', { 'network-data': 'version: 2\nethernets: {eth0: {addresses: [10.0.0.5/24]}}' }, 'network-data:networkDataFixed'],
    ['a disk without size', { 'extra-disks': ['storage-class=x'] }, 'extra-disks:diskSize'],
    ['a disk from nothing', { 'extra-disks': ['10Gi'] }, 'extra-disks:diskSource'],
    ['a disk from both', { 'extra-disks': ['10Gi,image=a/b,storage-class=c'] }, 'extra-disks:diskBoth'],
    ['a disk image', { 'extra-disks': ['10Gi,image=A/B'] }, 'extra-disks:diskImage'],
    ['a storage class', { 'extra-disks': ['10Gi,storage-class=Gold'] }, 'extra-disks:storageClass'],
    ['a disk bus', { 'extra-disks': ['10Gi,storage-class=c,bus=ide'] }, 'extra-disks:diskBus'],
    ['boot order 1', { 'extra-disks': ['10Gi,storage-class=c,boot-order=1'] }, 'extra-disks:bootOrder'],
    ['a boot order twice', { 'extra-disks': ['10Gi,storage-class=c,boot-order=2', '10Gi,storage-class=d,boot-order=2,pools=worker'] }, 'extra-disks:bootOrderTwice'],
    ['a CPU model', { 'cpu-model': 'host model' }, 'cpu-model:cpuModel'],
    ['an emulator thread without pinning', { 'isolate-emulator-thread': true }, 'isolate-emulator-thread:needsPinning'],
    ['affinity neither JSON nor base64', { 'vm-affinity': 'zone=a' }, 'vm-affinity:notPlainOrBase64'],
    ['affinity not JSON', { 'vm-affinity': '{"nodeAffinity":' }, 'vm-affinity:affinity'],
    ['affinity misspelled', affinity({ nodeAfinity: {} }), 'vm-affinity:affinity'],
    ['affinity mistyped', affinity({ podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: {} } }), 'vm-affinity:affinity'],
    ['affinity operator', affinity({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'Is' }] }] } } }), 'vm-affinity:affinity'],
    ['affinity weight', affinity({ podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 0, podAffinityTerm: { topologyKey: 'zone' } }] } }), 'vm-affinity:affinity'],
    ['affinity topology', affinity({ podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: {} }] } }), 'vm-affinity:affinity'],
    ['anti-affinity', { 'anti-affinity': 'strict' }, 'anti-affinity:oneOf'],
  ])('reports %s', (_, values, expected) => {
    expect(problems(values)).toContain(expected);
  });

  it('lets an edit name pools that have gone', () => {
    expect(problems({ 'extra-disks': ['10Gi,storage-class=c,pools=old'] }, true)).toEqual([]);
    expect(problems({ 'extra-disks': ['10Gi,storage-class=c,pools=old'] })).toEqual(['extra-disks:unknownPool']);
  });

  it('have a message for every problem', () => {
    const l10n: any = jsyaml.load(fs.readFileSync(path.join(__dirname, '../../l10n/en-us.yaml'), 'utf8'));
    const source = fs.readFileSync(path.join(__dirname, '../vmoptions.ts'), 'utf8');
    const used = new Set([...source.matchAll(/add\([^,]+, '(\w+)'|return '(\w+)';/g)].map((m) => m[1] || m[2]).filter(Boolean));

    expect(used.size).toBeGreaterThan(30);
    used.forEach((key) => expect([key, typeof l10n.harvesterrke.validation[key]]).toEqual([key, 'string']));
  });
});
