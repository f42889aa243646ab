/**
 * Writes the form onto the Norman v3 cluster that Rancher's kontainer-engine turns into a call to
 * the driver.
 */
import { FormState, toEngineConfig } from './form';
import { withFingerprint } from './fingerprint';
import {
  ENGINE_CONFIG_FIELD, UI_PROVIDER_ANNOTATION, CLOUD_CREDENTIAL_ANNOTATION, DRIVER_NAME
} from './options';

export async function applyForm(normanCluster: Record<string, any>, form: FormState, credentialKubeconfig = ''): Promise<void> {
  normanCluster.name = form.clusterName.trim();
  normanCluster.description = form.clusterDescription.trim();
  normanCluster[ENGINE_CONFIG_FIELD] = await withFingerprint(toEngineConfig(form, credentialKubeconfig));

  const annotations = { ...(normanCluster.annotations || {}) };

  annotations[UI_PROVIDER_ANNOTATION] = DRIVER_NAME;
  if (form.accessMethod === 'cloudCredential') {
    annotations[CLOUD_CREDENTIAL_ANNOTATION] = form.cloudCredentialId;
  } else {
    delete annotations[CLOUD_CREDENTIAL_ANNOTATION];
  }
  normanCluster.annotations = annotations;
}
