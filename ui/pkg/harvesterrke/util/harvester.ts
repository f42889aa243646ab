/**
 * Reads the choices the VM step offers (namespaces, images, networks, key pairs) from a Harvester
 * cluster that this Rancher manages, through Rancher's proxy to that cluster's Steve API.
 */

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
  const [namespaces, images, networks, keypairs] = await Promise.all([
    list(store, clusterId, 'namespaces'),
    list(store, clusterId, 'harvesterhci.io.virtualmachineimages'),
    list(store, clusterId, 'k8s.cni.cncf.io.network-attachment-definitions'),
    list(store, clusterId, 'harvesterhci.io.keypairs'),
  ]);

  return {
    namespaces: namespaces.map((n) => n.metadata?.name).filter((n) => n && !SYSTEM_NAMESPACE.test(n)).sort(),
    images:     images.filter(imageReady).map(imageChoice).sort(byLabel),
    networks:   networks.map((n) => ({ value: ref(n), label: ref(n) })).sort(byLabel),
    keypairs:   keypairs.map((k) => ({ value: ref(k), label: ref(k) })).sort(byLabel),
  };
}
