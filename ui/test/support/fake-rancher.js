/**
 * A stand-in for the parts of the Rancher Dashboard that the cluster form uses at run time: the
 * Vuex store's getters and actions (i18n, Norman and Steve resources, the proxy to a downstream
 * Harvester cluster), the router, and the globals the Dashboard installs for every component
 * (t(), <t>, the v-clean-html family of directives, v-select and the fetch() hook).
 *
 * The unit tests (jsdom) and the browser test (Chromium) share it. It imports nothing: Vue, vue-select
 * and intl-messageformat are passed in, from node_modules in jest and as the browser globals the
 * harness page loads.
 *
 * Anything the form asks for that is not modelled here is recorded in `unknown`, so a test can fail
 * on it instead of the form quietly getting `undefined`.
 */

const ENTITIES = {
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'
};

// As the Dashboard's i18n: t() escapes HTML unless asked for the raw string.
function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

// Translation keys are dotted paths; a segment may be quoted when it holds dots itself.
function lookup(tree, key) {
  const parts = key.match(/"[^"]*"|[^.]+/g) || [];

  return parts.reduce((node, part) => (node === undefined || node === null ? undefined : node[part.replace(/^"|"$/g, '')]), tree);
}

function plain(data) {
  return JSON.parse(JSON.stringify(data));
}

/**
 * @param {object} opts
 * @param {object} opts.Vue              the Vue 3 module (or the global build)
 * @param {object} opts.VueSelect        vue-select's component
 * @param {Function} opts.IntlMessageFormat
 * @param {object} opts.translations     the merged en-us translation tree
 * @param {object} [opts.fixtures]       what the fake Rancher and Harvester hold (see below)
 */
