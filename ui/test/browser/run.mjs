#!/usr/bin/env node
/**
 * The cluster form in a real browser: headless Chromium (Debian's package) loads the extension from
 * the packaged chart repository as the Dashboard loads an installed UIPlugin (see uiplugin-host.mjs),
 * registers its provisioner through a minimal plugin object and mounts the form against the fake
 * Rancher host; then it fills every step as an admin would and checks the exact
 * harvesterrkeEngineConfig the save sends, that invalid input shows the messages, and that edit locks
 * what the driver cannot change.
 *
 * Needs the chart repository (make dist-ui). Writes screenshots to test-results/browser/.
 * Environment: CHROMIUM (default /usr/bin/chromium), HARVESTERRKE_UI_REPO (default ../dist/ui-repo),
 * HARVESTERRKE_HELM (default: the one hack/build-tools.sh builds).
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import http from 'http';
import assert from 'assert/strict';
import { execFileSync } from 'child_process';
import { fileURLToPath, pathToFileURL } from 'url';
import * as sass from 'sass';
import { chromium } from 'playwright-core';
import crypto from 'crypto';
import {
  EXPECTED_CREATE_CONFIG, EXPECTED_VM_OPTIONS_CONFIG, SSH_KEY, USER_DATA, CREDENTIAL_FINGERPRINT, VM_AFFINITY, NETWORK_DATA, REGISTRY_CA
} from './scenario-data.js';
import { CREDENTIAL_KUBECONFIG } from '../support/fixtures.js';
import { renderUIPlugin, cachePlugin, serveUIPlugins } from './uiplugin-host.mjs';

const UI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = path.join(UI, 'test-results/browser');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const started = Date.now();

const REPO = path.resolve(process.env.HARVESTERRKE_UI_REPO || path.join(UI, '../dist/ui-repo'));

function helmBinary() {
  if (process.env.HARVESTERRKE_HELM) {
    return process.env.HARVESTERRKE_HELM;
  }

  return path.join(execFileSync(path.join(UI, '../hack/build-tools.sh'), ['helm'], { encoding: 'utf8' }).trim(), 'helm');
}

/** The chart's UIPlugin, as Rancher would have it after installing the chart. */
function loadChart() {
  if (!fs.existsSync(path.join(REPO, 'index.yaml'))) {
    throw new Error(`no chart repository at ${ REPO }: build it first (make dist-ui)`);
  }

  return renderUIPlugin(REPO, helmBinary());
}

// The Dashboard's global styles, so the screenshots look like Rancher. Its SCSS imports with the
// webpack prefixes ~shell/ and ~@shell/; the fonts' url()s are pointed at node_modules.
function compileDashboardCSS() {
  const shell = path.join(UI, 'node_modules/@rancher/shell');
  const result = sass.compile(path.join(shell, 'assets/styles/app.scss'), {
    loadPaths:           [path.join(UI, 'node_modules')],
    quietDeps:           true,
    logger:              sass.Logger.silent,
    importers:           [{
      findFileUrl(url) {
        const m = /^~@?shell\/(.*)$/.exec(url);

        return m ? pathToFileURL(path.join(shell, m[1])) : null;
      }
    }],
  });
  const css = result.css.replace(/url\("?~@?shell\//g, 'url("/node_modules/@rancher/shell/').replace(/url\("?~/g, 'url("/node_modules/');

  fs.writeFileSync(path.join(OUT, 'rancher.css'), css);
}

const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.yaml': 'text/yaml', '.svg': 'image/svg+xml', '.woff': 'font/woff', '.woff2': 'font/woff2', '.json': 'application/json', '.map': 'application/json'
};

// Serves on loopback, read-only: ui/ (the harness and node_modules), the chart repository under
// /repo/ (where Rancher fetches the extension's files from) and Rancher's /v1/uiplugins API.
function serve(host) {
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);

    if (host.cache && serveUIPlugins(host.plugin, host.cache, rel, res, TYPES)) {
      return;
    }
    const [root, file] = rel.startsWith('/repo/') ? [REPO, path.join(REPO, rel.slice('/repo'.length))] : [UI, path.join(UI, rel)];

    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();

      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });

  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Form actions in the words of the test, over the Dashboard's own components. */
