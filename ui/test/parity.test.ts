/**
 * Parity with the driver: the form must have a field for every create option the driver declares and
 * must send nothing else, with the driver's types, defaults, secrecy and mutability.
 *
 * The option list comes from the driver itself, not from a copy: `<driver binary> schema`. Which
 * binary: $HARVESTERRKE_SCHEMA_CMD (a shell command printing the schema), else $HARVESTERRKE_DRIVER
 * (a built binary), else `go run . schema` in the repository (ui/..).
 */
import { execFileSync, execSync } from 'child_process';
import path from 'path';
import { OPTIONS, camelCase } from '../pkg/harvesterrke/util/options';
import { newForm, toEngineConfig, ACCESS_METHODS, PoolMode } from '../pkg/harvesterrke/util/form';
import { mountForm, settle } from './unit/helpers';

interface SchemaOption {
  name: string;
  type: string;
  default: unknown;
  secret?: boolean;
  mutable?: boolean;
  group: string;
}

// HARVESTERRKE_REPO: the repository, when these tests run from a copy (hack/ui-matrix.sh).
const REPO = process.env.HARVESTERRKE_REPO || path.resolve(__dirname, '../..');

function driverSchema(): { driver: string, options: SchemaOption[] } {
  const opts = {
    encoding: 'utf8' as const, timeout: 10 * 60 * 1000, maxBuffer: 16 << 20
  };
  let out: string;

  if (process.env.HARVESTERRKE_SCHEMA_CMD) {
    out = execSync(process.env.HARVESTERRKE_SCHEMA_CMD, { ...opts, cwd: REPO });
  } else if (process.env.HARVESTERRKE_DRIVER) {
    out = execFileSync(process.env.HARVESTERRKE_DRIVER, ['schema'], opts);
  } else {
    out = execFileSync('go', ['run', '.', 'schema'], { ...opts, cwd: REPO });
  }

  return JSON.parse(out);
}

const TYPE_OF_VALUE: Record<string, (v: unknown) => boolean> = {
  string:      (v) => typeof v === 'string',
  int:         (v) => Number.isInteger(v),
  bool:        (v) => typeof v === 'boolean',
  stringSlice: (v) => Array.isArray(v) && v.every((s) => typeof s === 'string'),
};

let schema: { driver: string, options: SchemaOption[] };

beforeAll(() => {
  schema = driverSchema();
}, 10 * 60 * 1000);

describe('the form and the driver schema', () => {
  it('are about the same driver', () => {
    expect(schema.driver).toBe('harvesterrke');
  });

  it('know the same options', () => {
    expect(OPTIONS.map((o) => o.name).sort()).toEqual(schema.options.map((o) => o.name).sort());
  });

  it('agree on each option\'s type, default, secrecy and mutability', () => {
    schema.options.forEach((s) => {
      const o = OPTIONS.find((x) => x.name === s.name);

      expect({
        name: s.name, type: o?.type, default: o?.default, secret: !!o?.secret, mutable: !!o?.mutable
      }).toEqual({
        name: s.name, type: s.type, default: s.default, secret: !!s.secret, mutable: !!s.mutable
      });
    });
  });

  it('has a field in the form for every driver option', async() => {
    const { wrapper } = await mountForm();
    const vm = wrapper.vm as any;
    const seen = new Set<string>();
    const collect = () => wrapper.findAll('[data-testid^="hrke-field-"]').forEach((f) => seen.add(f.attributes('data-testid')!.replace('hrke-field-', '')));

    // Some fields show only for one access method or pool layout: visit every combination.
    for (const method of ACCESS_METHODS) {
      for (const poolMode of ['roles', 'custom'] as PoolMode[]) {
        vm.form.accessMethod = method;
        vm.form.poolMode = poolMode;
        await settle();
        collect();
      }
    }
    // The load balancer's IP pool shows with control-plane-address load-balancer.
    vm.form.values['control-plane-address'] = 'load-balancer';
    await settle();
    collect();

    const formOnly = ['name', 'cluster-description', 'cloud-credential'];

    // A computed option has no field; the form sets it itself (see util/fingerprint.ts).
    const computed = OPTIONS.filter((o) => o.computed).map((o) => o.name);

    expect(computed).toEqual(['credential-fingerprint']);
    expect(schema.options.map((o) => o.name).filter((n) => !seen.has(n) && !computed.includes(n))).toEqual([]);
    expect(computed.filter((n) => seen.has(n))).toEqual([]);
    expect([...seen].filter((n) => !formOnly.includes(n) && !schema.options.some((o) => o.name === n))).toEqual([]);
  });

  it('sends only keys the driver reads, with the driver\'s types', () => {
    const known = new Map(schema.options.map((o) => [camelCase(o.name), o]));
    const form = newForm();

    // Fill every option so that nothing is left out as empty.
    schema.options.forEach((o) => {
      if (o.type === 'string' && !form.values[o.name]) {
        form.values[o.name] = `${ o.name }-value`;
      } else if (o.type === 'stringSlice') {
        form.values[o.name] = ['a=b'];
      }
    });
    const sentKeys = new Set<string>();

    for (const method of ACCESS_METHODS) {
      for (const poolMode of ['roles', 'custom'] as PoolMode[]) {
        Object.assign(form, { accessMethod: method, poolMode });
        Object.entries(toEngineConfig(form, 'kubeconfig-from-credential')).forEach(([key, value]) => {
          const option = known.get(key);

          expect([key, !!option]).toEqual([key, true]);
          expect([key, TYPE_OF_VALUE[option!.type](value)]).toEqual([key, true]);
          sentKeys.add(key);
        });
      }
    }
    // ...and, over all the ways to fill the form, every option does get sent.
    expect([...known.keys()].filter((k) => !sentKeys.has(k))).toEqual([]);
  });
});
