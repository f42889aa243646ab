/**
 * The driver's checks of the VM options beyond one disk and one network (driver/parse_vm.go): NICs,
 * static addresses, the address network, network data, extra disks, firmware and CPU, placement.
 * Kept apart from validation.ts, which calls checkVMOptions with what it read of the form.
 */
import jsyaml from 'js-yaml';
import { CHOICES } from './options';
import {
  isDNS1123Label, isDNS1123Subdomain, isQualifiedName, parseQuantity, parseIPv4, plainOrBase64
} from './syntax';

export type Add = (option: string, key: string, args?: Record<string, string | number>) => void;

/** What the checks read of the form, as the driver reads the options. */
export interface VMOptionsInput {
  str(name: string): string;
  list(name: string): string[];
  bool(name: string): boolean;
  /** the pools as the driver makes them (the three role pools, or the custom ones) */
  pools: { name: string, count: number }[];
  /** at creation: entries must name existing pools (later a pool may have gone) */
  creating: boolean;
}

const MIN_DISK = 2 ** 30;
const MAX_BOOT = 64;
const CPU_MODEL = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$/;

interface Entry {
  text: string;
  first: string;
  keys: Record<string, string>;
}

function splitEntry(add: Add, option: string, text: string, allowed: string[]): Entry | null {
  const [first, ...fields] = text.split(',');
  const e: Entry = { text, first: first.trim(), keys: {} };
  let ok = true;

  fields.forEach((f) => {
    const field = f.trim();
    const i = field.indexOf('=');
    const k = i < 0 ? field : field.slice(0, i);

    if (i < 0 || !allowed.includes(k)) {
      add(option, 'entrySetting', { value: text, setting: f, known: allowed.join(', ') });
      ok = false;
    } else if (e.keys[k]) {
      add(option, 'entryTwice', { value: text, setting: k });
      ok = false;
    } else {
      e.keys[k] = field.slice(i + 1).trim();
    }
  });

  return ok ? e : null;
}

const poolList = (e: Entry) => (e.keys.pools ? e.keys.pools.split(/[+ ]/).filter(Boolean) : []);
const forPool = (pools: string[], pool: string) => !pools.length || pools.includes(pool);

/** pod, or <namespace>/<name> (a bare name in the VM namespace); null after a problem. */
function networkKey(add: Add, option: string, v: string, namespace: string): string | null {
  if (v === 'pod') {
    return v;
  }
  const [ns, name] = v.includes('/') ? [v.slice(0, v.indexOf('/')), v.slice(v.indexOf('/') + 1)] : [namespace, v];

  if (!isDNS1123Label(ns) || !isDNS1123Subdomain(name)) {
    add(option, 'networkRef', { value: v });

    return null;
  }

  return `${ ns }/${ name }`;
}

interface NIC { key: string, mac: string, pools: string[] }

/** 48 bits as a number: exact in a double. */
function parseMAC(s: string): number | null {
  const parts = s.split(/[:-]/);

  if (parts.length !== 6 || parts.some((p) => !/^[0-9A-Fa-f]{2}$/.test(p))) {
    return null;
  }

  return parts.reduce((acc, p) => acc * 256 + parseInt(p, 16), 0);
}

interface Range { start: number, end: number, prefix: number, gateway: number | null, dns: number[], network: string, pools: string[], text: string }

const subnetOf = (a: number, prefix: number) => Math.floor(a / 2 ** (32 - prefix)) * 2 ** (32 - prefix);
const inRange = (r: Range, a: number) => r.start <= a && a <= r.end;

/** How many addresses of the range nodes get (not the subnet's own, its broadcast, gateway or DNS). */
function rangeSize(r: Range): number {
  const network = subnetOf(r.start, r.prefix);
  const reserved = new Set([r.gateway, ...r.dns]);

  if (r.prefix <= 30) {
    reserved.add(network);
    reserved.add(network + 2 ** (32 - r.prefix) - 1);
  }

  return r.end - r.start + 1 - [...reserved].filter((a) => a !== null && inRange(r, a)).length;
}

