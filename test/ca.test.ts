// The guardian's CA: creation and permissions, refusal of loose permissions, real TLS handshakes against
// minted host certificates, the shared leaf key, hostname validation, and the `ca` command.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { inspect } from 'node:util';
import forge from 'node-forge';
import { chmodSync, chownSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { homePaths, type HomePaths } from '../host-services/home.js';
import { CertificateAuthority, HOST_CERT_CACHE_SIZE, loadOrCreateCa } from '../host-services/ca.js';
import { trustInstructions } from '../host-services/trust-instructions.js';
import { runCa } from '../host-services/commands/ca.js';
import { UsageError } from '../host-services/cli-errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const temps: string[] = [];

function tempDir(prefix = 'tg-ca-test-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(d);
  return d;
}

function freshPaths(): HomePaths {
  return homePaths(tempDir());
}

function create(paths: HomePaths): CertificateAuthority {
  const ca = loadOrCreateCa(paths, { create: true });
  if (!ca) throw new Error('expected a CA');
  return ca;
}

const mode = (p: string): number => statSync(p).mode & 0o777;
const spkiOf = (pem: string): string =>
  new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }).toString('hex');

afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A CA in a fresh temporary home; every test gets its own. */
function freshCa(): { paths: HomePaths; ca: CertificateAuthority } {
  const paths = freshPaths();
  return { paths, ca: create(paths) };
}

