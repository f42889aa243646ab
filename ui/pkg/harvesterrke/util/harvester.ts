/**
 * Reads the choices the VM step offers (namespaces, images, networks, key pairs) from the Harvester
 * cluster of a cloud credential: through Rancher's proxy to that cluster's Steve API when this Rancher
 * manages it, else with the credential's kubeconfig through Rancher's /meta/proxy to Harvester's own
 * Kubernetes API. (The driver takes no storage class: disks use the image's.)
 */
import jsyaml from 'js-yaml';

export interface Choice {
  label: string;
  value: string;
}

export interface HarvesterChoices {
  namespaces: string[];
  images: Choice[];
  networks: Choice[];
  keypairs: Choice[];
}

interface Store {
  dispatch: (action: string, payload?: any, options?: any) => Promise<any>;
}

// Harvester's own UI does not offer these for VMs either.
const SYSTEM_NAMESPACE = /^(kube-|cattle-|fleet-|harvester-system$|longhorn-system$|local$)/;

async function list(store: Store, clusterId: string, type: string): Promise<any[]> {
  const res = await store.dispatch('management/request', {
    url:    `/k8s/clusters/${ encodeURIComponent(clusterId) }/v1/${ type }?exclude=metadata.managedFields`,
    method: 'GET',
  }, { root: true });

  return res?.data || [];
}

const ref = (o: any) => `${ o.metadata?.namespace }/${ o.metadata?.name }`;
const byLabel = (a: Choice, b: Choice) => a.label.localeCompare(b.label);

export function imageChoice(image: any): Choice {
  const display = image.spec?.displayName;

  return { value: ref(image), label: display && display !== image.metadata?.name ? `${ display } (${ ref(image) })` : ref(image) };
}

/** Images still downloading cannot be used for a VM disk yet. */
function imageReady(image: any): boolean {
  const progress = image.status?.progress;

  return progress === undefined || progress === 100;
}

export async function loadHarvesterChoices(store: Store, clusterId: string): Promise<HarvesterChoices> {
  return choicesFrom(await Promise.all([
    list(store, clusterId, 'namespaces'),
    list(store, clusterId, 'harvesterhci.io.virtualmachineimages'),
    list(store, clusterId, 'k8s.cni.cncf.io.network-attachment-definitions'),
    list(store, clusterId, 'harvesterhci.io.keypairs'),
  ]));
}

/** Why choices cannot be read with a kubeconfig; the message keys are under harvesterrke.choicesVia. */
export class ChoicesUnavailable extends Error {
  constructor(public key: string, public server = '') {
    super(key);
    this.name = 'ChoicesUnavailable';
  }
}

/** The server and bearer token of a kubeconfig's current context. */
export function kubeconfigAccess(kubeconfig: string): { server: string, token: string } {
  let doc: any;

  try {
    doc = jsyaml.load(kubeconfig);
  } catch (e) {
    throw new ChoicesUnavailable('notKubeconfig');
  }
  const named = (list: any[], name: string) => (list || []).find((x) => x?.name === name);
  const context = named(doc?.contexts, doc?.['current-context'])?.context || doc?.contexts?.[0]?.context || {};
  const server: string = named(doc?.clusters, context.cluster)?.cluster?.server || doc?.clusters?.[0]?.cluster?.server || '';
  const user = named(doc?.users, context.user)?.user || doc?.users?.[0]?.user || {};

  if (!/^https?:\/\/[^/]/.test(server)) {
    throw new ChoicesUnavailable('notKubeconfig');
  }
  // Rancher's proxy can set an Authorization header but cannot present a client certificate.
  if (!user.token) {
    throw new ChoicesUnavailable('noToken', server);
  }

  return { server: server.replace(/\/+$/, ''), token: user.token };
}

/**
 * Through Rancher's /meta/proxy, which reaches only the hosts in a driver's whitelist domains and
 * trusts only the certificates Rancher trusts; a refusal is reported with those reasons.
 */
export async function loadHarvesterChoicesWithKubeconfig(store: Store, kubeconfig: string): Promise<HarvesterChoices> {
  const { server, token } = kubeconfigAccess(kubeconfig);
  const base = `/meta/proxy/${ server.replace(/^https:\/\//, '').replace(/^http:\/\//, 'http:/') }`;
  const get = async(path: string) => {
    const res = await store.dispatch('management/request', {
      url:                  `${ base }${ path }`,
      method:               'GET',
      headers:              { accept: 'application/json', 'x-api-auth-header': `Bearer ${ token }` },
      redirectUnauthorized: false,
    }, { root: true });

    return res?.items || [];
  };

  try {
    return choicesFrom(await Promise.all([
      get('/api/v1/namespaces'),
      get('/apis/harvesterhci.io/v1beta1/virtualmachineimages'),
      get('/apis/k8s.cni.cncf.io/v1/network-attachment-definitions'),
      get('/apis/harvesterhci.io/v1beta1/keypairs'),
    ]));
  } catch (e: any) {
    throw Object.assign(new ChoicesUnavailable('proxyFailed', server), { detail: e?.message || e?._statusText || `${ e?.status || e }` });
  }
}

function choicesFrom([namespaces, images, networks, keypairs]: any[][]): HarvesterChoices {
  return {
    namespaces: namespaces.map((n) => n.metadata?.name).filter((n) => n && !SYSTEM_NAMESPACE.test(n)).sort(),
    images:     images.filter(imageReady).map(imageChoice).sort(byLabel),
    networks:   networks.map((n) => ({ value: ref(n), label: ref(n) })).sort(byLabel),
    keypairs:   keypairs.map((k) => ({ value: ref(k), label: ref(k) })).sort(byLabel),
  };
}
