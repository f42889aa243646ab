import {
  isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isLabelValue, parseQuantity, parseIPv4CIDR, cidrsOverlap,
  isURL, isRegistryHost, decodeBase64, plainOrBase64, pemType
} from '../syntax';

describe('RFC 1123 names', () => {
  it.each(['a', 'default', 'rke-nodes', 'a1', '1a', 'x'.repeat(63)])('%s is a label', (s) => {
    expect(isDNS1123Label(s)).toBe(true);
  });
  it.each(['', 'A', '-a', 'a-', 'a_b', 'a.b', 'x'.repeat(64)])('%s is not a label', (s) => {
    expect(isDNS1123Label(s)).toBe(false);
  });
  it('subdomains may have dots', () => {
    expect(isDNS1123Subdomain('cluster.local')).toBe(true);
    expect(isDNS1123Subdomain('image-ubuntu.v2')).toBe(true);
    expect(isDNS1123Subdomain('cluster..local')).toBe(false);
    expect(isDNS1123Subdomain('Cluster.local')).toBe(false);
  });
});

describe('labels', () => {
  it('keys may have a DNS prefix', () => {
    expect(isQualifiedName('team')).toBe(true);
    expect(isQualifiedName('example.com/team')).toBe(true);
    expect(isQualifiedName('Team_A.b')).toBe(true);
    expect(isQualifiedName('/team')).toBe(false);
    expect(isQualifiedName('a/b/c')).toBe(false);
    expect(isQualifiedName('team-')).toBe(false);
  });
  it('values may be empty', () => {
    expect(isLabelValue('')).toBe(true);
    expect(isLabelValue('blue')).toBe(true);
    expect(isLabelValue('has space')).toBe(false);
  });
});

describe('parseQuantity', () => {
  it.each([
    ['4Gi', 4 * 2 ** 30], ['512Mi', 512 * 2 ** 20], ['1G', 1e9], ['1e9', 1e9], ['100', 100], ['1.5Gi', 1.5 * 2 ** 30], ['500m', 0.5],
  ])('%s = %d', (s, n) => {
    expect(parseQuantity(s)).toBe(n);
  });
  it.each(['4GB', '4g', 'Gi', '', 'four', '4 Gi'])('%s does not parse', (s) => {
    expect(parseQuantity(s)).toBeNull();
  });
});

describe('IPv4 CIDRs', () => {
  it('parses to the network', () => {
    expect(parseIPv4CIDR('10.42.7.1/16')).toEqual({ network: (10 * 256 + 42) * 65536, prefix: 16 });
    expect(parseIPv4CIDR('10.42.0.0')).toBeNull();
    expect(parseIPv4CIDR('10.42.0.256/16')).toBeNull();
    expect(parseIPv4CIDR('10.42.0.0/33')).toBeNull();
    expect(parseIPv4CIDR('fd00::/8')).toBeNull();
  });
  it('overlaps when either contains the other', () => {
    const n = (s: string) => parseIPv4CIDR(s)!;

    expect(cidrsOverlap(n('10.42.0.0/16'), n('10.43.0.0/16'))).toBe(false);
    expect(cidrsOverlap(n('10.0.0.0/8'), n('10.43.0.0/16'))).toBe(true);
    expect(cidrsOverlap(n('10.43.128.0/17'), n('10.43.0.0/16'))).toBe(true);
    expect(cidrsOverlap(n('192.168.0.0/24'), n('192.168.1.0/24'))).toBe(false);
  });
});

describe('URLs and hosts', () => {
  it('checks the scheme and host', () => {
    expect(isURL('https://h.example.com:6443', ['https'])).toBe(true);
    expect(isURL('http://h.example.com', ['https'])).toBe(false);
    expect(isURL('https://', ['https'])).toBe(false);
    expect(isURL('h.example.com', ['https'])).toBe(false);
  });
  it('takes host[:port] registries', () => {
    expect(isRegistryHost('registry.example.com:5000')).toBe(true);
    expect(isRegistryHost('https://registry.example.com')).toBe(false);
  });
});

describe('base64 and PEM', () => {
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

  it('decodes with or without padding and whitespace', () => {
    expect(decodeBase64('aGVsbG8=')).toBe('hello');
    expect(decodeBase64('aGVs\nbG8')).toBe('hello');
    expect(decodeBase64('not base64!')).toBeNull();
    expect(decodeBase64('/w==')).toBeNull(); // not UTF-8
  });
  it('takes content plain or encoded', () => {
    const isPEM = (s: string) => s.includes('-----BEGIN');

    expect(plainOrBase64(pem, isPEM)).toBe(pem);
    expect(plainOrBase64(Buffer.from(pem).toString('base64'), isPEM)).toBe(pem);
    expect(plainOrBase64('aGVsbG8=', isPEM)).toBeNull();
  });
  it('reads the block type', () => {
    expect(pemType(pem)).toBe('CERTIFICATE');
    expect(pemType('-----BEGIN CERTIFICATE-----\nx')).toBeNull();
  });
});
