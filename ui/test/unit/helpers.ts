import fs from 'fs';
import path from 'path';
import * as Vue from 'vue';
import VueSelect from 'vue-select';
import IntlMessageFormat from 'intl-messageformat';
import jsyaml from 'js-yaml';
import { mount, flushPromises } from '@vue/test-utils';
import { createFakeRancher } from '../support/fake-rancher';
import { fixtures as defaultFixtures } from '../support/fixtures';
import CruHarvesterRke from '../../pkg/harvesterrke/components/CruHarvesterRke.vue';

const UI = path.resolve(__dirname, '../..');

function deepMerge(a: any, b: any): any {
  const out = { ...a };

  Object.keys(b).forEach((k) => {
    out[k] = a?.[k] && typeof a[k] === 'object' && typeof b[k] === 'object' ? deepMerge(a[k], b[k]) : b[k];
  });

  return out;
}

let cachedTranslations: any;

/** The Dashboard's own en-us strings with the extension's on top, as Rancher merges them. */
export function translations(): any {
  if (!cachedTranslations) {
    const read = (p: string) => jsyaml.load(fs.readFileSync(path.join(UI, p), 'utf8'));

    cachedTranslations = deepMerge(read('node_modules/@rancher/shell/assets/translations/en-us.yaml'), read('pkg/harvesterrke/l10n/en-us.yaml'));
  }

  return cachedTranslations;
}

export function fakeRancher(fixtures: any = defaultFixtures) {
  return createFakeRancher({
    Vue, VueSelect, IntlMessageFormat, translations: translations(), fixtures
  });
}

/** Mounts the cluster form as the Dashboard's cluster page would, and waits for its fetch(). */
// A new provisioning.cattle.io.cluster, as the Dashboard's cluster page passes it in.
export const NEW_CLUSTER = {
  type:         'provisioning.cattle.io.cluster',
  metadata:     { namespace: 'fleet-default' },
  listLocation: { name: 'c-cluster-product-resource', params: { product: 'manager', resource: 'provisioning.cattle.io.cluster' } },
};

export async function mountForm({ mode = 'create', value = NEW_CLUSTER, fixtures = defaultFixtures }: { mode?: string, value?: any, fixtures?: any } = {}) {
  const host = fakeRancher(fixtures);

  // No plugins/mapDriver here: the form must find Harvester credentials without it (Rancher < 2.15).
  const wrapper = mount(CruHarvesterRke, {
    props:         { mode, value },
    global:        { plugins: [{ install: host.install }] },
    attachTo:      document.body,
  });

  await settle();

  return { wrapper, host };
}

/** Lets fetch(), proxied requests and debounced list updates finish. */
export async function settle() {
  for (let i = 0; i < 3; i++) {
    await flushPromises();
    // ArrayList reports changes after a 50 ms debounce.
    await new Promise((resolve) => setTimeout(resolve, 60));
  }
  await flushPromises();
}
