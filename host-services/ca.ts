// The guardian's own certificate authority for HTTPS inspection. The CA key and one shared leaf key live
// under <home>/ca/ (keys 0600, directory 0700) and never leave the host. Keys are generated natively
// (node:crypto); certificates are assembled with node-forge and signed natively, so minting a certificate
// for a new host is one RSA signature. Loose permissions on an existing CA are refused, never repaired.
import {
  X509Certificate,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  closeSync,
  constants as fsConstants,
  fchmodSync,
  fsyncSync,
  linkSync,
  openSync,
  lstatSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import type { Stats } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { isIP } from 'node:net';
import path from 'node:path';
import { inspect } from 'node:util';
import forge from 'node-forge';
import { ensurePrivateDir, readFileNoFollow, symlinkRefusal } from './home.js';

export interface CaPaths {
  caDir: string;
  caCert: string;
  caKey: string;
  leafKey: string;
}

export interface HostCertificate {
  cert: string;
  key: string;
}

/** Host certificates kept in memory, least recently used dropped first. */
export const HOST_CERT_CACHE_SIZE = 1000;
/** The longest validity browsers accept for a leaf (398 days in all, counting the one-day backdate). */
const LEAF_DAYS = 397;
const CA_YEARS = 10;
const DAY_MS = 24 * 60 * 60 * 1000;
const UTF8 = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;
const SHA256_RSA = forge.pki.oids.sha256WithRSAEncryption!;

const getTbs = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 })
  .getTBSCertificate;

// ---- hostnames ----

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** Lower-cases and validates a DNS name or IP literal; throws for anything else. */
export function normalizeHostname(input: string): { name: string; ip: boolean } {
  if (typeof input !== 'string') throw new Error('certificate hostname must be a string');
  let h = input.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  else if (h.endsWith('.')) h = h.slice(0, -1);
  if (!h.includes('%') && isIP(h) !== 0) return { name: h, ip: true };
  const labels = h.split('.');
  const ok =
    h.length > 0 &&
    h.length <= 253 &&
    labels.every((l) => LABEL.test(l)) &&
    // A dotted all-numeric name that is not an IP (e.g. 999.1.1.1) is not a hostname either.
    !/^[0-9.]+$/.test(h);
  if (!ok) throw new Error(`not a valid hostname or IP address for a certificate: ${JSON.stringify(input)}`);
  return { name: h, ip: false };
}

// ---- permissions ----

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

function checkOwner(file: string, st: Stats): void {
  const uid = process.getuid?.();
  if (uid === undefined) return;
  if (st.uid !== uid) {
    throw new Error(
      `refusing to use ${file}: it is owned by uid ${st.uid}, not the current user (uid ${uid}); ` +
        `fix: run as its owner or \`chown ${uid} ${file}\``,
    );
  }
}

/** lstat that refuses a symbolic link: nothing of the CA is ever reached through one. */
function lstatNoLink(file: string): Stats {
  const st = lstatSync(file);
  if (st.isSymbolicLink()) throw symlinkRefusal(file);
  return st;
}

function checkPrivateDir(dir: string): void {
  const st = lstatNoLink(dir);
  if (!st.isDirectory()) throw new Error(`refusing to use ${dir}: not a directory`);
  checkOwner(dir, st);
  if (process.platform !== 'win32' && st.mode & 0o077) {
    throw new Error(
      `refusing to use ${dir}: mode ${octal(st.mode)} lets group or others into the CA key directory; ` +
        `fix: \`chmod 700 ${dir}\``,
    );
  }
}

function checkKeyFile(file: string): void {
  const st = lstatNoLink(file);
  if (!st.isFile()) throw new Error(`refusing to use ${file}: not a regular file`);
  checkOwner(file, st);
  if (process.platform !== 'win32' && st.mode & 0o077) {
    throw new Error(
      `refusing to use ${file}: mode ${octal(st.mode)} lets group or others read or write a private key; ` +
        `fix: \`chmod 600 ${file}\` (if others may have copied it, move ${path.dirname(file)} aside to start a new CA)`,
    );
  }
}

function checkCertFile(file: string): void {
  const st = lstatNoLink(file);
  if (!st.isFile()) throw new Error(`refusing to use ${file}: not a regular file`);
  checkOwner(file, st);
  if (process.platform !== 'win32' && st.mode & 0o022) {
    throw new Error(
      `refusing to use ${file}: mode ${octal(st.mode)} lets group or others replace the CA certificate; ` +
        `fix: \`chmod 644 ${file}\``,
    );
  }
}