function formDriver(page) {
  const field = (name) => page.locator(`[data-testid="hrke-field-${ name }"]`);

  return {
    field,
    async step(name) {
      await page.click(`[data-testid="btn-${ name }"]`);
      await page.locator(`[data-testid="hrke-step-${ name }"]`).waitFor({ state: 'visible' });
    },
    async fill(name, value) {
      await field(name).locator('input, textarea').first().fill(value);
    },
    async select(name, optionText) {
      await field(name).locator('.v-select').click();
      await page.locator('.vs__dropdown-menu .vs__dropdown-option', { hasText: optionText }).first().click();
      await page.locator('.vs__dropdown-menu').waitFor({ state: 'detached' });
    },
    async check(name) {
      await field(name).locator('[role="checkbox"]').click();
    },
    async addToList(name, value) {
      await field(name).locator('[data-testid="array-list-button"]').click();
      await field(name).locator('input').last().fill(value);
    },
    async error(name) {
      const el = page.locator(`[data-testid="hrke-error-${ name }"]`);

      await el.waitFor({ state: 'visible' });

      return (await el.innerText()).trim();
    },
    async noError(name) {
      await page.locator(`[data-testid="hrke-error-${ name }"]`).waitFor({ state: 'detached' });
    },
    async create() {
      await page.click('[data-testid="form-save"]');
    },
    async shoot(name) {
      await page.screenshot({ path: path.join(OUT, `${ name }.png`), fullPage: true });
    },
  };
}

async function openHarness(context, base, mode) {
  const page = await context.newPage();
  const consoleErrors = [];

  page.setDefaultTimeout(10000);

  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      consoleErrors.push(`${ msg.text() } ${ msg.location()?.url || '' }`.trim());
    }
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('response', (r) => {
    if (r.status() >= 400) {
      consoleErrors.push(`${ r.status() } ${ r.url() }`);
    }
  });
  await page.setViewportSize({ width: 1360, height: 900 });
  // Loading is not what is tested: on a shared 2-core machine under others' builds, parsing the
  // bundle and the first mount have taken over 10 s.
  await page.goto(`${ base }/test/browser/harness.html?mode=${ mode }`, { timeout: 60000 });
  await page.waitForFunction(() => window.harness?.ready || window.harness?.failed, null, { timeout: 60000 });
  const failed = await page.evaluate(() => window.harness.failed && window.harness.errors);

  if (failed) {
    throw new Error(`harness failed:\n${ failed.join('\n') }`);
  }
  await page.locator('[data-testid="hrke-form"]').waitFor();

  return { page, consoleErrors };
}

async function checkClean(page, consoleErrors) {
  const { errors, snap } = await page.evaluate(() => ({ errors: window.harness.errors, snap: window.harness.snapshot() }));

  assert.deepEqual(errors, [], 'Vue errors or warnings in the page');
  assert.deepEqual(consoleErrors, [], 'console errors in the page');
  assert.deepEqual(snap.unknownGetters, [], 'the form used store getters the fake host does not model');
  assert.deepEqual(snap.unknownActions, [], 'the form dispatched actions the fake host does not model');
}