/** <first>-<last>/<prefix length> or a CIDR; a message key when it is neither. */
function parseRange(s: string): Omit<Range, 'gateway' | 'dns' | 'network' | 'pools' | 'text'> | string {
  let start: number | null;
  let end: number | null;
  let prefix: number;
  const dash = s.indexOf('-');

  if (dash >= 0) {
    const slash = s.indexOf('/', dash);

    if (slash < 0) {
      return 'addressRange';
    }
    start = parseIPv4(s.slice(0, dash));
    end = parseIPv4(s.slice(dash + 1, slash));
    const bits = s.slice(slash + 1);

    if (!/^\d+$/.test(bits) || start === null || end === null) {
      return 'addressRange';
    }
    prefix = Number(bits);
  } else {
    const [addr, bits, ...rest] = s.split('/');
    const a = parseIPv4(addr);

    if (rest.length || a === null || !/^\d{1,2}$/.test(bits || '') || Number(bits) > 32) {
      return 'addressRange';
    }
    prefix = Number(bits);
    start = subnetOf(a, prefix);
    end = start + 2 ** (32 - prefix) - 1;
  }
  if (prefix < 8 || prefix > 30) {
    return 'addressPrefix';
  }
  if (end < start) {
    return 'addressOrder';
  }
  if (subnetOf(end, prefix) !== subnetOf(start, prefix)) {
    return 'addressSubnet';
  }

  return { start, end, prefix };
}

function checkNICs(add: Add, input: VMOptionsInput, namespace: string, checkPools: (option: string, entry: string, pools: string[]) => void): NIC[] {
  const counts = new Map(input.pools.map((p) => [p.name, p.count]));
  const out: NIC[] = [];

  input.list('networks').forEach((item) => {
    const e = splitEntry(add, 'networks', item, ['model', 'mac', 'pools']);

    if (!e) {
      return;
    }
    const key = networkKey(add, 'networks', e.first, namespace);

    if (key === null) {
      return;
    }
    const nic: NIC = { key, mac: '', pools: poolList(e) };

    if (e.keys.model && !CHOICES.nicModel.includes(e.keys.model)) {
      add('networks', 'nicModel', { value: item, choices: CHOICES.nicModel.join(', ') });
    }
    checkPools('networks', item, nic.pools);
    if (e.keys.mac) {
      const mac = parseMAC(e.keys.mac);

      if (mac === null) {
        add('networks', 'mac', { value: item });
      } else if (Math.floor(mac / 2 ** 40) % 2 === 1) {
        add('networks', 'macUnicast', { value: item });
      } else if (nic.pools.length !== 1) {
        add('networks', 'macOnePool', { value: item });
      } else {
        nic.mac = e.keys.mac;
      }
    }
    out.push(nic);
  });
  out.forEach((a, i) => {
    out.slice(i + 1).forEach((b) => {
      if (!a.mac || !b.mac) {
        return;
      }
      const [va, vb] = [parseMAC(a.mac) as number, parseMAC(b.mac) as number];
      const [ca, cb] = [Math.max(counts.get(a.pools[0]) || 0, 1), Math.max(counts.get(b.pools[0]) || 0, 1)];

      if (va < vb + cb && vb < va + ca) {
        add('networks', 'macOverlap', { a: a.mac, b: b.mac });
      }
    });
  });

  return out;
}

function checkStaticAddresses(add: Add, input: VMOptionsInput, namespace: string, nicsOf: (pool: string) => NIC[],
  checkPools: (option: string, entry: string, pools: string[]) => void): Range[] {
  const out: Range[] = [];
  const served = new Set<string>();

  input.list('static-addresses').forEach((item) => {
    const e = splitEntry(add, 'static-addresses', item, ['gateway', 'dns', 'network', 'pools']);

    if (!e) {
      return;
    }
    const parsed = parseRange(e.first);

    if (typeof parsed === 'string') {
      add('static-addresses', parsed, { value: item });

      return;
    }
    const r: Range = {
      ...parsed, gateway: null, dns: [], network: '', pools: poolList(e), text: item
    };

    checkPools('static-addresses', item, r.pools);
    if (e.keys.gateway) {
      r.gateway = parseIPv4(e.keys.gateway);
      if (r.gateway === null || subnetOf(r.gateway, r.prefix) !== subnetOf(r.start, r.prefix)) {
        add('static-addresses', 'gateway', { value: item });
      }
    }
    (e.keys.dns || '').split(/[+ ]/).filter(Boolean).forEach((d) => {
      const a = parseIPv4(d);

      if (a === null) {
        add('static-addresses', 'dns', { value: item });
      } else {
        r.dns.push(a);
      }
    });
    if (e.keys.network) {
      r.network = networkKey(add, 'static-addresses', e.keys.network, namespace) || '';
    }
    if (r.network === 'pod') {
      add('static-addresses', 'staticOnPod', { value: item });
    }
    let nodes = 0;

    input.pools.forEach((p) => {
      if (!forPool(r.pools, p.name)) {
        return;
      }
      if (served.has(p.name)) {
        add('static-addresses', 'poolTwoRanges', { pool: p.name });

        return;
      }
      served.add(p.name);
      nodes += p.count;
      const nics = nicsOf(p.name);

      if (!r.network && nics.length && nics[0].key === 'pod') {
        add('static-addresses', 'staticFirstNICPod', { value: item, pool: p.name });
      } else if (r.network && r.network !== 'pod' && !nics.some((n) => n.key === r.network)) {
        add('static-addresses', 'staticNoNIC', { value: item, pool: p.name, network: r.network });
      }
    });
    const size = rangeSize(r);

    if (size < nodes) {
      add('static-addresses', 'rangeTooSmall', { value: item, size, nodes });
    }
    out.forEach((o) => {
      if (inRange(o, r.start) || inRange(o, r.end) || inRange(r, o.start)) {
        add('static-addresses', 'rangesOverlap', { a: o.text, b: item });
      }
    });
    out.push(r);
  });

  return out;
}

