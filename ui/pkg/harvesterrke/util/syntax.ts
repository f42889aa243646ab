/**
 * Syntax checks the driver makes with Kubernetes' and Go's libraries, redone for the browser:
 * RFC 1123 names, label keys and values, resource quantities, IPv4 CIDRs, URLs, PEM and base64.
 */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export function isDNS1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

export function isDNS1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

/** A label key: an optional DNS subdomain prefix and '/', then a name of at most 63 characters. */
export function isQualifiedName(s: string): boolean {
  const parts = s.split('/');

  if (parts.length > 2) {
    return false;
  }
  const name = parts[parts.length - 1];

  if (parts.length === 2 && (!parts[0] || !isDNS1123Subdomain(parts[0]))) {
    return false;
  }

  return name.length <= 63 && QUALIFIED_NAME_PART.test(name);
}

export function isLabelValue(s: string): boolean {
  return s === '' || (s.length <= 63 && QUALIFIED_NAME_PART.test(s));
}

const BINARY_SUFFIX: Record<string, number> = {
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60
};
const DECIMAL_SUFFIX: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18
};
const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;

/** The value of a Kubernetes resource quantity (4Gi, 512Mi, 1e9, 1G), or null when it does not parse. */
export function parseQuantity(s: string): number | null {
  const m = QUANTITY.exec(s.trim());

  if (!m) {
    return null;
  }
  const n = parseFloat(m[1]);

  if (m[2]) {
    return n * 10 ** parseInt(m[2].slice(1), 10);
  }
  const suffix = m[3] || '';

  return n * (BINARY_SUFFIX[suffix] ?? DECIMAL_SUFFIX[suffix]);
}

export interface IPv4Net {
  /** the network address, as a 32-bit unsigned number */
  network: number;
  prefix: number;
}

/** An IPv4 address as a 32-bit unsigned number, or null. */
export function parseIPv4(s: string): number | null {
  const parts = s.split('.');

  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    return null;
  }

  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function parseIPv4CIDR(s: string): IPv4Net | null {
  const [addr, bits, ...rest] = s.trim().split('/');

  if (rest.length || bits === undefined || !/^\d{1,2}$/.test(bits) || Number(bits) > 32) {
    return null;
  }
  const ip = parseIPv4(addr);

  if (ip === null) {
    return null;
  }
  const prefix = Number(bits);
  const size = 2 ** (32 - prefix);

  return { network: Math.floor(ip / size) * size, prefix };
}

function contains(n: IPv4Net, address: number): boolean {
  const size = 2 ** (32 - n.prefix);

  return address >= n.network && address < n.network + size;
}

/** As the driver: two networks overlap when either contains the other's network address. */
export function cidrsOverlap(a: IPv4Net, b: IPv4Net): boolean {
  return contains(a, b.network) || contains(b, a.network);
}

export function isURL(s: string, schemes: string[]): boolean {
  try {
    const u = new URL(s);

    return schemes.includes(u.protocol.replace(/:$/, '')) && !!u.host;
  } catch (e) {
    return false;
  }
}

/** host or host:port, as a Docker insecure-registry entry */
export function isRegistryHost(s: string): boolean {
  return /^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(s);
}

export function isIPv6CIDR(s: string): boolean {
  return /^[0-9a-fA-F:]*:[0-9a-fA-F:.]*\/\d{1,3}$/.test(s) && Number(s.split('/')[1]) <= 128;
}

/** Decodes base64 the way the driver does (whitespace ignored, padding optional); null if it is not base64. */
export function decodeBase64(s: string): string | null {
  const compact = s.replace(/\s+/g, '');

  if (!compact || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) {
    return null;
  }
  try {
    const unpadded = compact.replace(/=+$/, '');
    const binary = atob(unpadded.padEnd(Math.ceil(unpadded.length / 4) * 4, '='));

    // Percent-encoding each byte lets decodeURIComponent do a strict UTF-8 decode (it throws on
    // invalid sequences); TextDecoder is missing from some test environments.
    return decodeURIComponent(Array.from(binary, (c) => `%${ c.charCodeAt(0).toString(16).padStart(2, '0') }`).join(''));
  } catch (e) {
    return null;
  }
}

/**
 * Content the driver accepts as is or base64-encoded (kubeconfig, PEM, cloud-init): the plain text,
 * or null when it is neither.
 */
export function plainOrBase64(s: string, looksPlain: (text: string) => boolean): string | null {
  if (looksPlain(s)) {
    return s;
  }
  const decoded = decodeBase64(s);

  return decoded !== null && looksPlain(decoded) ? decoded : null;
}

/** The type of the first PEM block (CERTIFICATE, RSA PRIVATE KEY, ...), or null. */
export function pemType(s: string): string | null {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/.exec(s);

  return m ? m[1] : null;
}
