/**
 * The Rancher lines the extension claims are the ones its compatibility matrix tests
 * (compat/matrix.json, run by hack/ui-matrix.sh), and the installed shell's own loader
 * (shouldNotLoadPlugin, what the Dashboard runs before loading an installed extension) accepts the
 * chart's metadata on each of those lines and refuses it on the lines around them.
 */
import fs from 'fs';
import path from 'path';

interface Line { rancher: string, ships: string, shell: string }

const UI = path.resolve(__dirname, '..');
const read = (p: string) => JSON.parse(fs.readFileSync(path.join(UI, p), 'utf8'));
const matrix: { build: string, lines: Line[] } = read('compat/matrix.json');
const pkg = read('pkg/harvesterrke/package.json');
const annotations: Record<string, string> = pkg.rancher.annotations;
const shellVersion: string = read('node_modules/@rancher/shell/package.json').version;

const minor = (v: string) => v.split('.').slice(0, 2).map(Number);
const next = (line: string) => `${ minor(line)[0] }.${ minor(line)[1] + 1 }`;
const previous = (line: string) => `${ minor(line)[0] }.${ minor(line)[1] - 1 }`;
// The Dashboard coerces the version of its shell to the extension API version: 3.0.2-rc.6 is 3.0.2.
const api = (ships: string) => ships.replace(/-.*$/, '');
const oldest = matrix.lines[0];
const newest = matrix.lines[matrix.lines.length - 1];

/** The installed loader's verdict on the chart's UIPlugin in a Dashboard of `rancher` built from shell `api`. */
function loaderVerdict(rancher: string, api: string): string | boolean {
  let verdict: string | boolean = 'not run';

  // The Dashboard compiles the version of the shell it ships in as its extension API version; the
  // module reads it once, so each verdict loads it afresh.
  jest.isolateModules(() => {
    process.env.UI_EXTENSIONS_API_VERSION = api;
    const { shouldNotLoadPlugin } = require('@shell/config/uiplugins');
    const uiplugin = {
      name: pkg.name, version: pkg.version, endpoint: 'https://example.com/plugin', compressedEndpoint: 'https://example.com/plugin.tgz', metadata: annotations
    };

    verdict = shouldNotLoadPlugin(uiplugin, { rancherVersion: rancher, kubeVersion: 'v1.32.7' }, []);
  });

  return verdict;
}

describe('the claimed compatibility', () => {
  it('is the range of Rancher lines the matrix tests, without gaps', () => {
    expect(annotations['catalog.cattle.io/rancher-version']).toBe(`>= ${ oldest.rancher }.0-0 < ${ next(newest.rancher) }.0-0`);
    // Ordered by line; a line may be tested with several shells.
    matrix.lines.slice(1).forEach((l, i) => expect([matrix.lines[i].rancher, next(matrix.lines[i].rancher)]).toContain(l.rancher));
  });

  // The Dashboard compares this with the shell it ships, so the oldest line's own shell is the floor.
  it('is the extension API of the oldest tested line on, within its major', () => {
    expect(annotations['catalog.cattle.io/ui-extensions-version']).toBe(`>= ${ api(oldest.ships) } < ${ Number(oldest.ships.split('.')[0]) + 1 }.0.0`);
  });

  it('covers the shell the release is built with, and the installed one', () => {
    expect(matrix.lines.map((l) => l.shell)).toContain(matrix.build);
    expect(matrix.lines.map((l) => l.shell)).toContain(shellVersion);
  });

  it.each([...new Map(matrix.lines.map((l) => [l.rancher, l.ships]))])(`is accepted by the loader of shell ${ shellVersion } in Rancher %s (shell %s)`, (rancher, ships) => {
    expect(loaderVerdict(`v${ rancher }.0`, ships)).toBe(false);
    expect(loaderVerdict(`v${ rancher }.99`, ships)).toBe(false);
  });

  // ...and the check is real: the lines just outside the claimed ones are refused.
  it('is refused by that loader before the oldest line and after the newest', () => {
    expect(loaderVerdict(`v${ previous(oldest.rancher) }.9`, oldest.ships)).toBe('plugins.error.version');
    expect(loaderVerdict(`v${ next(newest.rancher) }.0`, newest.ships)).toBe('plugins.error.version');
    expect(loaderVerdict(`v${ oldest.rancher }.0`, '2.0.1')).toBe('plugins.error.api');
  });
});