const scenarios = {
  async registration({ page }) {
    const h = await page.evaluate(() => ({
      ids: window.harness.provisionerIds, p: window.harness.provisioner, name: window.harness.metadataName, driver: window.harness.credentialDriver
    }));

    assert.deepEqual(h.ids, ['harvesterrke'], 'one provisioner, with the driver name as id (not the built-in "harvester")');
    assert.deepEqual(h.p, {
      id: 'harvesterrke', group: 'hosted', label: 'RKE on Harvester', hidden: false, disabled: false, hasComponent: true
    });
    assert.equal(h.name, 'harvesterrke');
    assert.equal(h.driver, 'harvester', 'the credential selector offers Harvester cloud credentials');
  },

  async 'invalid input shows the messages'({ page }) {
    const f = formDriver(page);

    await f.create();
    const banner = (await page.locator('[data-testid="error-banner0"]').innerText()).trim();

    assert.match(banner, /^2 problems need fixing before the cluster can be saved/);
    assert.equal(await f.error('name'), 'Required.');
    assert.ok(await page.locator('[data-testid="btn-vm"] .conditions-alert-icon').isVisible(), 'the VM step is marked');
    await f.fill('name', 'Prod Apps');
    assert.equal(await f.error('name'), "Lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters.");

    await f.step('vm');
    assert.equal(await f.error('image'), 'Required, as namespace/name.');
    await f.fill('reserved-memory', '8Gi');
    assert.equal(await f.error('reserved-memory'), 'Must be less than the memory (4Gi).');
    await f.fill('memory', '4GB');
    assert.equal(await f.error('memory'), '"4GB" is not a quantity such as 4Gi or 512Mi.');
    await f.fill('ssh-user', 'Admin');
    assert.match(await f.error('ssh-user'), /^A Linux user name/);

    await f.step('kubernetes');
    await f.fill('service-cidr', '10.42.128.0/17');
    assert.equal(await f.error('service-cidr'), 'Overlaps the cluster CIDR 10.42.0.0/16.');
    await f.fill('cluster-cidr', '10.42.0.0/28');
    assert.match(await f.error('cluster-cidr'), /Too small for a cluster/);

    await f.step('pools');
    await page.locator('[data-testid="hrke-pool-mode"] input[value="custom"]').locator('..').click();
    await page.locator('[data-testid="hrke-pool-1"] [data-testid="hrke-pool-role-worker"]').locator('[role="checkbox"]').click();
    const pools = await f.error('node-pools');

    assert.match(pools, /Pool worker: choose at least one role\./);
    assert.match(pools, /No pool has the worker role/);

    await f.step('advanced');
    await f.fill('user-data', 'packages: [jq]');
    assert.equal(await f.error('user-data'), 'Must start with #cloud-config (or be its base64 encoding).');
    await f.fill('vm-ready-timeout', '0');
    assert.equal(await f.error('vm-ready-timeout'), 'A whole number from 1 to 86400.');
    await f.shoot('create-invalid');
    assert.match((await page.locator('[data-testid="error-banner0"]').innerText()).trim(), /^9 problems need fixing/, 'the count follows the form');
    assert.equal((await page.evaluate(() => window.harness.snapshot())).saves.length, 0, 'nothing was saved');
  },

  async 'every step filled, the exact engine config saved'({ page }) {
    const f = formDriver(page);

    await f.fill('name', 'prod-apps');
    await f.fill('cluster-description', 'Apps for the prod team');
    // Access: the only Harvester credential is picked already; its cluster is managed by this Rancher.
    assert.match(await f.field('cloud-credential').innerText(), /harvester-lab/);
    await f.check('insecure-skip-tls-verify');
    await f.shoot('create-1-access');

    await f.step('vm');
    await f.select('vm-namespace', 'rke-nodes');
    await f.select('image', 'sles-15-sp6');
    await f.select('network', 'rke-nodes/vlan20');
    await f.fill('cpus', '4');
    await f.fill('memory', '8Gi');
    await f.fill('reserved-memory', '256Mi');
    await f.fill('disk-size', '60Gi');
    await f.select('disk-bus', 'scsi');
    await f.fill('ssh-user', 'rancher');
    await f.select('keypair', 'rke-nodes/ops-key');
    await f.fill('ssh-private-key', SSH_KEY);
    await f.check('ssh-trust-host-key-on-first-use');
    await f.fill('vm-name-prefix', 'prod');
    await f.fill('description', 'Apps cluster of the prod team');
    await f.addToList('vm-labels', 'team=apps');
    await f.shoot('create-2-vm');

    await f.step('pools');
    await page.locator('[data-testid="hrke-pool-mode"] input[value="custom"]').locator('..').click();
    const pool = (i) => page.locator(`[data-testid="hrke-pool-${ i }"]`);

    await pool(0).locator('[data-testid="hrke-pool-count"] input').fill('3');
    await pool(1).locator('[data-testid="hrke-pool-count"] input').fill('2');
    await page.click('[data-testid="hrke-pool-add"]');
    await pool(2).locator('[data-testid="hrke-pool-name"] input').fill('gpu');
    await pool(2).locator('[data-testid="hrke-pool-count"] input').fill('2');
    assert.equal((await page.locator('[data-testid="hrke-pool-total"]').innerText()).trim(), '7 nodes in total');
    await f.shoot('create-3-pools');

    await f.step('docker');
    await f.fill('docker-version', '27.5');
    await f.fill('docker-install-url', 'https://get.example.com/docker.sh');
    await f.addToList('registry-mirrors', 'https://mirror.example.com');
    await f.addToList('insecure-registries', 'registry.example.com:5000');
    await f.fill('engine-storage-driver', 'overlay2');
    await f.addToList('engine-labels', 'zone=a');
    await f.addToList('engine-options', 'log-driver=journald');
    await f.check('ignore-docker-version');
    await f.check('prepull-images'); // on by default: this turns it off
    await f.fill('private-registry-url', 'registry.example.com:5000');
    await f.fill('private-registry-username', 'puller');
    await f.fill('private-registry-password', 'pull-secret');
    await f.fill('private-registry-ca-cert', REGISTRY_CA);
    await f.shoot('create-4-docker');

    await f.step('kubernetes');
    await f.fill('kubernetes-version', 'v1.32.7-rancher1-1');
    await f.select('network-plugin', 'calico');
    await f.fill('cluster-cidr', '10.100.0.0/16');
    await f.fill('service-cidr', '10.101.0.0/16');
    await f.fill('cluster-domain', 'prod.local');
    await f.select('ingress-provider', 'none');
    await f.select('dns-provider', 'kube-dns');
    await f.select('monitoring-provider', 'none');
    await f.shoot('create-5-kubernetes');

    await f.step('advanced');
    await f.fill('user-data', USER_DATA);
    await f.fill('vm-ready-timeout', '900');
    await f.fill('ssh-ready-timeout', '450');
    await f.shoot('create-6-advanced');

    // ArrayList reports its rows after a short debounce.
    await page.waitForTimeout(150);
    await f.create();
    await page.waitForFunction(() => window.harness.snapshot().routes.length > 0);
    const snap = await page.evaluate(() => window.harness.snapshot());

    assert.equal(snap.saves.length, 1);
    const saved = snap.saves[0];

    assert.deepEqual(saved.harvesterrkeEngineConfig, EXPECTED_CREATE_CONFIG);
    // The fingerprint the page computed with the browser's Web Crypto is the driver's digest.
    assert.equal(CREDENTIAL_FINGERPRINT, crypto.createHash('sha256').update(`kubeconfig-content=${ CREDENTIAL_KUBECONFIG.trim() }\ntoken=\nclient-key-data=\n`).digest('hex').slice(0, 16));
    assert.equal(saved.name, 'prod-apps');
    assert.equal(saved.description, 'Apps for the prod team');
    assert.equal(saved.type, 'cluster');
    assert.deepEqual(saved.annotations, { 'ui.rancher/provider': 'harvesterrke', 'harvesterrke.io/cloud-credential-id': 'cattle-global-data:cc-hvst1' });
    assert.deepEqual(snap.conditions, ['InitialRolesPopulated']);
    assert.equal(snap.routes[0].name, 'c-cluster-product-resource');
    assert.deepEqual(snap.requests.map((u) => u.split('?')[0].split('/v1/')[1]).sort(), ['harvesterhci.io.keypairs', 'harvesterhci.io.virtualmachineimages', 'k8s.cni.cncf.io.network-attachment-definitions', 'namespaces']);
  },
};