/** The network-config's version and whether it fixes addresses; null when it is not one. */
function readNetworkConfig(s: string): { version: number, fixed: boolean } | null {
  let doc: any;

  try {
    doc = jsyaml.load(s);
  } catch (e) {
    return null;
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    return null;
  }
  if (Object.keys(doc).length === 1 && doc.network && typeof doc.network === 'object' && !Array.isArray(doc.network)) {
    doc = doc.network;
  }
  const version = Number(doc.version);
  const entries = (v: unknown): any[] => (v && typeof v === 'object' ? Object.values(v as object) : []);

  if (version === 1) {
    if (!Array.isArray(doc.config)) {
      return null;
    }

    return { version, fixed: doc.config.some((c: any) => entries(c?.subnets).some((sn: any) => String(sn?.type || '').startsWith('static'))) };
  }
  if (version === 2) {
    return { version, fixed: ['ethernets', 'bonds', 'bridges', 'vlans'].some((k) => entries(doc[k]).some((d: any) => Array.isArray(d?.addresses) && d.addresses.length > 0)) };
  }

  return null;
}

// What encoding/json decodes into a core/v1 Affinity (with DisallowUnknownFields): field names and types.
type Shape = 'string' | 'int' | 'stringMap' | { [field: string]: Shape } | Shape[];
const REQUIREMENT: Shape = { key: 'string', operator: 'string', values: ['string'] };
const NODE_TERM: Shape = { matchExpressions: [REQUIREMENT], matchFields: [REQUIREMENT] };
const SELECTOR: Shape = { matchLabels: 'stringMap', matchExpressions: [REQUIREMENT] };
const POD_TERM: Shape = {
  labelSelector: SELECTOR, namespaceSelector: SELECTOR, namespaces: ['string'], topologyKey: 'string', matchLabelKeys: ['string'], mismatchLabelKeys: ['string']
};
const POD_AFFINITY: Shape = {
  requiredDuringSchedulingIgnoredDuringExecution:  [POD_TERM],
  preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 'int', podAffinityTerm: POD_TERM }],
};
const AFFINITY: Shape = {
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution:  { nodeSelectorTerms: [NODE_TERM] },
    preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 'int', preference: NODE_TERM }],
  },
  podAffinity:     POD_AFFINITY,
  podAntiAffinity: POD_AFFINITY,
};

/** Where v does not fit shape (JSON null fits anything, as for Go's pointers and slices). */
function misfit(v: unknown, shape: Shape, path: string): string | null {
  if (v === null) {
    return null;
  }
  if (Array.isArray(shape)) {
    if (!Array.isArray(v)) {
      return `${ path } must be a list`;
    }
    for (let i = 0; i < v.length; i++) {
      const m = misfit(v[i], shape[0], `${ path }[${ i }]`);

      if (m) {
        return m;
      }
    }

    return null;
  }
  switch (shape) {
  case 'string':
    return typeof v === 'string' ? null : `${ path } must be a string`;
  case 'int':
    return Number.isInteger(v) ? null : `${ path } must be a whole number`;
  case 'stringMap':
    return v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string') ? null : `${ path } must be a map of strings`;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    return `${ path || 'it' } must be an object`;
  }
  for (const [k, x] of Object.entries(v)) {
    if (!(k in shape)) {
      return `unknown field "${ path ? `${ path }.` : '' }${ k }"`;
    }
    const m = misfit(x, shape[k], path ? `${ path }.${ k }` : k);

    if (m) {
      return m;
    }
  }

  return null;
}