function exists(file: string): boolean {
  try {
    lstatNoLink(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

// ---- atomic, no-clobber writes ----

/**
 * Writes `data` to a temporary file in the same directory (exact `mode`, fsynced), then links it into place.
 * The link fails if `file` already exists, so two processes creating the CA at once never mix halves of two
 * CAs; a crash leaves at most a stray temporary file, never half a key. Returns false if `file` existed.
 */
function writeNew(file: string, data: string, mode: number): boolean {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  const fd = openSync(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    try {
      linkSync(tmp, file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      // File systems without hard links: rename (atomic, but only no-clobber up to this check).
      if (exists(file)) return false;
      renameSync(tmp, file);
      return true;
    }
    try {
      const dfd = openSync(path.dirname(file), 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      // Directory fsync is best effort (not supported everywhere).
    }
    return true;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // Already renamed into place.
    }
  }
}

function newRsaKeyPem(): string {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return privateKey;
}

function forgePublicKey(key: KeyObject): forge.pki.PublicKey {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  return forge.pki.publicKeyFromPem(spki) as forge.pki.PublicKey;
}

/** A positive serial with 126 random bits and a minimal DER encoding (first byte 0x40..0x7f). */
function randomSerialHex(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x3f) | 0x40;
  return b.toString('hex');
}

/** Signs a forge certificate's TBS with a native key; `issuer`, when given, replaces the issuer DN verbatim. */
function signNative(cert: forge.pki.Certificate, caKey: KeyObject, issuer?: forge.asn1.Asn1): string {
  cert.siginfo.algorithmOid = SHA256_RSA;
  cert.signatureOid = SHA256_RSA;
  const tbs = getTbs(cert);
  if (issuer) (tbs.value as forge.asn1.Asn1[])[3] = issuer;
  const der = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary');
  cert.tbsCertificate = tbs;
  cert.signature = sign('sha256', der, caKey).toString('binary');
  return forge.pki.certificateToPem(cert);
}

function caCommonName(now: Date): string {
  const date = now.toISOString().slice(0, 10);
  const prefix = 'NanoClaw Traffic Guardian CA (';
  const room = 64 - prefix.length - date.length - 2;
  const host =
    osHostname()
      .replace(/[^\x21-\x7e]/g, '')
      .slice(0, room) || 'host';
  return `${prefix}${host} ${date})`;
}

function buildCaCert(key: KeyObject): string {
  const now = new Date();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePublicKey(key);
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = new Date(now.getTime() - DAY_MS);
  const notAfter = new Date(now.getTime());
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_YEARS);
  cert.validity.notAfter = notAfter;
  const subject: forge.pki.CertificateField[] = [
    { name: 'commonName', value: caCommonName(now), valueTagClass: UTF8 },
    { name: 'organizationName', value: 'NanoClaw Traffic Guardian', valueTagClass: UTF8 },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  return signNative(cert, key);
}

// ---- the authority ----

export class CertificateAuthority {
  readonly certPem: string;
  readonly certPath: string;
  /** Colon-separated upper-case hex SHA-256 of the certificate's DER (as `openssl x509 -fingerprint -sha256`). */
  readonly fingerprint256: string;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;

  readonly #caKey: KeyObject;
  readonly #leafKeyPath: string;
  readonly #issuer: forge.asn1.Asn1;
  readonly #authorityKeyId: string;
  #leaf: { pem: string; publicKey: forge.pki.PublicKey } | null = null;
  readonly #cache = new Map<string, HostCertificate>();

  /** @internal Use loadOrCreateCa. */
  constructor(paths: CaPaths, certPem: string, caKey: KeyObject, leafKeyPem: string | null) {
    const x509 = new X509Certificate(certPem);
    this.certPem = certPem;
    this.certPath = paths.caCert;
    this.fingerprint256 = x509.fingerprint256;
    this.subject = x509.subject.split('\n').join(', ');
    this.notBefore = new Date(x509.validFrom);
    this.notAfter = new Date(x509.validTo);
    this.#caKey = caKey;
    this.#leafKeyPath = paths.leafKey;

    const caAsn1 = forge.asn1.fromDer(Buffer.from(x509.raw).toString('binary'));
    const tbs = (caAsn1.value as forge.asn1.Asn1[])[0]!;
    const tbsFields = tbs.value as forge.asn1.Asn1[];
    // TBSCertificate: [0] version, serial, signature, issuer, validity, subject, ...
    this.#issuer = tbsFields[tbsFields[0]!.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC ? 5 : 4]!;
    const forgeCa = forge.pki.certificateFromAsn1(caAsn1);
    const ski = forgeCa.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null;
    this.#authorityKeyId = ski?.subjectKeyIdentifier
      ? forge.util.hexToBytes(ski.subjectKeyIdentifier)
      : forgeCa.generateSubjectKeyIdentifier().getBytes();
    if (leafKeyPem !== null) this.#leaf = leafFrom(leafKeyPem);
  }

  /** Certificate (and the shared leaf key) for one host name or IP literal; cached, LRU-bounded. */
  certFor(hostname: string): HostCertificate {
    const { name, ip } = normalizeHostname(hostname);
    const hit = this.#cache.get(name);
    if (hit) {
      this.#cache.delete(name);
      this.#cache.set(name, hit);
      return hit;
    }
    const leaf = this.#loadLeaf();
    const now = Date.now();
    const cert = forge.pki.createCertificate();
    cert.publicKey = leaf.publicKey;
    cert.serialNumber = randomSerialHex();
    cert.validity.notBefore = new Date(now - DAY_MS);
    cert.validity.notAfter = new Date(Math.min(now + LEAF_DAYS * DAY_MS, this.notAfter.getTime()));
    cert.setSubject([{ name: 'commonName', value: name.slice(0, 64), valueTagClass: UTF8 }]);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [ip ? { type: 7, ip: name } : { type: 2, value: name }] },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.#authorityKeyId },
    ]);
    const pair = { cert: signNative(cert, this.#caKey, this.#issuer), key: leaf.pem };
    this.#cache.set(name, pair);
    if (this.#cache.size > HOST_CERT_CACHE_SIZE) this.#cache.delete(this.#cache.keys().next().value!);
    return pair;
  }

  #loadLeaf(): { pem: string; publicKey: forge.pki.PublicKey } {
    if (!this.#leaf) this.#leaf = leafFrom(readOrCreateLeafKey(this.#leafKeyPath, true)!);
    return this.#leaf;
  }

  toJSON(): object {
    return {
      certPath: this.certPath,
      fingerprint256: this.fingerprint256,
      subject: this.subject,
      notAfter: this.notAfter,
    };
  }

  [inspect.custom](): string {
    return `CertificateAuthority ${inspect(this.toJSON())}`;
  }
}

function leafFrom(pem: string): { pem: string; publicKey: forge.pki.PublicKey } {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'rsa') throw new Error('leaf key must be an RSA key');
  return { pem, publicKey: forgePublicKey(key) };
}

function readKey(file: string): KeyObject {
  checkKeyFile(file);
  try {
    return createPrivateKey(readFileNoFollow(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not a readable PEM private key (${(err as Error).message})`);
  }
}

function readOrCreateLeafKey(file: string, create: boolean): string | null {
  if (!exists(file)) {
    if (!create) return null;
    writeNew(file, newRsaKeyPem(), 0o600);
  }
  checkKeyFile(file);
  const pem = readFileNoFollow(file, 'utf8');
  try {
    leafFrom(pem);
  } catch (err) {
    throw new Error(
      `${file}: not a usable RSA private key (${(err as Error).message}); fix: remove it to have it recreated`,
    );
  }
  return pem;
}

/**
 * Loads the CA from `paths.caDir`; creates it (and the shared leaf key) when absent and `create` is set.
 * Returns null when there is no CA and `create` is false. Throws, naming the file and the fix, when an
 * existing CA has loose permissions, a foreign owner, or a certificate that does not match its key.
 */
export function loadOrCreateCa(paths: CaPaths, opts: { create: boolean }): CertificateAuthority | null {
  if (exists(paths.caDir)) {
    checkPrivateDir(paths.caDir);
  } else {
    if (!opts.create) return null;
    ensurePrivateDir(paths.caDir);
  }

  const haveKey = exists(paths.caKey);
  const haveCert = exists(paths.caCert);
  if (!haveKey && haveCert) {
    throw new Error(
      `${paths.caCert} exists but its private key ${paths.caKey} is missing; fix: restore the key, or move ` +
        `${paths.caDir} aside to create a new CA (clients must then trust the new certificate)`,
    );
  }
  if (!haveKey) {
    if (!opts.create) return null;
    writeNew(paths.caKey, newRsaKeyPem(), 0o600); // false: another process created it first; use theirs
  }
  const caKey = readKey(paths.caKey);
  if (caKey.asymmetricKeyType !== 'rsa') throw new Error(`${paths.caKey}: the CA key must be an RSA key`);

  if (!exists(paths.caCert)) {
    // A key without a certificate: a new CA still being written, or a crash between the two writes.
    if (!opts.create) return null;
    writeNew(paths.caCert, buildCaCert(caKey), 0o644);
  }
  checkCertFile(paths.caCert);
  const certPem = readFileNoFollow(paths.caCert, 'utf8');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`${paths.caCert}: not a PEM certificate (${(err as Error).message})`);
  }
  if (!x509.ca) throw new Error(`${paths.caCert}: not a CA certificate (basicConstraints cA is not set)`);
  if (!x509.checkPrivateKey(caKey)) {
    throw new Error(
      `${paths.caCert} does not match the key ${paths.caKey}; fix: restore the matching pair, or move ` +
        `${paths.caDir} aside to create a new CA`,
    );
  }
  if (new Date(x509.validTo).getTime() <= Date.now()) {
    throw new Error(
      `${paths.caCert} expired on ${new Date(x509.validTo).toISOString()}; fix: move ${paths.caDir} aside to ` +
        'create a new CA (clients must then trust the new certificate)',
    );
  }

  const leafPem = readOrCreateLeafKey(paths.leafKey, opts.create);
  return new CertificateAuthority(paths, certPem, caKey, leafPem);
}