/** The VM options, grouped as Harvester's machine form groups them: their messages, then the config sent. */
async function vmOptionsScenario({ page }) {
  const f = formDriver(page);
  const lastOf = (name) => f.field(name).locator('input').last();

  await f.fill('name', 'vm-opts');
  await f.step('vm');
  await f.select('image', 'sles-15-sp6');
  await f.fill('cpu-model', 'host model');
  assert.equal(await f.error('cpu-model'), 'A CPU model name such as host-passthrough or Cascadelake-Server.');
  await f.fill('cpu-model', 'host-passthrough');
  await f.noError('cpu-model');

  await f.step('volumes');
  await f.addToList('extra-disks', '100Gi');
  assert.equal(await f.error('extra-disks'), '"100Gi": needs image=namespace/name or storage-class=name.');
  await lastOf('extra-disks').fill('100Gi,storage-class=harvester-longhorn,bus=scsi,pools=worker');
  await f.addToList('extra-disks', '20Gi,image=rke-nodes/image-sles15,boot-order=2');
  await f.noError('extra-disks');
  await f.shoot('vm-options-1-volumes');

  await f.step('networks');
  await f.addToList('networks', 'rke-nodes/vlan20');
  await f.addToList('networks', 'default/vlan10,model=e1000,mac=02:00:00:00:0a:01,pools=worker');
  await f.addToList('static-addresses', '10.0.20.10-10.0.20.19/24,gateway=10.0.21.1,dns=10.0.20.2,pools=worker');
  assert.equal(await f.error('static-addresses'), '"10.0.20.10-10.0.20.19/24,gateway=10.0.21.1,dns=10.0.20.2,pools=worker": the gateway must be an IPv4 address in the range\'s subnet.');
  await lastOf('static-addresses').fill('10.0.20.10-10.0.20.19/24,gateway=10.0.20.1,dns=10.0.20.2,pools=worker');
  await f.noError('static-addresses');
  await f.select('address-network', 'rke-nodes/vlan20');
  await f.shoot('vm-options-2-networks');

  await f.step('advanced');
  await f.check('isolate-emulator-thread');
  assert.equal(await f.error('isolate-emulator-thread'), 'Needs CPU pinning.');
  await f.check('cpu-pinning');
  await f.noError('isolate-emulator-thread');
  await f.check('secure-boot');
  await f.check('tpm');
  await f.fill('network-data', NETWORK_DATA);
  await f.fill('vm-affinity', '{"nodeAfinity":{}}');
  assert.equal(await f.error('vm-affinity'), 'Not a Kubernetes Affinity in JSON (or base64): unknown field "nodeAfinity".');
  await f.fill('vm-affinity', VM_AFFINITY);
  await f.noError('vm-affinity');
  await f.select('anti-affinity', 'Required (never two on one host)');
  await f.shoot('vm-options-3-advanced');

  await page.waitForTimeout(150); // ArrayList reports its rows after a short debounce
  await f.create();
  await page.waitForFunction(() => window.harness.snapshot().routes.length > 0);
  const snap = await page.evaluate(() => window.harness.snapshot());

  assert.equal(snap.saves.length, 1);
  assert.deepEqual(snap.saves[0].harvesterrkeEngineConfig, EXPECTED_VM_OPTIONS_CONFIG);
}

