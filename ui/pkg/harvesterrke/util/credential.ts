/**
 * Rancher's Harvester cloud credential: a kubeconfig Rancher generated for a Harvester cluster it
 * manages (clusterType "imported", with its clusterId), or one an admin pasted ("external").
 *
 * The driver has no notion of cloud credentials; it takes the kubeconfig. The form reads the
 * credential's Secret when it saves and sends its kubeconfig as kubeconfig-content.
 */
import { decodeBase64 } from './syntax';

interface Store {
  dispatch: (action: string, payload?: any, options?: any) => Promise<any>;
}

// Rancher keeps a cloud credential's fields in a Secret, under <config>-<field> keys.
const KUBECONFIG_KEY = 'harvestercredentialConfig-kubeconfigContent';

/** The credential's Secret: credential ids are <namespace>:<name>, Steve ids <namespace>/<name>. */
export function credentialSecretId(credentialId: string): string {
  return credentialId.replace(':', '/');
}

/** The managed Harvester cluster the credential points to, if any. */
export async function harvesterClusterOf(store: Store, credentialId: string): Promise<string> {
  const credential = await store.dispatch('rancher/find', { type: 'cloudcredential', id: credentialId }, { root: true });

  return credential?.harvestercredentialConfig?.clusterId || '';
}

export async function kubeconfigOf(store: Store, credentialId: string): Promise<string> {
  const secret = await store.dispatch('management/find', { type: 'secret', id: credentialSecretId(credentialId), opt: { force: true } }, { root: true });
  const encoded = secret?.data?.[KUBECONFIG_KEY];
  const kubeconfig = encoded ? decodeBase64(encoded) : null;

  if (!kubeconfig) {
    throw new Error(`no ${ KUBECONFIG_KEY } in the credential's secret`);
  }

  return kubeconfig;
}
