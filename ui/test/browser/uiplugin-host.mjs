/**
 * Rancher's side of an installed extension, for the browser test, from the packaged chart repository
 * (dist/ui-repo) rather than the build directory:
 *
 * - the UIPlugin is what the chart renders with real helm, as Rancher's Extensions page installs it
 *   (release name = chart name, namespace cattle-ui-plugin-system);
 * - its files are fetched over HTTP from the chart repository the way Rancher's UIPlugin controller
 *   caches them (pkg/controllers/dashboard/plugin/fscache.go): the compressedEndpoint tarball unpacked
 *   under <name>/, or without one each file files.txt lists, checked against what the endpoint
 *   serves (plugin/package.json's version must be the UIPlugin's, files.txt's files must exist);
 * - they are served as Rancher's API does (pkg/api/steve/catalog/plugin.go): GET /v1/uiplugins lists
 *   the entries, GET /v1/uiplugins/<name>/<version>/<path> returns a cached file.
 *
 * The chart's endpoint names the URL the repository was built for (UI_REPO_URL); the test serves the
 * same directory on loopback and reaches those URLs there.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { execFileSync } from 'child_process';
import jsyaml from 'js-yaml';

const NAMESPACE = 'cattle-ui-plugin-system';

/** The chart's UIPlugin spec.plugin, rendered by helm. */
export function renderUIPlugin(repoDir, helm) {
  const index = jsyaml.load(fs.readFileSync(path.join(repoDir, 'index.yaml'), 'utf8'));
  const charts = Object.entries(index.entries || {});

  if (charts.length !== 1 || charts[0][1].length !== 1) {
    throw new Error(`${ repoDir }/index.yaml must list one chart in one version, lists ${ JSON.stringify(charts.map(([n, v]) => [n, v.map((x) => x.version)])) }`);
  }
  const [name, [entry]] = charts[0];

  if (entry.annotations?.['catalog.cattle.io/ui-component'] !== 'plugins') {
    throw new Error(`chart ${ name } lacks catalog.cattle.io/ui-component: plugins; Rancher would not list it as an extension`);
  }
  const archive = path.join(repoDir, entry.urls[0]);
  const out = execFileSync(helm, ['template', name, archive, '--namespace', NAMESPACE], { encoding: 'utf8' });
  const plugins = jsyaml.loadAll(out).filter((d) => d?.kind === 'UIPlugin');

  if (plugins.length !== 1) {
    throw new Error(`chart ${ name } renders ${ plugins.length } UIPlugins, want 1`);
  }

  return { chart: entry, plugin: plugins[0].spec.plugin };
}

async function get(url) {
  const res = await fetch(url);

  if (!res.ok) {
    throw new Error(`GET ${ url }: ${ res.status }`);
  }

  return Buffer.from(await res.arrayBuffer());
}

/**
 * Caches the plugin's files as Rancher's controller would, fetching them from `local` (the loopback
 * URL the repository directory is served at) in place of the repository URL the chart names.
 */
export async function cachePlugin(plugin, local) {
  const at = plugin.endpoint?.indexOf('/extensions/') ?? -1;

  // Charts from shells before 3.0.5 have no compressedEndpoint; Rancher then fetches files.txt's files.
  if (at < 0 || (plugin.compressedEndpoint && plugin.compressedEndpoint !== `${ plugin.endpoint }.tgz`)) {
    throw new Error(`unexpected endpoints ${ plugin.endpoint } / ${ plugin.compressedEndpoint }`);
  }
  const localURL = (u) => local + u.slice(at);
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'hrke-uiplugin-'));
  const dir = path.join(cache, plugin.name);

  fs.mkdirSync(dir, { recursive: true });
  if (plugin.compressedEndpoint) {
    const tgz = path.join(cache, 'plugin.tgz');

    fs.writeFileSync(tgz, await get(localURL(plugin.compressedEndpoint)));
    execFileSync('tar', ['-xzf', tgz, '-C', dir]);
  }

  // What the uncompressed endpoint serves must agree, as Rancher falls back to it.
  const pkg = JSON.parse(await get(`${ localURL(plugin.endpoint) }/plugin/package.json`));

  if (pkg.version !== plugin.version) {
    throw new Error(`plugin/package.json has version ${ pkg.version }, the UIPlugin ${ plugin.version }`);
  }
  const files = String(await get(`${ localURL(plugin.endpoint) }/files.txt`)).split('\n').filter(Boolean);

  for (const f of files) {
    if (/(^[/\\.])|\.\./.test(f)) {
      throw new Error(`files.txt lists ${ f }, which Rancher refuses`);
    }
    const data = await get(`${ localURL(plugin.endpoint) }/${ f }`);
    const file = path.join(dir, plugin.version, f);

    if (!plugin.compressedEndpoint) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, data);
    } else if (!fs.existsSync(file)) {
      throw new Error(`files.txt lists ${ f }, which the compressed endpoint's archive lacks`);
    }
  }

  return { cache, files };
}

/** Answers Rancher's /v1/uiplugins requests from the cache; false for any other path. */
export function serveUIPlugins(plugin, cache, rel, res, types) {
  if (rel === '/v1/uiplugins') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ entries: { [plugin.name]: { ...plugin, CacheState: 'cached', Ready: true } } }));

    return true;
  }
  const m = /^\/v1\/uiplugins\/([^/]+)\/([^/]+)\/(.+)$/.exec(rel);

  if (!m) {
    return false;
  }
  const [, name, version, rest] = m;
  const file = path.join(cache, name, version, rest);

  if (name !== plugin.name || version !== plugin.version || !file.startsWith(cache + path.sep) || !fs.existsSync(file)) {
    res.writeHead(404).end(`plugin [name: ${ name } version: ${ version }] does not exist in index`);

    return true;
  }
  res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);

  return true;
}