scenarios['VM options: messages, then the exact engine config saved'] = vmOptionsScenario;

const editScenarios = {
  async 'edit locks what cannot change and saves the rest'({ page }) {
    const f = formDriver(page);

    assert.ok(await page.locator('[data-testid="hrke-edit-banner"]').isVisible());
    assert.ok(await f.field('name').locator('input').isDisabled(), 'the name is fixed');
    await f.step('vm');
    assert.ok(await f.field('memory').locator('input').isDisabled(), 'memory is fixed');
    assert.match(await f.field('image').getAttribute('class'), /hrke-locked/, 'the image is fixed');
    await f.step('volumes');
    assert.match(await f.field('extra-disks').getAttribute('class'), /hrke-locked/, 'the extra disks are fixed');
    await f.step('networks');
    assert.match(await f.field('networks').getAttribute('class'), /hrke-locked/, 'the NICs are fixed');
    assert.doesNotMatch(await f.field('static-addresses').getAttribute('class'), /hrke-locked/, 'static addresses can grow and new pools get theirs');
    await f.step('pools');
    assert.ok(await page.locator('[data-testid="hrke-pool-0"] [data-testid="hrke-pool-name"] input').isDisabled(), 'pool names are fixed');
    await page.locator('[data-testid="hrke-pool-1"] [data-testid="hrke-pool-count"] input').fill('5');
    await f.step('kubernetes');
    assert.ok(await f.field('cluster-cidr').locator('input').isDisabled(), 'the pod network is fixed');
    await f.fill('kubernetes-version', 'v1.33.3-rancher1-1');
    await f.shoot('edit');
    await f.create();
    await page.waitForFunction(() => window.harness.snapshot().routes.length > 0);
    const saved = (await page.evaluate(() => window.harness.snapshot())).saves[0].harvesterrkeEngineConfig;

    assert.equal(saved.kubernetesVersion, 'v1.33.3-rancher1-1');
    assert.deepEqual(saved.nodePools, ['master=3:etcd+controlplane', 'worker=5:worker', 'gpu=2:worker']);
    assert.equal(saved.kubeconfigContent, CREDENTIAL_KUBECONFIG.trim(), 'the kubeconfig is read again from the credential');
    assert.ok(!('sshPrivateKey' in saved), 'the SSH key Rancher did not return is left to the driver to keep');
    const { kubernetesVersion, nodePools, ...rest } = saved;
    const { kubernetesVersion: _v, nodePools: _p, sshPrivateKey: _k, ...expectedRest } = EXPECTED_CREATE_CONFIG;

    assert.deepEqual(rest, expectedRest, 'everything else is sent as it was');
  },
};

