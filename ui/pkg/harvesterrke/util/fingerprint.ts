/**
 * The credential-fingerprint option (driver/fingerprint.go). Rancher hides password fields when it
 * compares a cluster's old and new config and skips the driver's Update when nothing else changed
 * (rancher#51473), so a new token alone would never reach the driver. The form therefore sends this
 * digest of the secrets with them: a changed secret changes a field Rancher does compare.
 */
import { OPTIONS, camelCase, OptionValue } from './options';

export const FINGERPRINT_OPTION = 'credential-fingerprint';

/** The secrets that may change after creation, in the driver's schema order. */
export const FINGERPRINTED_OPTIONS = OPTIONS.filter((o) => o.secret && o.mutable).map((o) => o.name);

const LENGTH = 16;

/**
 * 16 lowercase hex digits of SHA-256 over `name=value\n` for each fingerprinted option; values are
 * trimmed, an absent option counts as empty. The same digest as the driver's CredentialFingerprint.
 */
export async function credentialFingerprint(values: Record<string, string | undefined>): Promise<string> {
  const text = FINGERPRINTED_OPTIONS.map((name) => `${ name }=${ (values[name] || '').trim() }\n`).join('');
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));

  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('').slice(0, LENGTH);
}

/** The driver's format check, for a fingerprint the form did not compute (read back on edit). */
export function isFingerprint(s: string): boolean {
  return new RegExp(`^[0-9a-f]{${ LENGTH }}$`).test(s);
}

/**
 * Sets credentialFingerprint on an engine config the form is about to send: computed from the
 * secrets in it when it carries any; otherwise (an edit that keeps the stored secrets) the
 * fingerprint read back from the cluster stays as it is, so Rancher sees no change there.
 */
export async function withFingerprint(config: Record<string, OptionValue>): Promise<Record<string, OptionValue>> {
  const key = camelCase(FINGERPRINT_OPTION);
  const secrets: Record<string, string> = {};
  let any = false;

  FINGERPRINTED_OPTIONS.forEach((name) => {
    const v = config[camelCase(name)];

    secrets[name] = typeof v === 'string' ? v : '';
    any = any || !!secrets[name].trim();
  });
  if (!any) {
    return config;
  }

  return { ...config, [key]: await credentialFingerprint(secrets) };
}
