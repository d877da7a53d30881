import { describe, expect, it } from 'vitest';
import { defaultConfig, parseConfig } from '../lib/config-schema.js';
import { RULE_IDS } from '../lib/rules/index.js';

const known = new Set(RULE_IDS);

function errorPaths(input: unknown): string[] {
  const r = parseConfig(input, known);
  return r.ok ? [] : r.errors.map((e) => e.path);
}

describe('config schema', () => {
  it('has the documented defaults', () => {
    const c = defaultConfig();
    expect(c).toMatchObject({
      proxy_host: '127.0.0.1',
      proxy_port: 8888,
      https_inspection: false,
      max_scan_bytes: 1024 * 1024,
      dedup_window_secs: 300,
      findings_log: { max_file_bytes: 10 * 1024 * 1024, max_files: 5, retention_days: 30 },
      disabled_rules: [],
      allow_hosts: [],
      allowed_clients: [],
    });
  });

  it('names unknown keys, including nested ones', () => {
    expect(errorPaths({ prxy_port: 1 })).toEqual(['prxy_port']);
    expect(errorPaths({ findings_log: { max_filez: 3 } })).toEqual(['findings_log.max_filez']);
  });

  it('names out-of-range and mistyped values', () => {
    expect(errorPaths({ proxy_port: 65536 })).toEqual(['proxy_port']);
    expect(errorPaths({ max_scan_bytes: 1024 })).toEqual(['max_scan_bytes']);
    expect(errorPaths({ max_scan_bytes: 128 * 1024 * 1024 })).toEqual(['max_scan_bytes']);
    expect(errorPaths({ https_inspection: 'yes' })).toEqual(['https_inspection']);
    expect(errorPaths({ allowed_clients: ['10.0.0.0/8', '300.1.1.1', '10.0.0.0/40'] })).toEqual([
      'allowed_clients[1]',
      'allowed_clients[2]',
    ]);
    expect(errorPaths({ allow_hosts: ['ok.example', 'bad host'] })).toEqual(['allow_hosts[1]']);
    expect(errorPaths({ upstream_proxy: 'socks5://x:1' })).toEqual(['upstream_proxy']);
  });

  it('rejects unknown rule ids in disabled_rules', () => {
    expect(errorPaths({ disabled_rules: ['ai_api_key', 'not_a_rule'] })).toEqual(['disabled_rules[1]']);
  });

  it('requires allowed_clients for a non-loopback listener', () => {
    expect(errorPaths({ proxy_host: '0.0.0.0' })).toEqual(['allowed_clients']);
    expect(errorPaths({ proxy_host: '172.17.0.1', allowed_clients: ['172.17.0.0/16'] })).toEqual([]);
    expect(errorPaths({ proxy_host: '127.0.0.2' })).toEqual([]);
  });

  it('treats a null or missing value as the defaults', () => {
    expect(parseConfig(undefined).ok).toBe(true);
    expect(errorPaths([])).toEqual(['(root)']);
  });
});

describe('IP address syntax in lib/ (no node:net)', () => {
  it('agrees with node:net on addresses and look-alikes', async () => {
    const { isIP } = await import('node:net');
    const { ipFamily } = await import('../lib/ip-address.js');
    for (const s of [
      '127.0.0.1',
      '172.17.0.1',
      '0.0.0.0',
      '255.255.255.255',
      '256.1.1.1',
      '1.2.3',
      '01.2.3.4',
      '1.2.3.4.5',
      '::1',
      '::',
      'fe80::1',
      '2001:db8::8a2e:370:7334',
      '::ffff:127.0.0.1',
      '1::2::3',
      'gggg::1',
      ':::',
      '2001:db8:0:0:0:0:2:1',
      '12345::1',
      'localhost',
      '',
      '[::1]',
      '1.2.3.4/8',
    ]) {
      expect(ipFamily(s), s).toBe(isIP(s));
    }
  });
});