export function createFakeRancher({
  Vue, VueSelect, IntlMessageFormat, translations, fixtures = {}
}) {
  const {
    cloudCredentials = [], // Norman cloudcredential objects
    secrets = {}, //         Steve secrets by id (namespace/name)
    proxy = {}, //           response bodies by proxied URL path (without the query)
    normanClusters = {}, //  existing Norman clusters by id, for edit
    kontainerDrivers = [{ id: 'kd-hrke', driverName: 'harvesterrke', spec: { active: true } }],
  } = fixtures;

  const recorded = {
    saves:      [], // bodies of Norman cluster saves, as they would go over the wire
    conditions: [], // conditions waited for after saving
    requests:   [], // URLs the form asked Rancher's proxy for
    routes:     [], // where the form navigated to when done
  };
  const unknown = { getters: new Set(), actions: new Set() };
  const driverMap = {};

  function translate(key, args) {
    const msg = lookup(translations, key);

    if (typeof msg !== 'string') {
      return undefined;
    }
    if (!msg.includes('{')) {
      return msg;
    }

    return new IntlMessageFormat(msg, 'en-US').format({ vendor: 'Rancher', appName: 'Rancher', ...args });
  }

  function t(key, args, raw) {
    const s = translate(key, args);

    if (s === undefined) {
      return `%${ key }%`;
    }

    return raw ? s : escapeHtml(s);
  }

  function withModelMethods(data) {
    const obj = plain(data);

    Object.defineProperties(obj, {
      save: {
        value: async function() {
          recorded.saves.push(plain(this));
          if (!this.id) {
            this.id = 'c-fake1';
          }

          return this;
        }
      },
      waitForCondition: {
        value: async(name) => {
          recorded.conditions.push(name);
        }
      },
    });

    return obj;
  }

  function credentialModel(data) {
    const cred = plain(data);

    // As Rancher's cloudcredential model: the provider comes from the *credentialConfig key.
    const configKey = Object.keys(cred).find((k) => k.endsWith('credentialConfig'));

    cred.provider = cred.provider || (configKey ? configKey.replace(/credentialConfig$/, '') : null);
    cred.nameDisplay = cred.nameDisplay || cred.name || cred.id;

    return cred;
  }

  const getters = {
    'i18n/t':                           translate,
    'i18n/exists':                      (key) => typeof lookup(translations, key) === 'string',
    'i18n/withFallback':                (key, args, fallback) => translate(key, args) ?? fallback,
    currentStore:                       () => 'management',
    'management/schemaFor':             () => null,
    'rancher/schemaFor':                () => null,
    'type-map/isSpoofed':               () => false,
    'auth/principalId':                 'local://u-fake',
    'plugins/credentialDriverFor':      (name) => driverMap[(name || '').toLowerCase()] || (name || '').toLowerCase(),
    'plugins/credentialFieldForDriver': (name) => name,
    'prefs/get':                        () => undefined,
    'management/canList':               (type) => type === 'management.cattle.io.kontainerdriver',
    'management/all':                   (type) => (type === 'management.cattle.io.kontainerdriver' ? plain(kontainerDrivers) : []),
  };

  const getterProxy = new Proxy(getters, {
    get(target, key) {
      if (key in target) {
        return target[key];
      }
      if (typeof key === 'string') {
        unknown.getters.add(key);
      }

      return undefined;
    },
    has(target, key) {
      if (!(key in target) && typeof key === 'string') {
        unknown.getters.add(key);
      }

      return true;
    },
  });

  async function dispatch(type, payload = {}) {
    switch (type) {
    case 'rancher/findAll':
      if (payload.type === 'cloudcredential') {
        return cloudCredentials.map(credentialModel);
      }
      break;
    case 'rancher/find':
      if (payload.type === 'cloudcredential') {
        const found = cloudCredentials.find((c) => c.id === payload.id);

        if (!found) {
          throw Object.assign(new Error(`cloudcredential ${ payload.id } not found`), { status: 404 });
        }

        return credentialModel(found);
      }
      if (payload.type === 'cluster' && normanClusters[payload.id]) {
        return withModelMethods(normanClusters[payload.id]);
      }
      break;
    case 'rancher/create':
      if (payload.type === 'cloudcredential') {
        return credentialModel(payload);
      }

      return withModelMethods(payload);
    case 'rancher/clone':
      return withModelMethods(payload.resource);
    case 'management/find':
      if (payload.type === 'secret') {
        if (!secrets[payload.id]) {
          throw Object.assign(new Error(`secret ${ payload.id } not found`), { status: 404 });
        }

        return plain(secrets[payload.id]);
      }
      break;
    case 'management/request': {
      const path = payload.url.split('?')[0];

      recorded.requests.push(payload.url);
      if (!(path in proxy)) {
        throw Object.assign(new Error(`404 ${ path }`), { status: 404 });
      }

      return plain(proxy[path]);
    }
    case 'plugins/mapDriver':
      driverMap[payload.name] = payload.to;

      return;
    case 'cru-resource/setCreateNamespace':
    case 'prefs/set':
      return;
    }
    unknown.actions.add(type);
  }

  const state = { 'cru-resource': { createNamespace: false } };
  const store = {
    state,
    getters: getterProxy,
    dispatch,
    commit:  () => {},
  };

  // vuex's mapState/mapActions with a namespace look the module up here.
  store._modulesNamespaceMap = new Proxy({}, {
    get(_, namespace) {
      const name = String(namespace).replace(/\/$/, '');

      if (!(name in state)) {
        unknown.getters.add(`${ name }/ (module)`);
      }

      return {
        context: {
          state:    state[name] || {},
          getters:  getterProxy,
          dispatch: (type, payload) => dispatch(`${ name }/${ type }`, payload),
          commit:   () => {},
        }
      };
    },
  });

  const route = Vue.reactive({
    name:   'c-cluster-product-resource-create',
    params: { cluster: '_', product: 'manager', resource: 'provisioning.cattle.io.cluster' },
    query:  {},
  });
  const router = {
    replace:    (loc) => recorded.routes.push(loc),
    push:       (loc) => recorded.routes.push(loc),
    applyQuery: () => {},
  };

  // The Dashboard's fetch() hook (a Nuxt leftover): runs fetch() before mount and tracks $fetchState.
  const fetchMixin = {
    data() {
      return this.$options.fetch ? { $_fetchState: { pending: true, error: null } } : {};
    },
    computed: {
      $fetchState() {
        return this.$data.$_fetchState || { pending: false, error: null };
      },
    },
    beforeMount() {
      if (!this.$options.fetch) {
        return;
      }
      const state = this.$data.$_fetchState;

      Promise.resolve(this.$options.fetch.call(this)).catch((e) => {
        state.error = e;
        console.error('fetch() failed', e); // eslint-disable-line no-console
      }).finally(() => {
        state.pending = false;
      });
    },
  };

  function install(app) {
    app.config.globalProperties.$store = store;
    app.config.globalProperties.$route = route;
    app.config.globalProperties.$router = router;
    app.config.globalProperties.t = (key, args, raw) => t(key, args, raw);
    // vuex's useStore() injects 'store'
    app.provide('store', store);
    app.mixin(fetchMixin);
    app.component('v-select', VueSelect);
    app.component('t', {
      inheritAttrs: false,
      props:        { k: { type: String, required: true }, raw: Boolean, tag: { type: String, default: 'span' } },
      render() {
        return Vue.h(this.tag, {}, [t(this.k, this.$attrs, true)]);
      },
    });
    app.directive('t', (el, binding) => {
      el.textContent = t(binding.value, {}, true);
    });
    app.directive('clean-html', (el, binding) => {
      el.innerHTML = binding.value || '';
    });
    app.directive('clean-tooltip', (el, binding) => {
      const v = binding.value;

      el.setAttribute('title', typeof v === 'object' && v !== null ? v.content || '' : v || '');
    });
    app.directive('stripped-aria-label', (el, binding) => {
      if (binding.value) {
        el.setAttribute('aria-label', binding.value);
      }
    });
    app.directive('trim-whitespace', () => {});
    app.directive('ui-context', () => {});
    app.directive('focus', { mounted: (el) => el.focus && el.focus() });
  }

  return {
    store, route, router, install, recorded, unknown, t
  };
}
