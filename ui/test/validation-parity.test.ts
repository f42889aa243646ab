/**
 * Parity with the driver's validation: the cases of driver/testdata/validation-cases.json, which the
 * driver's own test runs through its parser (driver/validation_parity_test.go), must get the same
 * verdict from the form's validator, with problems about the same options.
 */
import fs from 'fs';
import path from 'path';
import { camelCase, OPTIONS } from '../pkg/harvesterrke/util/options';
import { formFromEngineConfig, toEngineConfig } from '../pkg/harvesterrke/util/form';
import { validate } from '../pkg/harvesterrke/util/validation';
import { withFingerprint, FINGERPRINT_OPTION } from '../pkg/harvesterrke/util/fingerprint';

interface Case {
  option: string;
  valid: boolean;
  values: Record<string, unknown>;
  problems?: string[];
  uiComputes?: boolean;
  note?: string;
}

const table: { base: Record<string, unknown>, alwaysValid: string[], cases: Case[] } = JSON.parse(
  fs.readFileSync(path.join(process.env.HARVESTERRKE_REPO || path.resolve(__dirname, '../..'), 'driver/testdata/validation-cases.json'), 'utf8')
);

/** The case as a form: as if the form were filled for a new cluster with this engine config. */
function formOf(values: Record<string, unknown>) {
  const merged: Record<string, unknown> = { ...table.base, ...values };
  const config: Record<string, any> = {};

  Object.entries(merged).forEach(([name, v]) => {
    if (name !== 'name' && v !== null) {
      config[camelCase(name)] = v;
    }
  });
  const form = formFromEngineConfig(config, {}, false);

  form.clusterName = String(merged.name);

  return form;
}

const problemOptions = (values: Record<string, unknown>) => [...new Set(validate(formOf(values), { isEdit: false }).map((p) => p.option))].sort();

const title = (c: Case) => `${ c.option } ${ c.valid ? 'valid' : 'invalid' }: ${ c.note || JSON.stringify(c.values[c.option]) }`;

describe('the form validates as the driver does', () => {
  it('accepts the base of the table', () => {
    expect(problemOptions({})).toEqual([]);
  });

  it('has cases for every option the form knows', () => {
    expect(OPTIONS.map((o) => o.name).filter((n) => !table.cases.some((c) => c.option === n))).toEqual([]);
  });

  it.each(table.cases.filter((c) => !c.uiComputes).map((c) => [title(c), c]))('%s', (_, c: any) => {
    const want = c.valid ? [] : [...(c.problems || [c.option])].sort();

    expect(problemOptions(c.values)).toEqual(want);
  });

  // The form never checks a fingerprint it is given: it computes the one the driver expects.
  it.each(table.cases.filter((c) => c.uiComputes).map((c) => [title(c), c]))('%s: the form sends the right one instead', async(_, c: any) => {
    const accepted = table.cases.find((x) => x.option === FINGERPRINT_OPTION && x.valid && x.values[FINGERPRINT_OPTION])!;
    const config = await withFingerprint(toEngineConfig(formOf(c.values)));

    expect(config[camelCase(FINGERPRINT_OPTION)]).toBe(accepted.values[FINGERPRINT_OPTION]);
  });
});
