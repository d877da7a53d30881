// Checks on one recorded `docker run` of a wired group: what the container would get. Pure (files
// are read through an injected reader) so the unit tests drive the same checks the e2e runs.
import { effectiveEnv, hostPathFor, lastEnvIndex, mountFor, type RunArgs } from './docker-argv.js';

export interface WiringExpect {
  /** OneCLI's gateway port and this group's OneCLI token (both seen in OneCLI's env). */
  onecliPort: number;
  onecliToken: string;
  /** The guardian's port as containers reach it. */
  guardianPort: number;
  guardianCaPem: string;
  onecliCaPem: string;
  /** PEMs of the public roots a replacing bundle must keep (e.g. tls.rootCertificates). */
  publicRoots: readonly string[];
  readFile: (hostPath: string) => string | null;
}

export interface WiringReport {
  problems: string[];
  notes: string[];
  guardianProxy: URL | null;
}

export const CA_VARS = ['SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS', 'DENO_CERT'] as const;
// Checked the same way when set (Python requests, curl, git).
export const OPTIONAL_CA_VARS = ['REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO'] as const;
// Variables that REPLACE a tool's default roots: the bundle must carry the public roots too.
const REPLACING = new Set(['SSL_CERT_FILE', 'DENO_CERT', ...OPTIONAL_CA_VARS]);

/** Certificate bodies (base64 without whitespace) of every PEM certificate in a text. */
export function certBodies(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g)) {
    out.add(m[1]!.replace(/\s+/g, ''));
  }
  return out;
}

function parseUrl(v: string | undefined): URL | null {
  if (!v) return null;
  try {
    return new URL(v);
  } catch {
    return null;
  }
}

export function checkWiring(run: RunArgs, x: WiringExpect): WiringReport {
  const problems: string[] = [];
  const notes: string[] = [];
  const env = effectiveEnv(run);

  // 1. OneCLI's env is there, and the guardian's proxy env comes after it (so it wins).
  const onecliAt = run.env.findIndex(
    (e) => e.key === 'HTTPS_PROXY' && e.value.includes(x.onecliToken) && e.value.includes(`:${x.onecliPort}`),
  );
  if (onecliAt < 0) problems.push("OneCLI's HTTPS_PROXY (with this group's OneCLI token) is not in the docker args");
  const guardianProxy = parseUrl(env.get('HTTPS_PROXY'));
  if (!guardianProxy || Number(guardianProxy.port) !== x.guardianPort) {
    problems.push(
      `effective HTTPS_PROXY is ${redactUrl(env.get('HTTPS_PROXY'))}, not the guardian on port ${x.guardianPort}`,
    );
  } else if (onecliAt >= 0 && lastEnvIndex(run, 'HTTPS_PROXY') <= onecliAt) {
    problems.push("the guardian's HTTPS_PROXY is not after OneCLI's");
  }
  if (guardianProxy && (!guardianProxy.username || !guardianProxy.password)) {
    problems.push('the guardian proxy URL carries no per-group credentials');
  }
  for (const [upper, lower] of [
    ['HTTPS_PROXY', 'https_proxy'],
    ['HTTP_PROXY', 'http_proxy'],
  ] as const) {
    const a = env.get(upper);
    const b = env.get(lower);
    if (a === undefined) problems.push(`${upper} is not set`);
    if (b !== undefined && a !== b) problems.push(`${lower} differs from ${upper} (tools disagree on the proxy)`);
  }
  if (env.get('HTTP_PROXY') !== env.get('HTTPS_PROXY')) {
    problems.push('HTTP_PROXY and HTTPS_PROXY point at different proxies');
  }

  // 2. CA variables: all set, readable through the mounts, covering guardian + OneCLI (+ public roots).
  const guardianCa = [...certBodies(x.guardianCaPem)][0];
  const onecliCa = [...certBodies(x.onecliCaPem)][0];
  const roots = [...x.publicRoots].map((p) => [...certBodies(p)][0]!).filter(Boolean);
  for (const v of [...CA_VARS, ...OPTIONAL_CA_VARS.filter((o) => env.has(o))]) {
    const inContainer = env.get(v);
    if (!inContainer) {
      problems.push(`${v} is not set`);
      continue;
    }
    const host = hostPathFor(run, inContainer);
    if (!host) {
      problems.push(`${v}=${inContainer}: no mount provides this file`);
      continue;
    }
    const text = x.readFile(host);
    if (text === null) {
      problems.push(`${v}=${inContainer}: host file ${host} is missing`);
      continue;
    }
    const bodies = certBodies(text);
    const missing: string[] = [];
    if (guardianCa && !bodies.has(guardianCa)) missing.push('the guardian CA');
    if (onecliCa && !bodies.has(onecliCa)) missing.push("OneCLI's CA");
    if (REPLACING.has(v)) {
      const kept = roots.filter((r) => bodies.has(r)).length;
      if (kept < roots.length / 2) missing.push(`public roots (${kept} of ${roots.length})`);
    }
    if (missing.length > 0) problems.push(`${v}=${inContainer} (${host}) lacks ${missing.join(', ')}`);
    else notes.push(`${v}=${inContainer}: ${bodies.size} certificates incl. guardian + OneCLI CA`);
  }

  // 3. The read-only mounts.
  for (const target of ['/opt/traffic-guardian', '/run/traffic-guardian']) {
    const m = mountFor(run, target);
    if (!m) problems.push(`no mount at ${target}`);
    else if (!m.readonly) problems.push(`${target} is mounted read-write`);
  }
  return { problems, notes, guardianProxy };
}

/** A proxy URL with its password hidden, for messages. */
export function redactUrl(v: string | undefined): string {
  const u = parseUrl(v);
  if (!u) return v === undefined ? '(unset)' : '(not a URL)';
  if (u.password) u.password = '***';
  return u.toString();
}