/** What the API server's pod validation refuses and the schema allows, as the driver checks it. */
function affinityProblems(a: any): string[] {
  const out: string[] = [];
  const nodeTerm = (where: string, t: any) => [...(t?.matchExpressions || []), ...(t?.matchFields || [])].forEach((r: any) => {
    const values = (r?.values || []).length;

    if (['In', 'NotIn'].includes(r?.operator)) {
      if (!values) {
        out.push(`${ where }: operator ${ r.operator } needs values`);
      }
    } else if (['Exists', 'DoesNotExist'].includes(r?.operator)) {
      if (values) {
        out.push(`${ where }: operator ${ r.operator } takes no values`);
      }
    } else if (['Gt', 'Lt'].includes(r?.operator)) {
      if (values !== 1) {
        out.push(`${ where }: operator ${ r.operator } takes one value`);
      }
    } else {
      out.push(`${ where }: operator must be In, NotIn, Exists, DoesNotExist, Gt or Lt`);
    }
    if (!isQualifiedName(r?.key || '')) {
      out.push(`${ where }: key "${ r?.key || '' }" is not a label key`);
    }
  });
  const weight = (where: string, w: any) => {
    if (!(w >= 1 && w <= 100)) {
      out.push(`${ where }: weight must be 1 to 100`);
    }
  };
  const podTerm = (where: string, t: any) => {
    if (!t?.topologyKey) {
      out.push(`${ where }: topologyKey is required`);
    }
    [t?.labelSelector, t?.namespaceSelector].forEach((s: any) => (s?.matchExpressions || []).forEach((r: any) => {
      const values = (r?.values || []).length;

      if (['In', 'NotIn'].includes(r?.operator)) {
        if (!values) {
          out.push(`${ where }: operator ${ r.operator } needs values`);
        }
      } else if (['Exists', 'DoesNotExist'].includes(r?.operator)) {
        if (values) {
          out.push(`${ where }: operator ${ r.operator } takes no values`);
        }
      } else {
        out.push(`${ where }: a label selector's operator must be In, NotIn, Exists or DoesNotExist`);
      }
    }));
  };
  const node = a.nodeAffinity;

  if (node?.requiredDuringSchedulingIgnoredDuringExecution) {
    const terms = node.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms || [];

    if (!terms.length) {
      out.push('nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution needs nodeSelectorTerms');
    }
    terms.forEach((t: any) => nodeTerm('nodeAffinity', t));
  }
  (node?.preferredDuringSchedulingIgnoredDuringExecution || []).forEach((p: any) => {
    weight('nodeAffinity', p?.weight || 0);
    nodeTerm('nodeAffinity', p?.preference);
  });
  ['podAffinity', 'podAntiAffinity'].forEach((name) => {
    (a[name]?.requiredDuringSchedulingIgnoredDuringExecution || []).forEach((t: any) => podTerm(name, t));
    (a[name]?.preferredDuringSchedulingIgnoredDuringExecution || []).forEach((w: any) => {
      weight(name, w?.weight || 0);
      podTerm(name, w?.podAffinityTerm);
    });
  });

  return out;
}