// Publish with this shell must put the package's annotations on the chart (over the template's
// `certified: rancher`) and into the UIPlugin, whose metadata the Dashboard checks before loading.
function checkAnnotations(chart, plugin) {
  const want = JSON.parse(fs.readFileSync(path.join(UI, 'pkg/harvesterrke/package.json'), 'utf8')).rancher.annotations;

  for (const [key, value] of Object.entries(want)) {
    assert.equal(chart.annotations?.[key], value, `chart annotation ${ key }`);
    assert.equal(plugin.metadata?.[key], value, `UIPlugin metadata ${ key }`);
  }
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const { chart, plugin } = loadChart();

  checkAnnotations(chart, plugin);
  const host = { plugin };

  compileDashboardCSS();
  const server = await serve(host);
  const base = `http://127.0.0.1:${ server.address().port }`;
  const { cache, files } = await cachePlugin(plugin, `${ base }/repo`);

  host.cache = cache;
  const main = path.join(cache, plugin.name, plugin.version, 'plugin', plugin.metadata?.main || `${ plugin.name }-${ plugin.version }.umd.min.js`);
  const mainKiB = (fs.statSync(main).size / 1024).toFixed(0);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hrke-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless:       true,
    args:           ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
  const results = [];

  try {
    for (const [mode, set] of [['create', scenarios], ['edit', editScenarios]]) {
      for (const [name, run] of Object.entries(set)) {
        const t = Date.now();
        const { page, consoleErrors } = await openHarness(context, base, mode);

        try {
          await run({ page });
          await checkClean(page, consoleErrors);
          results.push({ name, ok: true, ms: Date.now() - t });
        } catch (e) {
          await page.screenshot({ path: path.join(OUT, `failed-${ name.replace(/\W+/g, '-') }.png`), fullPage: true }).catch(() => {});
          results.push({
            name, ok: false, ms: Date.now() - t, error: e
          });
        } finally {
          await page.close();
        }
      }
    }
  } finally {
    await context.close();
    server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
    fs.rmSync(cache, { recursive: true, force: true });
  }

  for (const r of results) {
    console.log(`${ r.ok ? 'ok  ' : 'FAIL' } ${ r.name } (${ r.ms } ms)`); // eslint-disable-line no-console
    if (!r.ok) {
      console.log(String(r.error?.stack || r.error).replace(/^/gm, '     ')); // eslint-disable-line no-console
    }
  }
  console.log(`chart ${ chart.name } ${ chart.version }: UIPlugin ${ plugin.name } ${ plugin.version }, ${ files.length } files, ${ path.basename(main) } ${ mainKiB } KiB; screenshots in ${ path.relative(process.cwd(), OUT) || '.' }; ${ ((Date.now() - started) / 1000).toFixed(1) } s`); // eslint-disable-line no-console
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

main().catch((e) => {
  console.error(e); // eslint-disable-line no-console
  process.exit(1);
});