describe('creating and loading the CA', () => {
  it('creates the key 0600, the directory 0700, and loads the same CA again', () => {
    const paths = freshPaths();
    const ca = create(paths);
    expect(mode(paths.caDir)).toBe(0o700);
    expect(mode(paths.caKey)).toBe(0o600);
    expect(mode(paths.leafKey)).toBe(0o600);
    expect(readdirSync(paths.caDir).sort()).toEqual(['ca.crt', 'ca.key', 'leaf.key']);

    const again = loadOrCreateCa(paths, { create: false });
    expect(again).not.toBeNull();
    expect(again!.fingerprint256).toBe(ca.fingerprint256);
    expect(again!.certPem).toBe(ca.certPem);
    expect(readFileSync(paths.caCert, 'utf8')).toBe(ca.certPem);
    expect(ca.certPath).toBe(paths.caCert);
  });

  it('reports the fingerprint exactly as X509Certificate.fingerprint256 does', () => {
    const { ca } = freshCa();
    const x = new X509Certificate(ca.certPem);
    expect(ca.fingerprint256).toBe(x.fingerprint256);
    expect(ca.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('is a self-signed CA with a named subject and ten years of validity', () => {
    const { ca } = freshCa();
    const x = new X509Certificate(ca.certPem);
    expect(x.ca).toBe(true);
    expect(x.checkIssued(x)).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(ca.subject).toMatch(/CN=NanoClaw Traffic Guardian CA \(.+ \d{4}-\d{2}-\d{2}\)/);
    const years = (ca.notAfter.getTime() - Date.now()) / (365.25 * 86_400_000);
    expect(years).toBeGreaterThan(9.9);
    expect(years).toBeLessThan(10.1);
    expect(x.serialNumber.length).toBeGreaterThanOrEqual(30);
    expect(Number.parseInt(x.serialNumber.slice(0, 2), 16) & 0x80).toBe(0);
  });

  it('returns null and writes nothing when absent and create is false', () => {
    const paths = freshPaths();
    expect(loadOrCreateCa(paths, { create: false })).toBeNull();
    expect(readdirSync(paths.root)).toEqual([]);
  });

  it('never returns key material from its properties or when printed', () => {
    const { ca, paths } = freshCa();
    const keyBody = readFileSync(paths.caKey, 'utf8').split('\n')[1]!;
    const leafBody = readFileSync(paths.leafKey, 'utf8').split('\n')[1]!;
    for (const text of [JSON.stringify(ca), inspect(ca, { showHidden: true, depth: 5 }), String(Object.values(ca))]) {
      expect(text).not.toContain('PRIVATE KEY');
      expect(text).not.toContain(keyBody);
      expect(text).not.toContain(leafBody);
    }
  });
});

describe('refusing unsafe permissions', () => {
  it('refuses a CA key readable by others, names the file and the fix, and does not change it', () => {
    const paths = freshPaths();
    create(paths);
    chmodSync(paths.caKey, 0o644);
    expect(() => loadOrCreateCa(paths, { create: true })).toThrow(paths.caKey);
    expect(() => loadOrCreateCa(paths, { create: false })).toThrow(`chmod 600 ${paths.caKey}`);
    expect(mode(paths.caKey)).toBe(0o644);
  });

  it('refuses a leaf key writable by the group', () => {
    const paths = freshPaths();
    create(paths);
    chmodSync(paths.leafKey, 0o620);
    expect(() => loadOrCreateCa(paths, { create: true })).toThrow(`chmod 600 ${paths.leafKey}`);
  });

  it('refuses a CA directory open to group or others', () => {
    const paths = freshPaths();
    create(paths);
    chmodSync(paths.caDir, 0o755);
    expect(() => loadOrCreateCa(paths, { create: true })).toThrow(`chmod 700 ${paths.caDir}`);
    expect(mode(paths.caDir)).toBe(0o755);
  });

  it('refuses a CA certificate others can replace', () => {
    const paths = freshPaths();
    create(paths);
    chmodSync(paths.caCert, 0o666);
    expect(() => loadOrCreateCa(paths, { create: false })).toThrow(paths.caCert);
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a key owned by another user', () => {
    const paths = freshPaths();
    create(paths);
    chownSync(paths.caKey, 4242, 4242);
    expect(() => loadOrCreateCa(paths, { create: false })).toThrow(/owned by uid 4242/);
  });

  it('refuses a certificate whose key is missing or does not match', () => {
    const a = freshPaths();
    const b = freshPaths();
    create(a);
    create(b);
    writeFileSync(a.caCert, readFileSync(b.caCert));
    expect(() => loadOrCreateCa(a, { create: true })).toThrow(/does not match/);
    rmSync(b.caKey);
    expect(() => loadOrCreateCa(b, { create: true })).toThrow(/private key .* is missing/);
  });

  it('completes a CA whose certificate was never written, keeping the key', () => {
    const paths = freshPaths();
    create(paths);
    const key = readFileSync(paths.caKey, 'utf8');
    rmSync(paths.caCert);
    expect(loadOrCreateCa(paths, { create: false })).toBeNull();
    const ca = create(paths);
    expect(readFileSync(paths.caKey, 'utf8')).toBe(key);
    expect(new X509Certificate(ca.certPem).checkPrivateKey(createPrivateKey(key))).toBe(true);
  });
});

// ---- TLS ----

interface HandshakeResult {
  authorized: boolean;
  error?: string;
}

async function handshake(
  pair: { cert: string; key: string },
  client: Omit<tls.ConnectionOptions, 'port'>,
): Promise<HandshakeResult> {
  const server = tls.createServer({ cert: pair.cert, key: pair.key }, (s) => s.end('ok'));
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<HandshakeResult>((resolve) => {
      const sock = tls.connect({ host: '127.0.0.1', ...client, port });
      sock.once('secureConnect', () => {
        resolve({ authorized: sock.authorized });
        sock.end();
      });
      sock.once('error', (err: Error & { code?: string }) =>
        resolve({ authorized: false, error: err.code ?? err.message }),
      );
    });
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

describe('TLS handshakes with minted certificates', () => {
  it('a client trusting only the CA accepts a certificate for localhost', async () => {
    const { ca } = freshCa();
    const r = await handshake(ca.certFor('localhost'), { servername: 'localhost', ca: [ca.certPem] });
    expect(r).toEqual({ authorized: true });
  });

  it('a client trusting only the CA accepts an IP-address certificate for 127.0.0.1', async () => {
    const { ca } = freshCa();
    const pair = ca.certFor('127.0.0.1');
    expect(new X509Certificate(pair.cert).subjectAltName).toBe('IP Address:127.0.0.1');
    const r = await handshake(pair, { ca: [ca.certPem] });
    expect(r).toEqual({ authorized: true });
  });

  it('a client that does not trust the CA fails verification', async () => {
    const { ca } = freshCa();
    const r = await handshake(ca.certFor('localhost'), { servername: 'localhost' });
    expect(r.authorized).toBe(false);
    expect(r.error).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED/);
  });

  it('a certificate for one host is rejected for another', async () => {
    const { ca } = freshCa();
    const r = await handshake(ca.certFor('localhost'), { servername: 'example.com', ca: [ca.certPem] });
    expect(r.error).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });
});

// ---- host certificates ----

describe('host certificates', () => {
  it('has the SAN, CN, validity, key usage and issuer a browser expects', () => {
    const { ca } = freshCa();
    const caX = new X509Certificate(ca.certPem);
    const x = new X509Certificate(ca.certFor('API.Example.com.').cert);
    expect(x.subjectAltName).toBe('DNS:api.example.com');
    expect(x.subject).toBe('CN=api.example.com');
    expect(x.ca).toBe(false);
    expect(x.checkIssued(caX)).toBe(true);
    expect(x.verify(caX.publicKey)).toBe(true);
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    const from = new Date(x.validFrom).getTime();
    const to = new Date(x.validTo).getTime();
    expect(Math.round((Date.now() - from) / 3_600_000)).toBe(24);
    expect(Math.round((to - Date.now()) / 86_400_000)).toBe(397);
    // AuthorityKeyIdentifier carries the CA's SubjectKeyIdentifier.
    const skiExt = forge.pki.certificateFromPem(ca.certPem).getExtension('subjectKeyIdentifier') as {
      subjectKeyIdentifier: string;
    };
    expect(skiExt.subjectKeyIdentifier).toMatch(/^[0-9a-f]{40}$/);
    const aki = Buffer.from(`30168014${skiExt.subjectKeyIdentifier}`, 'hex'); // SEQUENCE { [0] keyIdentifier }
    expect(Buffer.from(x.raw).includes(aki)).toBe(true);
  });

  it('puts IPv6 literals in an iPAddress SAN and truncates a long CN to 64 characters', () => {
    const { ca } = freshCa();
    expect(new X509Certificate(ca.certFor('::1').cert).subjectAltName).toBe('IP Address:0:0:0:0:0:0:0:1');
    expect(new X509Certificate(ca.certFor('[2001:db8::5]').cert).subjectAltName).toBe(
      'IP Address:2001:DB8:0:0:0:0:0:5',
    );
    const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.example.com`;
    const x = new X509Certificate(ca.certFor(long).cert);
    expect(x.subject).toBe(`CN=${long.slice(0, 64)}`);
    expect(x.subjectAltName).toBe(`DNS:${long}`);
  });

  it('reuses one leaf key for every host and caches per host', () => {
    const { ca } = freshCa();
    const a = ca.certFor('a.example.com');
    const b = ca.certFor('b.example.com');
    expect(a.key).toBe(b.key);
    expect(spkiOf(a.cert)).toBe(spkiOf(b.cert));
    expect(a.cert).not.toBe(b.cert);
    expect(ca.certFor('a.example.com')).toBe(a);
    expect(ca.certFor('A.EXAMPLE.COM').cert).toBe(a.cert);
  });

  it('mints 50 new hosts with one signature each: no new key is generated or written', () => {
    const paths = freshPaths();
    const ca = create(paths);
    const leafBefore = readFileSync(paths.leafKey, 'utf8');
    const leafStat = statSync(paths.leafKey);
    const filesBefore = readdirSync(paths.caDir).sort();
    const leafSpki = createPublicKey(leafBefore).export({ type: 'spki', format: 'der' }).toString('hex');

    const serials = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const pair = ca.certFor(`host-${i}.example.net`);
      expect(pair.key).toBe(leafBefore);
      expect(spkiOf(pair.cert)).toBe(leafSpki);
      serials.add(new X509Certificate(pair.cert).serialNumber);
    }
    expect(serials.size).toBe(50);
    expect(readFileSync(paths.leafKey, 'utf8')).toBe(leafBefore);
    expect(statSync(paths.leafKey).mtimeMs).toBe(leafStat.mtimeMs);
    expect(readdirSync(paths.caDir).sort()).toEqual(filesBefore);
    // The leaf key is not the CA key.
    expect(leafSpki).not.toBe(
      new X509Certificate(ca.certPem).publicKey.export({ type: 'spki', format: 'der' }).toString('hex'),
    );
  });

  it('bounds the cache', () => {
    const { ca } = freshCa();
    const first = ca.certFor('evict-0.example.org');
    for (let i = 1; i <= HOST_CERT_CACHE_SIZE; i++) ca.certFor(`evict-${i}.example.org`);
    expect(ca.certFor('evict-0.example.org')).not.toBe(first);
  });

  it('rejects anything that is not a DNS name or an IP literal', () => {
    const { ca } = freshCa();
    const bad = [
      '',
      ' ',
      'a b.com',
      '-lead.example.com',
      'trail-.example.com',
      '*.example.com',
      'a..b',
      '.example.com',
      'exämple.com',
      'host:443',
      'a/b',
      `${'x'.repeat(64)}.com`,
      `${'abcdefghi.'.repeat(26)}com`,
      '999.1.1.1',
      'fe80::1%eth0',
      'evil.com\u0000.good.com',
    ];
    for (const h of bad) expect(() => ca.certFor(h), JSON.stringify(h)).toThrow(/not a valid hostname/);
    for (const h of ['xn--bcher-kva.example', 'under_score.example.com', 'localhost', '10.0.0.1']) {
      expect(() => ca.certFor(h)).not.toThrow();
    }
  });
});

// ---- trust instructions ----

describe('trust instructions', () => {
  it('prints per-runtime commands and the system-wide warning, quoting odd paths', () => {
    const text = trustInstructions("/home/o'neil/ca dir/ca.crt", 'AA:BB');
    for (const needle of [
      'NODE_EXTRA_CA_CERTS=',
      'SSL_CERT_FILE=',
      'CURL_CA_BUNDLE=',
      'REQUESTS_CA_BUNDLE=',
      ':/etc/traffic-guardian/ca.crt:ro',
      'sudo update-ca-certificates',
      '/usr/local/share/ca-certificates/',
      'sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain',
      "operator's decision",
      'AA:BB',
    ]) {
      expect(text).toContain(needle);
    }
    expect(text).toContain(`'/home/o'\\''neil/ca dir/ca.crt'`);
  });
});

// ---- the `ca` command ----

describe('traffic-guardian ca', () => {
  const saved: Record<string, string | undefined> = {};
  let home: string;
  let fakeUserHome: string;

  beforeEach(() => {
    saved.NANOCLAW_TRAFFIC_GUARDIAN_HOME = process.env.NANOCLAW_TRAFFIC_GUARDIAN_HOME;
    saved.HOME = process.env.HOME;
    home = tempDir('tg-ca-home-');
    fakeUserHome = tempDir('tg-ca-user-');
    process.env.NANOCLAW_TRAFFIC_GUARDIAN_HOME = home;
    process.env.HOME = fakeUserHome;
  });
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const outWrite = process.stdout.write;
    const errWrite = process.stderr.write;
    process.stdout.write = ((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    }) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    }) as typeof process.stderr.write;
    try {
      const code = await runCa(argv);
      return { code, stdout, stderr };
    } finally {
      process.stdout.write = outWrite;
      process.stderr.write = errWrite;
    }
  }

  it('without a CA: explains how it is created, exits 1, creates nothing', async () => {
    const r = await run([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('start --mitm');
    expect(r.stderr).toContain('traffic-guardian ca --create');
    expect(readdirSync(home)).toEqual([]);
    const j = await run(['--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toEqual({
      cert_path: path.join(home, 'ca', 'ca.crt'),
      fingerprint256: null,
      not_after: null,
      exists: false,
    });
    expect(readdirSync(home)).toEqual([]);
  });

  it('--create makes the CA; then prints path, fingerprint, validity and trust commands', async () => {
    const created = await run(['--create']);
    expect(created.code).toBe(0);
    const certPath = path.join(home, 'ca', 'ca.crt');
    const fp = new X509Certificate(readFileSync(certPath)).fingerprint256;
    expect(created.stdout).toContain('Created a new CA');

    const r = await run([]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('Created a new CA');
    expect(r.stdout).toContain(certPath);
    expect(r.stdout).toContain(fp);
    expect(r.stdout).toContain(`NODE_EXTRA_CA_CERTS=${certPath}`);
    expect(r.stdout).toMatch(/Valid: .* to .*days left/);
    expect(r.stdout).not.toContain('PRIVATE KEY');

    const j = await run(['--json']);
    expect(j.code).toBe(0);
    const body = JSON.parse(j.stdout) as Record<string, unknown>;
    expect(body).toEqual({ cert_path: certPath, fingerprint256: fp, not_after: expect.any(String), exists: true });
    expect(new Date(body.not_after as string).getTime()).toBeGreaterThan(Date.now());

    // Everything it wrote is under the guardian home; the user's home is untouched.
    expect(readdirSync(home)).toEqual(['ca']);
    expect(readdirSync(path.join(home, 'ca')).sort()).toEqual(['ca.crt', 'ca.key', 'leaf.key']);
    expect(readdirSync(fakeUserHome)).toEqual([]);
  });

  it('--help prints usage; bad arguments are usage errors', async () => {
    const h = await run(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('Usage: traffic-guardian ca');
    await expect(run(['--bogus'])).rejects.toBeInstanceOf(UsageError);
    await expect(run(['extra'])).rejects.toBeInstanceOf(UsageError);
    await expect(run(['--json=yes'])).rejects.toBeInstanceOf(UsageError);
  });

  it('runs no system command: the CA code never imports child_process', () => {
    for (const f of [
      '../host-services/commands/ca.ts',
      '../host-services/ca.ts',
      '../host-services/trust-instructions.ts',
    ]) {
      const src = readFileSync(path.join(here, f), 'utf8');
      expect(src, f).not.toMatch(/child_process|\bexecSync\b|\bspawn\w*\(|\bexecFile\w*\(/);
    }
  });
});
