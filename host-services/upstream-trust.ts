// The CA certificates upstream TLS is verified against: Node's bundled roots, the system store,
// NODE_EXTRA_CA_CERTS and the optional `upstream_ca_file`. Passing `ca` to an agent replaces
// Node's default store, so all sources are gathered here explicitly.
import { existsSync, readFileSync } from 'node:fs';
import tls from 'node:tls';

const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Alpine
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL
  '/etc/ssl/cert.pem', // macOS, OpenBSD
  '/etc/ssl/ca-bundle.pem', // openSUSE
];

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

export interface TrustSources {
  extraCaFile?: string;
  upstreamCaFile?: string;
}

/** Reads the trust list. A configured `upstream_ca_file` that cannot be read or holds no certificate is an error. */
export function upstreamTrust(src: TrustSources): string[] {
  const certs = new Set<string>(tls.rootCertificates);
  const getCa = (tls as unknown as { getCACertificates?: (k: string) => string[] }).getCACertificates;
  if (typeof getCa === 'function') {
    for (const c of getCa('system')) certs.add(c);
  } else {
    for (const f of SYSTEM_BUNDLES) {
      if (existsSync(f)) {
        for (const c of splitPem(readFileSync(f, 'utf8'))) certs.add(c);
        break;
      }
    }
  }
  if (src.extraCaFile && existsSync(src.extraCaFile)) {
    for (const c of splitPem(readFileSync(src.extraCaFile, 'utf8'))) certs.add(c);
  }
  if (src.upstreamCaFile) {
    let text: string;
    try {
      text = readFileSync(src.upstreamCaFile, 'utf8');
    } catch (err) {
      throw new Error(`upstream_ca_file ${src.upstreamCaFile}: ${(err as Error).message}`);
    }
    const found = splitPem(text);
    if (found.length === 0) throw new Error(`upstream_ca_file ${src.upstreamCaFile}: no PEM certificate in it`);
    for (const c of found) certs.add(c);
  }
  return [...certs];
}
