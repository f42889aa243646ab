import fs from 'fs';
import path from 'path';
import {
  credentialFingerprint, withFingerprint, isFingerprint, FINGERPRINTED_OPTIONS
} from '../fingerprint';

// The vectors the driver's own test checks CredentialFingerprint against.
const VECTORS: { values: Record<string, string>, fingerprint: string }[] = JSON.parse(
  fs.readFileSync(path.join(process.env.HARVESTERRKE_REPO || path.resolve(__dirname, '../../../../..'), 'driver/testdata/fingerprint.json'), 'utf8')
);

describe('credentialFingerprint', () => {
  it('covers the secrets that can change, in the driver\'s order', () => {
    expect(FINGERPRINTED_OPTIONS).toEqual(['kubeconfig-content', 'token', 'client-key-data']);
  });

  it.each(VECTORS.map((v) => [JSON.stringify(v.values), v]))('computes the driver\'s digest for %s', async(_, v: any) => {
    expect(VECTORS.length).toBeGreaterThan(3);
    expect(await credentialFingerprint(v.values)).toBe(v.fingerprint);
  });

  it('trims values, as the driver reads them', async() => {
    expect(await credentialFingerprint({ token: '  new-token\n' })).toBe(await credentialFingerprint({ token: 'new-token' }));
  });

  it('is what the driver accepts', async() => {
    expect(isFingerprint(await credentialFingerprint({}))).toBe(true);
    expect(isFingerprint('0123456789ABCDEF')).toBe(false);
    expect(isFingerprint('abc')).toBe(false);
  });
});

describe('withFingerprint', () => {
  it('adds the digest of the secrets a config carries', async() => {
    const config = await withFingerprint({ apiUrl: 'https://h', token: 'new-token', cpus: 2 });

    expect(config).toEqual({
      apiUrl: 'https://h', token: 'new-token', cpus: 2, credentialFingerprint: VECTORS.find((v) => v.values.token === 'new-token')!.fingerprint
    });
  });

  it('leaves a config without secrets as it is, keeping a fingerprint read back on edit', async() => {
    expect(await withFingerprint({ apiUrl: 'https://h', credentialFingerprint: '017f8582267b61d5' })).toEqual({ apiUrl: 'https://h', credentialFingerprint: '017f8582267b61d5' });
    expect(await withFingerprint({ apiUrl: 'https://h' })).toEqual({ apiUrl: 'https://h' });
  });
});