export function checkVMOptions(input: VMOptionsInput, add: Add) {
  const namespace = input.str('vm-namespace');
  const poolNames = new Set(input.pools.map((p) => p.name));
  const checkPools = (option: string, entry: string, pools: string[]) => pools.forEach((p) => {
    if (!poolNames.has(p) && input.creating) {
      add(option, 'unknownPool', { value: entry, pool: p });
    }
  });
  const nics = checkNICs(add, input, namespace, checkPools);
  const network = input.str('network');

  if (nics.length && network) {
    add('networks', 'networkAndNetworks');
  }
  const nicsOf = (pool: string): NIC[] => {
    if (!nics.length) {
      const key = !network ? 'pod' : (network.includes('/') ? network : `${ namespace }/${ network }`);

      return [{ key, mac: '', pools: [] }];
    }

    return nics.filter((n) => forPool(n.pools, pool));
  };

  if (nics.length) {
    input.pools.forEach((p) => {
      const keys = nicsOf(p.name).map((n) => n.key);

      if (!keys.length) {
        add('networks', 'poolWithoutNIC', { pool: p.name });
      }
      keys.filter((k, i) => keys.indexOf(k) !== i).forEach((k) => add('networks', 'poolTwoNICs', { pool: p.name, network: k }));
    });
  }
  const addressNetwork = input.str('address-network');

  if (addressNetwork) {
    const key = networkKey(add, 'address-network', addressNetwork, namespace);

    input.pools.forEach((p) => {
      if (key && !nicsOf(p.name).some((n) => n.key === key)) {
        add('address-network', 'addressNetwork', { pool: p.name, network: key });
      }
    });
  }
  const ranges = checkStaticAddresses(add, input, namespace, nicsOf, checkPools);
  const networkData = input.str('network-data');

  if (networkData) {
    const plain = plainOrBase64(networkData, (s) => s.includes('version') || s.trim().startsWith('network:'));
    const nc = plain === null ? null : readNetworkConfig(plain);
    const nodes = input.pools.reduce((sum, p) => sum + p.count, 0);

    if (!nc) {
      add('network-data', 'networkData');
    } else if (ranges.length && nc.version !== 2) {
      add('network-data', 'networkDataV2');
    } else if (nc.fixed && nodes > 1) {
      add('network-data', 'networkDataFixed', { nodes });
    }
  }
  checkDisks(add, input, namespace, checkPools);
  const model = input.str('cpu-model');

  if (model && !CPU_MODEL.test(model)) {
    add('cpu-model', 'cpuModel');
  }
  if (input.bool('isolate-emulator-thread') && !input.bool('cpu-pinning')) {
    add('isolate-emulator-thread', 'needsPinning');
  }
  checkAffinity(add, input.str('vm-affinity'));
  if (!CHOICES.antiAffinity.includes(input.str('anti-affinity'))) {
    add('anti-affinity', 'oneOf', { choices: CHOICES.antiAffinity.join(', ') });
  }
}

function checkDisks(add: Add, input: VMOptionsInput, namespace: string, checkPools: (option: string, entry: string, pools: string[]) => void) {
  const disks: { order: number, pools: string[] }[] = [];

  input.list('extra-disks').forEach((item) => {
    const e = splitEntry(add, 'extra-disks', item, ['image', 'storage-class', 'bus', 'boot-order', 'pools']);

    if (!e) {
      return;
    }
    const size = parseQuantity(e.first);
    const image = e.keys.image || '';
    const sc = e.keys['storage-class'] || '';

    if (size === null || size < MIN_DISK) {
      add('extra-disks', 'diskSize', { value: item });
    }
    if (image && sc) {
      add('extra-disks', 'diskBoth', { value: item });
    } else if (image) {
      const [ns, n] = image.includes('/') ? [image.slice(0, image.indexOf('/')), image.slice(image.indexOf('/') + 1)] : [namespace, image];

      if (!isDNS1123Label(ns) || !isDNS1123Subdomain(n)) {
        add('extra-disks', 'diskImage', { value: item });
      }
    } else if (!sc) {
      add('extra-disks', 'diskSource', { value: item });
    } else if (!isDNS1123Subdomain(sc)) {
      add('extra-disks', 'storageClass', { value: item });
    }
    if (e.keys.bus && !CHOICES.diskBus.includes(e.keys.bus)) {
      add('extra-disks', 'diskBus', { value: item });
    }
    let order = 0;

    if (e.keys['boot-order']) {
      const b = e.keys['boot-order'];

      if (!/^[+-]?\d+$/.test(b) || Number(b) < 2 || Number(b) > MAX_BOOT) {
        add('extra-disks', 'bootOrder', { value: item });
      } else {
        order = Number(b);
      }
    }
    checkPools('extra-disks', item, poolList(e));
    disks.push({ order, pools: poolList(e) });
  });
  input.pools.forEach((p) => {
    const seen = new Set<number>();

    disks.filter((d) => d.order && forPool(d.pools, p.name)).forEach((d) => {
      if (seen.has(d.order)) {
        add('extra-disks', 'bootOrderTwice', { pool: p.name, order: d.order });
      }
      seen.add(d.order);
    });
  });
}

function checkAffinity(add: Add, v: string) {
  if (!v) {
    return;
  }
  const plain = plainOrBase64(v, (s) => s.trim().startsWith('{'));

  if (plain === null) {
    add('vm-affinity', 'notPlainOrBase64');

    return;
  }
  let doc: unknown;

  try {
    doc = JSON.parse(plain);
  } catch (e) {
    add('vm-affinity', 'affinity', { detail: 'it does not parse' });

    return;
  }
  const m = misfit(doc, AFFINITY, '');

  if (m) {
    add('vm-affinity', 'affinity', { detail: m });

    return;
  }
  affinityProblems(doc).forEach((detail) => add('vm-affinity', 'affinity', { detail }));
}
