#!/usr/bin/env node
/**
 * The cluster form in a real browser: headless Chromium (Debian's package) loads the built extension
 * bundle into harness.html, registers its provisioner through a minimal plugin object and mounts the
 * form against the fake Rancher host; then it fills every step as an admin would and checks the exact
 * harvesterrkeEngineConfig the save sends, that invalid input shows the messages, and that edit locks
 * what the driver cannot change.
 *
 * Needs the bundle (npm run build-pkg -- harvesterrke). Writes screenshots to test-results/browser/.
 * Environment: CHROMIUM (default /usr/bin/chromium).
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import http from 'http';
import assert from 'assert/strict';
import { fileURLToPath, pathToFileURL } from 'url';
import * as sass from 'sass';
import { chromium } from 'playwright-core';
import { EXPECTED_CREATE_CONFIG, SSH_KEY, USER_DATA } from './scenario-data.js';
import { CREDENTIAL_KUBECONFIG } from '../support/fixtures.js';

const UI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = path.join(UI, 'test-results/browser');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PKG = 'harvesterrke';
const started = Date.now();

function findBundle() {
  const version = JSON.parse(fs.readFileSync(path.join(UI, 'pkg', PKG, 'package.json'), 'utf8')).version;
  const id = `${ PKG }-${ version }`;
  const file = path.join(UI, 'dist-pkg', id, `${ id }.umd.min.js`);

  if (!fs.existsSync(file)) {
    throw new Error(`no bundle at ${ path.relative(UI, file) }: build it first (npm run build-pkg -- ${ PKG })`);
  }

  return { id, url: `/${ path.relative(UI, file) }`, bytes: fs.statSync(file).size };
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

// Serves ui/ read-only on loopback: the harness, node_modules and the bundle.
function serve() {
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = path.join(UI, rel);

    if (!file.startsWith(UI + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
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

async function openHarness(context, base, bundle, mode) {
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
  await page.goto(`${ base }/test/browser/harness.html?bundle=${ encodeURIComponent(bundle.url) }&id=${ bundle.id }&mode=${ mode }`);
  await page.waitForFunction(() => window.harness?.ready || window.harness?.failed);
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
    assert.equal(saved.name, 'prod-apps');
    assert.equal(saved.description, 'Apps for the prod team');
    assert.equal(saved.type, 'cluster');
    assert.deepEqual(saved.annotations, { 'ui.rancher/provider': 'harvesterrke', 'harvesterrke.io/cloud-credential-id': 'cattle-global-data:cc-hvst1' });
    assert.deepEqual(snap.conditions, ['InitialRolesPopulated']);
    assert.equal(snap.routes[0].name, 'c-cluster-product-resource');
    assert.deepEqual(snap.requests.map((u) => u.split('?')[0].split('/v1/')[1]).sort(), ['harvesterhci.io.keypairs', 'harvesterhci.io.virtualmachineimages', 'k8s.cni.cncf.io.network-attachment-definitions', 'namespaces']);
  },
};

const editScenarios = {
  async 'edit locks what cannot change and saves the rest'({ page }) {
    const f = formDriver(page);

    assert.ok(await page.locator('[data-testid="hrke-edit-banner"]').isVisible());
    assert.ok(await f.field('name').locator('input').isDisabled(), 'the name is fixed');
    await f.step('vm');
    assert.ok(await f.field('memory').locator('input').isDisabled(), 'memory is fixed');
    assert.match(await f.field('image').getAttribute('class'), /hrke-locked/, 'the image is fixed');
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

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const bundle = findBundle();

  compileDashboardCSS();
  const server = await serve();
  const base = `http://127.0.0.1:${ server.address().port }`;
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
        const { page, consoleErrors } = await openHarness(context, base, bundle, mode);

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
  }

  for (const r of results) {
    console.log(`${ r.ok ? 'ok  ' : 'FAIL' } ${ r.name } (${ r.ms } ms)`); // eslint-disable-line no-console
    if (!r.ok) {
      console.log(String(r.error?.stack || r.error).replace(/^/gm, '     ')); // eslint-disable-line no-console
    }
  }
  console.log(`bundle ${ path.basename(bundle.url) } ${ (bundle.bytes / 1024).toFixed(0) } KiB; screenshots in ${ path.relative(process.cwd(), OUT) || '.' }; ${ ((Date.now() - started) / 1000).toFixed(1) } s`); // eslint-disable-line no-console
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

main().catch((e) => {
  console.error(e); // eslint-disable-line no-console
  process.exit(1);
});
