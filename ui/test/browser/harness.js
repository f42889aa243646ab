/**
 * Loads the installed extension the way the Dashboard does (shell/plugins/plugin.js and
 * loadPluginAsync in shell/core/extension-manager-impl.js): the UIPlugin entries from
 * /v1/uiplugins, then a <script> for /v1/uiplugins/<name>/<version>/plugin/<main>, whose global
 * <name>-<version> has a default export called with a plugin object. Then it takes the registered
 * provisioner and mounts its component against the fake Rancher host.
 *
 * Query parameters: mode (create or edit).
 */
import { createFakeRancher } from '../support/fake-rancher.js';
import { fixtures } from '../support/fixtures.js';
import { EXISTING_CLUSTER } from './scenario-data.js';

const params = new URLSearchParams(location.search);
const harness = { errors: [], ready: false };

window.harness = harness;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const el = document.createElement('script');

    el.src = src;
    el.onload = resolve;
    el.onerror = () => reject(new Error(`could not load ${ src }`));
    document.head.appendChild(el);
  });
}

function deepMerge(a, b) {
  const out = { ...a };

  Object.keys(b).forEach((k) => {
    out[k] = a?.[k] && typeof a[k] === 'object' && typeof b[k] === 'object' ? deepMerge(a[k], b[k]) : b[k];
  });

  return out;
}

// The minimal part of the Dashboard's Plugin class that an extension's entry point calls.
function pluginObject() {
  const registered = {};

  return {
    registered,
    metadata: {},
    register(type, name, value) {
      registered[type] = registered[type] || {};
      (registered[type][name] = registered[type][name] || []).push(value);
    },
    addL10n(locale, fn) {
      this.register('l10n', locale, fn);
    },
  };
}

/** The installed extension's entry and script URL, as the Dashboard finds them. */
async function installedExtension() {
  const index = await (await fetch('/v1/uiplugins', { headers: { accept: 'application/json' } })).json();
  const entries = Object.values(index.entries || index.Entries || {});

  if (entries.length !== 1) {
    throw new Error(`want one installed extension, /v1/uiplugins lists ${ entries.length }`);
  }
  const { name, version, metadata } = entries[0];
  const id = `${ name }-${ version }`;

  return { id, url: `/v1/uiplugins/${ name }/${ version }/plugin/${ metadata?.main || `${ id }.umd.min.js` }` };
}

async function main() {
  const { id, url } = await installedExtension();

  await loadScript(url);
  if (typeof window[id]?.default !== 'function') {
    throw new Error(`the bundle did not define window["${ id }"].default`);
  }
  const plugin = pluginObject();

  window[id].default(plugin, {});

  // Translations: the Dashboard's own, then each l10n file the extension registered.
  let translations = window.jsyaml.load(await (await fetch('/node_modules/@rancher/shell/assets/translations/en-us.yaml')).text());

  for (const load of plugin.registered.l10n?.['en-us'] || []) {
    const mod = await load();

    translations = deepMerge(translations, mod.default || mod);
  }

  const host = createFakeRancher({
    Vue: window.Vue, VueSelect: window['vue-select'], IntlMessageFormat: window.IntlMessageFormat.default || window.IntlMessageFormat, translations, fixtures
  });
  const provisioners = plugin.registered.provisioner || {};
  const [Provisioner] = Object.values(provisioners)[0] || [];
  const mode = params.get('mode') || 'create';
  // The context the Dashboard gives a provisioner (ClusterProvisionerContext).
  const provisioner = new Provisioner({
    dispatch:   host.store.dispatch,
    getters:    host.store.getters,
    t:          (k) => host.t(k, {}, true),
    axios:      null,
    $plugin:    plugin,
    $extension: plugin,
    isCreate:   mode === 'create',
    isEdit:     mode === 'edit',
    isView:     false,
  });

  const listLocation = { name: 'c-cluster-product-resource' };
  const newCluster = { type: 'provisioning.cattle.io.cluster', metadata: { namespace: 'fleet-default' }, listLocation };
  const existingCluster = {
    id: 'fleet-default/prod-apps', type: 'provisioning.cattle.io.cluster', listLocation, findNormanCluster: async() => EXISTING_CLUSTER
  };
  const value = mode === 'edit' ? existingCluster : newCluster;

  const app = window.Vue.createApp({ render: () => window.Vue.h(provisioner.component, { mode, value }) });

  app.config.errorHandler = (err) => {
    harness.errors.push(String(err?.stack || err));
  };
  app.config.warnHandler = (msg) => {
    harness.errors.push(`Vue warning: ${ msg }`);
  };
  app.use(host);
  app.mount('#app');

  Object.assign(harness, {
    ready:          true,
    host,
    provisionerIds: Object.keys(provisioners),
    provisioner:    {
      id: provisioner.id, group: provisioner.group, label: provisioner.label, hidden: provisioner.hidden, disabled: provisioner.disabled, hasComponent: !!provisioner.component
    },
    metadataName:     plugin.metadata?.name,
    credentialDriver: host.store.getters['plugins/credentialDriverFor']('harvesterrke'),
    // Plain copies for the test to read across the page boundary.
    snapshot:         () => JSON.parse(JSON.stringify({
      saves: host.recorded.saves, conditions: host.recorded.conditions, routes: host.recorded.routes, requests: host.recorded.requests, unknownGetters: [...host.unknown.getters], unknownActions: [...host.unknown.actions]
    })),
  });
}

main().catch((e) => {
  harness.errors.push(String(e?.stack || e));
  harness.failed = true;
});
